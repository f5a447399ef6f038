package wire

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
)

var decimalRE = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,6})?$`)

// Decimal checks that s is a plain positive decimal ("1500", "1500.00")
// and returns it as a json.Number, so it is written as a JSON number with
// exactly these digits (never through float64).
func Decimal(s string) (json.Number, error) {
	s = strings.TrimSpace(s)
	if !decimalRE.MatchString(s) {
		return "", fmt.Errorf("amount %q is not a plain decimal such as 1500 or 1500.00", s)
	}
	if strings.Trim(strings.ReplaceAll(s, ".", ""), "0") == "" {
		return "", fmt.Errorf("amount %q is not positive", s)
	}
	return json.Number(s), nil
}

// Digits keeps the digits of a phone number ("+255 712-345-678" → "255712345678").
func Digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// MergeJSON marshals v (a struct), then sets every key of extra over it,
// and marshals the result: ProviderData is merged into a payload last.
// Numbers in v survive verbatim.
func MergeJSON(v any, extra map[string]any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return b, nil
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	maps.Copy(m, extra)
	return json.Marshal(m)
}
