package money

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, cur string
		want    string // canonical String, or "" when Parse must fail
		minor   int64
		errHas  string
	}{
		{"1000", "TZS", "1000.00", 100000, ""},
		{"1000.00", "TZS", "1000.00", 100000, ""},
		{"1000.5", "tzs", "1000.50", 100050, ""},
		{"0", "TZS", "0.00", 0, ""},
		{"0.01", "KES", "0.01", 1, ""},
		{"5000", "UGX", "5000", 5000, ""},
		{"999999999999999.99", "USD", "999999999999999.99", 99999999999999999, ""},
		{"5e3", "TZS", "", 0, "plain decimal"},
		{"5E3", "TZS", "", 0, "plain decimal"},
		{"abc", "TZS", "", 0, "plain decimal"},
		{"-1000", "TZS", "", 0, "plain decimal"},
		{"+1000", "TZS", "", 0, "plain decimal"},
		{" 1000", "TZS", "", 0, "plain decimal"},
		{"1000 ", "TZS", "", 0, "plain decimal"},
		{"1,000", "TZS", "", 0, "plain decimal"},
		{"1000.", "TZS", "", 0, "plain decimal"},
		{".5", "TZS", "", 0, "plain decimal"},
		{"1.2.3", "TZS", "", 0, "plain decimal"},
		{"0x10", "TZS", "", 0, "plain decimal"},
		{"١٠٠٠", "TZS", "", 0, "plain decimal"}, // Arabic-Indic digits
		{"", "TZS", "", 0, "empty"},
		{"01000", "TZS", "", 0, "leading zero"},
		{"1000.001", "TZS", "", 0, "at most 2 decimals"},
		{"1000.000", "TZS", "", 0, "at most 2 decimals"},
		{"1000.5", "UGX", "", 0, "whole numbers"},
		{strings.Repeat("9", 16), "TZS", "", 0, "more than 15 integer digits"},
		{strings.Repeat("1", 31), "TZS", "", 0, "more than 15 integer digits"},
		{"1000", "EUR", "", 0, "not supported"},
		{"1000", "", "", 0, "not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.cur+"/"+tc.in, func(t *testing.T) {
			a, err := Parse(tc.in, tc.cur)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Parse(%q, %q) = %s, want an error", tc.in, tc.cur, a)
				}
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("Parse(%q, %q) error = %v, want ErrInvalid mentioning %q", tc.in, tc.cur, err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tc.in, tc.cur, err)
			}
			if a.String() != tc.want || a.Minor() != tc.minor || a.Currency() != strings.ToUpper(tc.cur) || !a.Valid() {
				t.Fatalf("Parse(%q, %q) = %s (minor %d, %s), want %s (minor %d)", tc.in, tc.cur, a, a.Minor(), a.Currency(), tc.want, tc.minor)
			}
		})
	}
}

func TestParseErrorQuotesShortPrefix(t *testing.T) {
	_, err := Parse(strings.Repeat("7", 5000), "TZS")
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error for a 5000-digit amount = %v, want a short error", err)
	}
}

func TestEqualAndCmp(t *testing.T) {
	tests := []struct {
		a, acur, b, bcur string
		equal            bool
		cmp              int
		cmpErr           bool
	}{
		{"1000", "TZS", "1000.00", "TZS", true, 0, false},
		{"1000", "TZS", "1000.0", "tzs", true, 0, false},
		{"1000", "TZS", "1000.01", "TZS", false, -1, false},
		{"2", "TZS", "1.99", "TZS", false, 1, false},
		{"1000", "TZS", "1000", "KES", false, 0, true},
		{"1000", "UGX", "1000.00", "USD", false, 0, true},
	}
	for _, tc := range tests {
		a, b := MustParse(tc.a, tc.acur), MustParse(tc.b, tc.bcur)
		if got := a.Equal(b); got != tc.equal {
			t.Errorf("%s %s Equal %s %s = %v, want %v", a, a.Currency(), b, b.Currency(), got, tc.equal)
		}
		got, err := a.Cmp(b)
		if (err != nil) != tc.cmpErr || got != tc.cmp {
			t.Errorf("%s %s Cmp %s %s = %d, %v; want %d (error %v)", a, a.Currency(), b, b.Currency(), got, err, tc.cmp, tc.cmpErr)
		}
	}
}

func TestSame(t *testing.T) {
	tests := []struct {
		a, b, cur string
		want      bool
	}{
		{"1000", "1000.00", "TZS", true},
		{"5000", "5e3", "TZS", false},
		{"5000", "abc", "TZS", false},
		{"5000", "5000.001", "TZS", false},
		{"-1000", "-1000", "TZS", false},
		{"", "", "TZS", false},
		{"1000", "1000", "EUR", false},
	}
	for _, tc := range tests {
		if got := Same(tc.a, tc.b, tc.cur); got != tc.want {
			t.Errorf("Same(%q, %q, %q) = %v, want %v", tc.a, tc.b, tc.cur, got, tc.want)
		}
	}
}

func TestZeroAmount(t *testing.T) {
	var z Amount
	if z.Valid() || z.String() != "" || z.Currency() != "" || !z.IsZero() {
		t.Fatalf("zero Amount = valid %v, %q, %q", z.Valid(), z.String(), z.Currency())
	}
	if z.Equal(MustParse("0", "TZS")) {
		t.Fatal("the zero Amount equals 0 TZS")
	}
}

func TestDecimals(t *testing.T) {
	for _, c := range Currencies() {
		if _, ok := Decimals(c); !ok {
			t.Errorf("Currencies lists %s but Decimals does not know it", c)
		}
	}
	if d, ok := Decimals("UGX"); !ok || d != 0 {
		t.Errorf("Decimals(UGX) = %d, %v", d, ok)
	}
	if _, ok := Decimals("EUR"); ok {
		t.Error("Decimals(EUR) is supported")
	}
}

// FuzzParse: Parse never panics; what it accepts is plain decimal text
// whose canonical form parses back to the same money.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1000", "1000.00", "0", "5e3", "-1", "1.5", "١", "9999999999999999", "00.1", "1.", ".1", "1\x00"} {
		f.Add(s, "TZS")
		f.Add(s, "UGX")
	}
	f.Fuzz(func(t *testing.T, s, cur string) {
		a, err := Parse(s, cur)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q, %q) error %v does not wrap ErrInvalid", s, cur, err)
			}
			return
		}
		for i := 0; i < len(s); i++ {
			if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
				t.Fatalf("Parse(%q) accepted byte %q", s, s[i])
			}
		}
		if a.Minor() < 0 {
			t.Fatalf("Parse(%q) = negative %d", s, a.Minor())
		}
		b, err := Parse(a.String(), a.Currency())
		if err != nil || !b.Equal(a) || b.String() != a.String() {
			t.Fatalf("canonical %q of %q does not parse back: %v, %s", a.String(), s, err, b)
		}
	})
}
