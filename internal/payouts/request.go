package payouts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Request is the body of POST /v1/payouts. Unknown fields are rejected.
type Request struct {
	Provider    string              `json:"provider"`
	Reference   string              `json:"reference"`
	Amount      string              `json:"amount"`
	Currency    string              `json:"currency"`
	Destination *RequestDestination `json:"destination"`
	Description string              `json:"description,omitempty"`
}

// RequestDestination is where the money goes.
type RequestDestination struct {
	Type          string `json:"type"` // mobile_money | bank
	Phone         string `json:"phone,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	AccountName   string `json:"account_name,omitempty"`
	Bank          string `json:"bank,omitempty"`
}

const (
	maxIdempotencyKey = 255
	maxDescription    = 255
	maxAccountName    = 100
)

var (
	amountRE   = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,2})?$`)
	bankCodeRE = regexp.MustCompile(`^[A-Z0-9]{8}([A-Z0-9]{3})?$`)
)

// payoutCurrencies are the balances a provider kind pays out from.
func payoutCurrencies(kind string) []string {
	if providers.Kind(kind) == providers.ClickPesa {
		return []string{"TZS", "USD"}
	}
	return []string{"TZS"}
}

type fieldErrors []httpapi.FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, httpapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// limit is a list's limit query parameter (0 when absent), a field error
// when it is not a number from 1 to 1000.
func (f *fieldErrors) limit(q url.Values) int {
	l := q.Get("limit")
	if l == "" {
		return 0
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		f.add("limit", "must be a number from 1 to 1000")
	}
	return n
}

// validated is a request after validation and normalization.
type validated struct {
	Order
	Provider    string
	Kind        string
	Description string
	// PaymentID and RefundOf (the payment's amount) are set for a refund.
	PaymentID string
	RefundOf  string
	// limit is the rolling limit of the configuration the request was
	// validated against (not part of the hash: unexported).
	limit state.PayoutLimit
}

// hash identifies the normalized request, for Idempotency-Key reuse checks.
func (v validated) hash() string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// paysOut reports whether finconnectd pays out through p: ClickPesa, and
// AzamPay with its disbursement settings.
func paysOut(p *config.Provider) bool {
	switch providers.Kind(p.Kind) {
	case providers.ClickPesa:
		return true
	case providers.AzamPay:
		return p.AzamPay.CanDisburse()
	}
	return false
}

