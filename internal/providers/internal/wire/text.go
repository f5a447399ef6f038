package wire

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckID checks a provider identifier (a reference, an id, a status
// word, an amount, a phone number) taken from a notification: valid
// UTF-8 without control characters. Such text has no business in an
// identifier, and a NUL cannot be stored by every backend (PostgreSQL
// refuses it), so it is refused where it is read, the same on all.
func CheckID(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if strings.ContainsFunc(v, isControl) {
		return fmt.Errorf("%s contains control characters", field)
	}
	return nil
}

// CheckIDs is CheckID over field, value pairs; the first failure wins.
func CheckIDs(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := CheckID(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// CleanText makes free provider text (a status message) storable: invalid
// UTF-8 and NULs are dropped. Line breaks and tabs are kept.
func CleanText(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.ReplaceAll(s, "\x00", "")
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
