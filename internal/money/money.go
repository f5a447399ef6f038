// Package money is finconnectd's one decimal money type. Every amount that
// comes from outside (the pay API, a provider's answer or notification) is
// parsed here, strictly, and compared here; nothing converts money through
// float64.
//
// The accepted text is plain decimal: one or more digits, no leading zero
// (except "0" itself), optionally a dot and one or more fraction digits, at
// most as many as the currency allows (ISO 4217 minor units: two for TZS,
// KES, USD, MWK and ZMW; none for UGX and RWF). No sign, no exponent, no
// spaces, no thousands separators, at most MaxIntegerDigits integer digits.
// "5e3", "-1000", "1,000", " 1000", "1000.", ".5", "1000.001" (TZS) and a
// 31-digit number are all errors.
//
// The package imports nothing internal and must not: it is a leaf.
package money

import (
	"errors"
	"fmt"
	"strings"
)

// MaxIntegerDigits bounds the integer part of an amount: far beyond any
// mobile-money limit, and small enough that every amount is exact in an
// int64 of minor units.
const MaxIntegerDigits = 15

// maxInputLen bounds the text quoted back in errors.
const maxInputLen = 40

// ErrInvalid is wrapped by every parse error (errors.Is).
var ErrInvalid = errors.New("invalid amount")

// decimals is each supported currency's number of minor-unit digits
// (ISO 4217).
func decimals(currency string) (int, bool) {
	switch currency {
	case "KES", "TZS", "USD", "MWK", "ZMW":
		return 2, true
	case "UGX", "RWF":
		return 0, true
	}
	return 0, false
}

// Decimals reports how many fraction digits amounts in currency (ISO 4217
// code, upper case) may carry, and whether the currency is supported.
func Decimals(currency string) (int, bool) { return decimals(currency) }

// Currencies lists the supported currency codes, sorted.
func Currencies() []string { return []string{"KES", "MWK", "RWF", "TZS", "UGX", "USD", "ZMW"} }

// Amount is an exact, non-negative amount of money in one currency. The
// zero Amount has no currency and is not valid money (Valid reports false);
// it is what "no amount" looks like.
type Amount struct {
	minor    int64  // value in the currency's minor units
	currency string // ISO 4217, upper case; "" for the zero Amount
}

// Parse reads s as an amount of currency (case-insensitive ISO 4217 code).
// Errors wrap ErrInvalid and say what is wrong without echoing more than a
// short prefix of s.
func Parse(s, currency string) (Amount, error) {
	cur := strings.ToUpper(currency)
	dec, ok := decimals(cur)
	if !ok {
		return Amount{}, fmt.Errorf("%w: currency %s is not supported (supported: %s)", ErrInvalid, quote(currency), strings.Join(Currencies(), ", "))
	}
	if err := CheckText(s); err != nil {
		return Amount{}, err
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) > dec {
		if dec == 0 {
			return Amount{}, fmt.Errorf("%w: %s: %s amounts are whole numbers", ErrInvalid, quote(s), cur)
		}
		return Amount{}, fmt.Errorf("%w: %s: %s amounts have at most %d decimals", ErrInvalid, quote(s), cur, dec)
	}
	var v int64
	for _, c := range intPart + frac + strings.Repeat("0", dec-len(frac)) {
		v = v*10 + int64(c-'0') // at most 15+2 digits: no overflow
	}
	return Amount{minor: v, currency: cur}, nil
}

// CheckText checks that s has the form of an amount, whatever its
// currency: digits, no leading zero, at most MaxIntegerDigits of them,
// optionally a dot and one or more digits. Parse checks this and the
// currency's decimals. Errors wrap ErrInvalid.
func CheckText(s string) error {
	intPart, frac, hasDot := strings.Cut(s, ".")
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalid)
	case intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))):
		return fmt.Errorf("%w: %s is not a plain decimal such as 1500 or 1500.00 (digits, one optional dot, no sign, exponent or spaces)", ErrInvalid, quote(s))
	case len(intPart) > 1 && intPart[0] == '0':
		return fmt.Errorf("%w: %s has a leading zero", ErrInvalid, quote(s))
	case len(intPart) > MaxIntegerDigits:
		return fmt.Errorf("%w: %s has more than %d integer digits", ErrInvalid, quote(s), MaxIntegerDigits)
	}
	return nil
}

// MustParse is Parse for constants in tests and examples; it panics on an
// error.
func MustParse(s, currency string) Amount {
	a, err := Parse(s, currency)
	if err != nil {
		panic(err)
	}
	return a
}

// Valid reports whether a came from Parse (the zero Amount is not valid).
func (a Amount) Valid() bool { return a.currency != "" }

// Currency is a's ISO 4217 code, upper case ("" for the zero Amount).
func (a Amount) Currency() string { return a.currency }

// IsZero reports whether a is zero money (or the zero Amount).
func (a Amount) IsZero() bool { return a.minor == 0 }

// Minor is a in the currency's minor units (cents): "1500.50" TZS is 150050.
func (a Amount) Minor() int64 { return a.minor }

// String is a's canonical form: the integer part, then a dot and exactly
// the currency's number of decimals when it has any ("1500.00" TZS,
// "1500" UGX). Two amounts are equal exactly when their strings and
// currencies are. The zero Amount is "".
func (a Amount) String() string {
	if !a.Valid() {
		return ""
	}
	dec, _ := decimals(a.currency)
	s := fmt.Sprintf("%0*d", dec+1, a.minor)
	if dec == 0 {
		return s
	}
	return s[:len(s)-dec] + "." + s[len(s)-dec:]
}

// Equal reports whether a and b are the same money: same currency, same
// value ("1000" and "1000.00" TZS are equal).
func (a Amount) Equal(b Amount) bool { return a == b }

// Cmp compares a and b, which must be in the same currency: -1 when a < b,
// 0 when equal, +1 when a > b. Amounts in different currencies are not
// comparable: Cmp returns an error.
func (a Amount) Cmp(b Amount) (int, error) {
	if a.currency != b.currency {
		return 0, fmt.Errorf("compare %s %s with %s %s: different currencies", a, a.currency, b, b.currency)
	}
	switch {
	case a.minor < b.minor:
		return -1, nil
	case a.minor > b.minor:
		return 1, nil
	}
	return 0, nil
}

// Same reports whether the texts a and b are valid amounts of currency and
// the same money. Anything unparsable is never the same as anything.
func Same(a, b, currency string) bool {
	x, err1 := Parse(a, currency)
	y, err2 := Parse(b, currency)
	return err1 == nil && err2 == nil && x.Equal(y)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote quotes s for an error, cut to a short prefix.
func quote(s string) string {
	if len(s) > maxInputLen {
		return fmt.Sprintf("%q (%d bytes)", s[:maxInputLen]+"...", len(s))
	}
	return fmt.Sprintf("%q", s)
}
