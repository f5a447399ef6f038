package console

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var nineDigits = regexp.MustCompile(`\d{9,}`)

// FuzzExcerpt: whatever a provider sends, the page's excerpt of it is
// valid UTF-8 when the body was, bounded, and shows no phone-length run of
// digits.
func FuzzExcerpt(f *testing.F) {
	for _, s := range []string{`{"phone":"255712345678","checksum":"abc"}`, `OrderTrackingId=abc&signature=xyz`, "", "1234567890123456789012",
		`{"token":"` + string(make([]byte, 700)) + `"}`, "é255712345678é"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := excerpt(body)
		if len(got) > 600+len("…") {
			t.Fatalf("excerpt of %d bytes is %d bytes", len(body), len(got))
		}
		if nineDigits.MatchString(got) {
			t.Fatalf("excerpt shows a long number: %q", got)
		}
		if utf8.Valid(body) && len(body) <= 4096 && !utf8.ValidString(got) {
			t.Fatalf("excerpt of valid UTF-8 is not: %q", got)
		}
	})
}

// FuzzEvidence: whatever a provider's record holds, the page shows no
// phone-length run of digits and no value of a field named like a
// credential, and stays bounded.
func FuzzEvidence(f *testing.F) {
	for _, s := range []string{theirJSON, `{"msisdn":255712345678}`, `[1e400, "2557123456789"]`, `{"a":{"checksum":{"x":"secretvalue"}}}`,
		`{"255712345678":1}`, `not json`, `"` + strings.Repeat("9", 40000) + `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := evidence(raw)
		if len(got) > 16<<10+len("\n…") && json.Valid(raw) {
			t.Fatalf("evidence of %d bytes is %d bytes", len(raw), len(got))
		}
		if nineDigits.MatchString(got) {
			t.Fatalf("evidence shows a long number: %q", got)
		}
		if bytes.Contains(raw, []byte(`"checksum":"secretvalue"`)) && strings.Contains(got, "secretvalue") && json.Valid(raw) {
			t.Fatalf("evidence shows a checksum: %q", got)
		}
	})
}
