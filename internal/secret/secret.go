// Package secret holds values that must never be printed: credentials, API
// tokens, webhook secrets. A Value renders as "(sensitive value)" in every
// textual form (fmt, slog, JSON), so a secret cannot leak by accident through
// a log line, an error message or a saved plan. Only Reveal returns the text,
// and only code that sends it to a provider or computes a signature calls it.
//
// This package imports nothing internal and must not.
package secret

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what every textual form of a Value shows.
const Redacted = "(sensitive value)"

// Value is a string that is never printed. The zero Value is empty.
type Value struct {
	v string
}

// New wraps s.
func New(s string) Value { return Value{v: s} }

// Reveal returns the secret text. Call it only where the text leaves the
// process on purpose (a provider request, an HMAC key).
func (s Value) Reveal() string { return s.v }

// IsZero reports whether the value is empty.
func (s Value) IsZero() bool { return s.v == "" }

// Equal compares two secrets in constant time.
func (s Value) Equal(other string) bool {
	return subtle.ConstantTimeCompare([]byte(s.v), []byte(other)) == 1
}

// String implements fmt.Stringer.
func (s Value) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (s Value) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints Redacted.
func (s Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (s Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (s Value) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalText implements encoding.TextMarshaler.
func (s Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
