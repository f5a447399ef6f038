package rules

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// DefaultLimit is used when a filter or batch says 0.
const DefaultLimit = 100

// Limit returns n, or DefaultLimit when n is not positive.
func Limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return n
}

// NowIfZero returns t, or now() when t is the zero time.
func NowIfZero(t time.Time, now func() time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t
}

// NewLineage returns a random state lineage (32 hex characters).
func NewLineage() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Blob is a byte slice as a query argument: nil is NULL, so it reads back
// as nil.
func Blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// NullIfEmpty is a string as a query argument: "" is NULL (which unique
// constraints never match).
func NullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