// payoutProviders lists the configured providers that can pay out.
func payoutProviders(cfg *config.Config) string {
	var ids []string
	for _, p := range cfg.Providers {
		if paysOut(p) {
			ids = append(ids, p.ID())
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// validate checks r against cfg and normalizes it. A non-nil problem is a
// 422 with field errors; nothing has been stored or sent.
func validate(cfg *config.Config, r Request) (validated, *httpapi.Problem) {
	var errs fieldErrors
	v := validated{Provider: strings.TrimSpace(r.Provider), Description: r.Description}
	v.Reference = strings.TrimSpace(r.Reference)
	var p *config.Provider
	switch {
	case v.Provider == "":
		errs.add("provider", "is required; providers that pay out: %s", payoutProviders(cfg))
	default:
		p = cfg.Provider(v.Provider)
		switch {
		case p == nil:
			errs.add("provider", "names no configured provider; providers that pay out: %s", payoutProviders(cfg))
		case providers.Kind(p.Kind) == providers.AzamPay && !paysOut(p):
			errs.add("provider", "%s has no disbursement settings (disbursement_key, disbursement_account in %s); providers that pay out: %s", v.Provider, p.Block(), payoutProviders(cfg))
			p = nil
		case !paysOut(p):
			errs.add("provider", "%s cannot pay out through finconnectd; providers that pay out: %s", v.Provider, payoutProviders(cfg))
			p = nil
		default:
			v.Kind = p.Kind
		}
	}
	switch {
	case v.Reference == "":
		errs.add("reference", "is required: your unique reference for this payout")
	case v.Kind == string(providers.ClickPesa) && (len(v.Reference) > clickpesa.MaxReferenceLen || !isAlnum(v.Reference)):
		errs.add("reference", "must be 1 to %d letters and digits for ClickPesa", clickpesa.MaxReferenceLen)
	case v.Kind == string(providers.AzamPay) && (len(v.Reference) > azampay.MaxDisbursementReference || !refReference(v.Reference)):
		errs.add("reference", "must be 1 to %d letters, digits, '-' or '_' for AzamPay", azampay.MaxDisbursementReference)
	}
	v.Amount = strings.TrimSpace(r.Amount)
	if amt, ok := new(big.Rat).SetString(v.Amount); !amountRE.MatchString(v.Amount) || !ok || amt.Sign() <= 0 {
		errs.add("amount", "must be a decimal string greater than 0 with at most 2 decimals, e.g. \"1000\"")
	}
	v.Currency = strings.ToUpper(strings.TrimSpace(r.Currency))
	switch {
	case v.Currency == "":
		errs.add("currency", "is required (TZS)")
	case p != nil && !contains(payoutCurrencies(p.Kind), v.Currency):
		errs.add("currency", "must be one of %s for %s", strings.Join(payoutCurrencies(p.Kind), ", "), v.Provider)
	}
	if len(r.Description) > maxDescription {
		errs.add("description", "must be at most %d characters", maxDescription)
	}
	d := r.Destination
	switch {
	case d == nil:
		errs.add("destination", "is required: {\"type\": \"mobile_money\", \"phone\": \"2557XXXXXXXX\"} or {\"type\": \"bank\", \"bank\": \"CORUTZTZ\", \"account_number\": \"…\", \"account_name\": \"…\"}")
	case d.Type == state.DestinationMobileMoney:
		v.Type = state.DestinationMobileMoney
		v.Phone = clickpesa.Phone(d.Phone)
		switch {
		case strings.TrimSpace(d.Phone) == "":
			errs.add("destination.phone", "is required for a mobile_money payout")
		case !clickpesa.IsMobileNumber(v.Phone):
			errs.add("destination.phone", "%q is not a Tanzanian mobile-money number (2556XXXXXXXX or 2557XXXXXXXX, or 06/07 followed by 8 digits)", d.Phone)
		case v.Kind == string(providers.AzamPay) && azampay.DisbursementWallet(v.Phone) == "":
			errs.add("destination.phone", "%s is not an Airtel or Tigo number: AzamPay disburses only to Airtel and Tigo wallets", v.Phone)
		}
		for field, val := range map[string]string{"account_number": d.AccountNumber, "account_name": d.AccountName, "bank": d.Bank} {
			if val != "" {
				errs.add("destination."+field, "is for bank payouts; a mobile_money payout takes only phone")
			}
		}
	case d.Type == state.DestinationBank && v.Kind == string(providers.AzamPay):
		errs.add("destination.type", "AzamPay pays out to mobile money only; use mobile_money, or a ClickPesa provider for banks")
	case d.Type == state.DestinationBank:
		v.Type = state.DestinationBank
		v.AccountNumber = strings.TrimSpace(d.AccountNumber)
		v.AccountName = strings.TrimSpace(d.AccountName)
		v.Bank = strings.ToUpper(strings.TrimSpace(d.Bank))
		switch {
		case v.Bank == "":
			errs.add("destination.bank", "is required for a bank payout: the bank's code (BIC, e.g. CORUTZTZ)")
		case !bankCodeRE.MatchString(v.Bank):
			errs.add("destination.bank", "%q is not a bank code: the bank's BIC, 8 or 11 letters and digits (e.g. CORUTZTZ)", d.Bank)
		}
		switch {
		case v.AccountNumber == "":
			errs.add("destination.account_number", "is required for a bank payout")
		case !clickpesa.IsAccountNumber(v.AccountNumber):
			errs.add("destination.account_number", "must be 6 to 20 digits")
		}
		switch {
		case v.AccountName == "":
			errs.add("destination.account_name", "is required for a bank payout: the account holder's name")
		case len(v.AccountName) > maxAccountName:
			errs.add("destination.account_name", "must be at most %d characters", maxAccountName)
		}
		if d.Phone != "" {
			errs.add("destination.phone", "is for mobile_money payouts; a bank payout takes bank, account_number and account_name")
		}
	default:
		errs.add("destination.type", "must be mobile_money or bank")
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		return v, httpapi.ValidationProblem(errs)
	}
	return v, nil
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validIdempotencyKey reports whether k is 1..255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
