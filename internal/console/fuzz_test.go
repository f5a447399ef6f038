package console

import (
	"regexp"
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
