package clickpesa

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Checksum methods (docs/providers/clickpesa.md#checksum).
const (
	MethodCanonical = "canonical"
	MethodLegacy    = "legacy"
)

// ErrChecksumMismatch is returned by VerifyChecksum when the body's checksum
// does not match the one computed with the key.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// ErrChecksumMissing is returned by VerifyChecksum when the body carries no checksum.
var ErrChecksumMissing = errors.New("checksum missing")

// Checksum computes ClickPesa's payload checksum: HMAC-SHA256 keyed with the
// checksum key, lower-case hex, over the JSON payload without its top-level
// "checksum" and "checksumMethod" fields.
//
// method "canonical" (also "") hashes the payload with object keys sorted at
// every level, serialized compactly exactly as JavaScript's JSON.stringify
// would: "<", ">", "&", U+2028 and U+2029 are not escaped, non-ASCII is
// written as UTF-8, control characters as \uXXXX (lower-case hex) or their
// short forms. Numbers are re-emitted verbatim as received (the payload was
// produced by JSON.stringify, so it is already in JS's normal form).
//
// method "legacy" hashes the top-level values, in key order, concatenated with
// no separator: strings as-is, numbers verbatim, true/false/null as words,
// nested objects and arrays in their canonical JSON form.
func Checksum(method string, key []byte, payload []byte) (string, error) {
	msg, err := checksumMessage(method, payload)
	if err != nil {
		return "", err
	}
	return sign(key, msg), nil
}

// sign is the lower-case hex HMAC-SHA256 of msg keyed with key.
func sign(key, msg []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return hex.EncodeToString(mac.Sum(nil))
}

// checksumMessage returns the exact bytes that are HMACed.
func checksumMessage(method string, payload []byte) ([]byte, error) {
	v, err := decodeJSON(payload)
	if err != nil {
		return nil, fmt.Errorf("checksum: decode payload: %w", err)
	}
	return messageOf(method, v)
}

// messageOf is checksumMessage of a decoded payload v (whose top-level
// checksum fields it deletes).
func messageOf(method string, v any) ([]byte, error) {
	if obj, ok := v.(map[string]any); ok {
		delete(obj, "checksum")
		delete(obj, "checksumMethod")
	}
	var buf bytes.Buffer
	switch method {
	case "", MethodCanonical:
		writeCanonical(&buf, v)
	case MethodLegacy:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("checksum: legacy method needs a JSON object")
		}
		for _, k := range sortedKeys(obj) {
			switch x := obj[k].(type) {
			case string:
				buf.WriteString(x)
			case json.Number:
				buf.WriteString(x.String())
			case bool:
				if x {
					buf.WriteString("true")
				} else {
					buf.WriteString("false")
				}
			case nil:
				buf.WriteString("null")
			default:
				writeCanonical(&buf, x)
			}
		}
	default:
		return nil, fmt.Errorf("checksum: unknown method %q (want canonical or legacy)", method)
	}
	return buf.Bytes(), nil
}

// decodeJSON decodes exactly one JSON value, keeping numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// JS sorts by UTF-16 code units; for keys in the BMP (all realistic keys)
	// that equals Go's byte-wise order of UTF-8 except around surrogates,
	// which JSON keys in practice never contain.
	sort.Strings(keys)
	return keys
}

// writeCanonical writes v as compact JSON with sorted keys, JS style.
func writeCanonical(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		buf.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSString(buf, k)
			buf.WriteByte(':')
			writeCanonical(buf, x[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonical(buf, e)
		}
		buf.WriteByte(']')
	case string:
		writeJSString(buf, x)
	case json.Number:
		buf.WriteString(x.String())
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case nil:
		buf.WriteString("null")
	default:
		// Not produced by decodeJSON; keep the encoder honest anyway.
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

// writeJSString quotes s the way JSON.stringify does.
func writeJSString(buf *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				buf.WriteString(`\"`)
			case '\\':
				buf.WriteString(`\\`)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				if c < 0x20 {
					buf.WriteString(`\u00`)
					buf.WriteByte(hexDigits[c>>4])
					buf.WriteByte(hexDigits[c&0xf])
				} else {
					buf.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString("\ufffd")
		} else {
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}

// VerifyChecksum checks a received body (a webhook, or a request in the
// emulator) against its own top-level "checksum" field, using the method its
// "checksumMethod" field names (default canonical). The comparison is
// constant time. It never returns the expected checksum in its error.
func VerifyChecksum(body []byte, key []byte) error {
	// One decode serves both the checksum fields and the message: the
	// fields are the top-level "checksum" and "checksumMethod", spelt
	// exactly so, the same keys the message leaves out.
	v, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("verify checksum: decode body: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errors.New("verify checksum: decode body: not a JSON object")
	}
	got, err := stringField(obj, "checksum")
	if err != nil {
		return fmt.Errorf("verify checksum: %w", err)
	}
	if got == "" {
		return fmt.Errorf("verify checksum: %w", ErrChecksumMissing)
	}
	method, err := stringField(obj, "checksumMethod")
	if err != nil {
		return fmt.Errorf("verify checksum: %w", err)
	}
	if method == "" {
		method = MethodCanonical
	}
	method = strings.ToLower(method)
	msg, err := messageOf(method, v)
	if err != nil {
		return fmt.Errorf("verify checksum: %w", err)
	}
	if !hmac.Equal([]byte(sign(key, msg)), []byte(strings.ToLower(got))) {
		return fmt.Errorf("verify checksum (%s): %w", method, ErrChecksumMismatch)
	}
	return nil
}

// stringField is obj[name] when it is a string, "" when it is absent or
// null, and an error naming it otherwise.
func stringField(obj map[string]any, name string) (string, error) {
	switch x := obj[name].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	default:
		return "", fmt.Errorf("%s is not a string", name)
	}
}
