package payments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/money"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
)

// Request is the body of POST /v1/payments (docs/pay-api.md). Unknown fields, at the
// top level and in customer, are rejected by the decoder.
type Request struct {
	Provider    string    `json:"provider"`
	Reference   string    `json:"reference"`
	Amount      string    `json:"amount"`
	Currency    string    `json:"currency"`
	Phone       string    `json:"phone"`
	Description string    `json:"description,omitempty"`
	Customer    *Customer `json:"customer,omitempty"`
	IPN         string    `json:"ipn,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
	// MNO is AzamPay's network (Airtel, Tigo, Halopesa, Azampesa, Mpesa);
	// empty means provider_data.provider, else inferred from the phone.
	MNO          string         `json:"mno,omitempty"`
	ProviderData map[string]any `json:"provider_data,omitempty"`
}

// Customer is the optional payer detail (PesaPal billing_address).
type Customer struct {
	Email     string `json:"email,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// Limits of the API itself (providers may be stricter; see refRule).
const (
	maxIdempotencyKey = 255
	maxDescription    = 100 // PesaPal's limit, applied to every provider
	maxNameLen        = 100
	maxEmailLen       = 254
	maxURLLen         = 2048
	maxProviderData   = 64 // top-level keys
)

// providerCurrencies is what each provider kind accepts (docs/providers/*.md):
// ClickPesa USSD push and AzamPay MNO checkout are TZS only.
func providerCurrencies(kind string) []string {
	switch providers.Kind(kind) {
	case providers.ClickPesa, providers.AzamPay:
		return []string{"TZS"}
	default:
		return []string{"KES", "MWK", "RWF", "TZS", "UGX", "USD", "ZMW"}
	}
}

// countryCodes turns a local phone (07...) into country-code form by currency.
var countryCodes = map[string]string{
	"KES": "254", "TZS": "255", "UGX": "256", "RWF": "250", "MWK": "265", "ZMW": "260",
}

// validated is a request after validation and normalization: what is
// stored, hashed for idempotency and sent to the provider.
type validated struct {
	Request
	kind string // provider kind
}

// fieldErrors collects field errors in order.
type fieldErrors []httpapi.FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, httpapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// validate checks r against cfg and normalizes it (currency upper case,
// phone to country-code digits, MNO resolved). A non-nil problem is a 422
// with field errors.
func validate(cfg *config.Config, r Request) (validated, *httpapi.Problem) {
	var errs fieldErrors
	v := validated{Request: r}
	v.Provider = strings.TrimSpace(r.Provider)
	var p *config.Provider
	switch {
	case v.Provider == "":
		errs.add("provider", "is required (a provider ID such as %q)", exampleProvider(cfg))
	default:
		if cfg != nil {
			p = cfg.Provider(v.Provider)
		}
		if p == nil {
			errs.add("provider", "names no configured provider; configured: %s", providerList(cfg))
		}
	}
	if p != nil {
		v.kind = p.Kind
	}

	// currency before amount: the decimals depend on it.
	v.Currency = strings.ToUpper(strings.TrimSpace(r.Currency))
	currencyOK := false
	switch {
	case v.Currency == "":
		errs.add("currency", "is required (ISO 4217, e.g. TZS)")
	case !knownCurrency(v.Currency):
		errs.add("currency", "%q is not supported; supported: %s", r.Currency, strings.Join(providerCurrencies(""), ", "))
	case p != nil && !contains(providerCurrencies(p.Kind), v.Currency):
		errs.add("currency", "%s does not accept %s; it accepts %s", p.Kind, v.Currency, strings.Join(providerCurrencies(p.Kind), ", "))
	default:
		currencyOK = true
	}

	if msg := checkAmount(r.Amount, v.Currency, currencyOK); msg != "" {
		errs.add("amount", "%s", msg)
	}

	if p != nil {
		if msg := checkReference(p.Kind, r.Reference); msg != "" {
			errs.add("reference", "%s", msg)
		}
	} else if r.Reference == "" {
		errs.add("reference", "is required")
	}

	if r.Phone != "" || p == nil || p.Kind != string(providers.PesaPal) {
		phone, msg := normalizePhone(r.Phone, v.Currency)
		if msg == "" && p != nil && p.Kind != string(providers.PesaPal) && !strings.HasPrefix(phone, "255") {
			msg = p.Kind + " takes Tanzanian numbers only (255...)"
		}
		if msg == "" && p != nil && p.Kind != string(providers.PesaPal) && len(phone) != 12 {
			msg = "a Tanzanian number has 12 digits with the country code (2557XXXXXXXX)"
		}
		if msg != "" {
			errs.add("phone", "%s", msg)
		}
		v.Phone = phone
	}

	if len([]rune(r.Description)) > maxDescription {
		errs.add("description", "is longer than %d characters", maxDescription)
	}
	if hasControl(r.Description) {
		errs.add("description", "must not contain control characters")
	}

	if c := r.Customer; c != nil {
		cc := *c
		cc.Email = strings.TrimSpace(cc.Email)
		if cc.Email != "" && (len(cc.Email) > maxEmailLen || !strings.Contains(cc.Email, "@") || hasControl(cc.Email) || strings.ContainsAny(cc.Email, " ,;<>")) {
			errs.add("customer.email", "is not an email address")
		}
		for field, val := range map[string]string{"customer.first_name": cc.FirstName, "customer.last_name": cc.LastName} {
			if len([]rune(val)) > maxNameLen || hasControl(val) {
				errs.add(field, "must be at most %d characters without control characters", maxNameLen)
			}
		}
		if cc == (Customer{}) {
			v.Customer = nil
		} else {
			v.Customer = &cc
		}
	}
	if p != nil && p.Kind == string(providers.PesaPal) && v.Phone == "" && (v.Customer == nil || v.Customer.Email == "") {
		errs.add("phone", "is required for pesapal unless customer.email is given")
	}

	if r.CallbackURL != "" {
		if msg := checkURL(r.CallbackURL); msg != "" {
			errs.add("callback_url", "%s", msg)
		}
	}
	if p != nil && p.Kind != string(providers.PesaPal) {
		if r.IPN != "" {
			errs.add("ipn", "applies to pesapal providers only")
		}
		if r.CallbackURL != "" {
			errs.add("callback_url", "applies to pesapal providers only")
		}
	}
	if p != nil && p.Kind == string(providers.PesaPal) {
		name, msg := pickIPN(cfg, p.ID(), r.IPN)
		if msg != "" {
			errs.add("ipn", "%s", msg)
		}
		v.IPN = name
		if v.CallbackURL == "" {
			if cfg.Server.PublicURL == "" {
				errs.add("callback_url", "is required for pesapal (where the customer's browser returns) when server.public_url is not set")
			} else {
				v.CallbackURL = strings.TrimRight(cfg.Server.PublicURL, "/") + "/"
			}
		}
	}

	v.MNO = strings.TrimSpace(r.MNO)
	if p != nil && p.Kind == string(providers.AzamPay) {
		mno := v.MNO
		if mno == "" {
			if s, ok := r.ProviderData["provider"].(string); ok {
				mno = s
			}
		}
		if mno != "" {
			canon := azampay.NormalizeMNO(mno)
			ok := canon != ""
			if !ok {
				errs.add("mno", "%q is not an AzamPay provider; one of Airtel, Tigo, Halopesa, Azampesa, Mpesa", mno)
			}
			v.MNO = canon
			if _, set := r.ProviderData["provider"]; set && ok {
				// provider_data is merged last: keep it spelled as AzamPay wants.
				pd := make(map[string]any, len(r.ProviderData))
				for k, x := range r.ProviderData {
					pd[k] = x
				}
				pd["provider"] = canon
				v.ProviderData = pd
			}
		} else if len(v.Phone) == 12 {
			if canon := azampay.InferMNO(v.Phone); canon != "" {
				v.MNO = canon
			} else {
				errs.add("mno", "cannot be inferred from phone prefix 0%s; give mno (Airtel, Tigo, Halopesa, Azampesa, Mpesa)", v.Phone[3:5])
			}
		}
	} else if v.MNO != "" && p != nil {
		errs.add("mno", "applies to azampay providers only")
	}

	if len(r.ProviderData) > maxProviderData {
		errs.add("provider_data", "has more than %d keys", maxProviderData)
	}

	if len(errs) > 0 {
		sortErrors(errs)
		return validated{}, httpapi.ValidationProblem(errs)
	}
	if len(v.ProviderData) == 0 {
		v.ProviderData = nil
	}
	return v, nil
}

// hash is the idempotency fingerprint of the normalized request: the same
// payment written with other spacing, key order or "kes" for "KES" hashes
// the same.
func (v validated) hash() string {
	b, err := json.Marshal(v.Request)
	if err != nil {
		// provider_data came from JSON, so it always marshals; be safe anyway.
		b = []byte(fmt.Sprintf("%#v", v.Request))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// providerRequest maps v to the providers contract.
func (v validated) providerRequest(notificationID string) providers.PaymentRequest {
	pr := providers.PaymentRequest{
		Reference:      v.Reference,
		Amount:         v.Amount,
		Currency:       v.Currency,
		Phone:          v.Phone,
		Description:    v.Description,
		CallbackURL:    v.CallbackURL,
		NotificationID: notificationID,
		MNO:            v.MNO,
		ProviderData:   v.ProviderData,
	}
	if pr.Description == "" {
		pr.Description = "Payment " + v.Reference
	}
	if c := v.Customer; c != nil {
		pr.Email, pr.FirstName, pr.LastName = c.Email, c.FirstName, c.LastName
	}
	return pr
}

// checkAmount checks a as an amount of currency with money.Parse (only its
// form, with money.CheckText, when the currency is not acceptable: that
// has its own error). It must also be positive.
func checkAmount(a, currency string, currencyOK bool) string {
	if a == "" {
		return `is required, as a decimal string such as "1500.00"`
	}
	var (
		m   money.Amount
		err error
	)
	if currencyOK {
		m, err = money.Parse(a, currency)
	} else {
		err = money.CheckText(a)
	}
	if err != nil {
		return strings.TrimPrefix(err.Error(), money.ErrInvalid.Error()+": ")
	}
	if currencyOK && m.IsZero() || !currencyOK && strings.Trim(a, "0.") == "" {
		return "must be greater than zero"
	}
	return ""
}

// checkReference applies each provider's merchant reference rule
// (docs/providers/*.md).
func checkReference(kind, ref string) string {
	if ref == "" {
		return "is required"
	}
	switch providers.Kind(kind) {
	case providers.PesaPal:
		if len(ref) > 50 {
			return "is longer than 50 characters (PesaPal's limit)"
		}
		for _, c := range ref {
			if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != ':' {
				return "may contain only letters, digits and - _ . : for pesapal"
			}
		}
	case providers.ClickPesa:
		if len(ref) > clickpesa.MaxReferenceLen {
			return fmt.Sprintf("is longer than %d characters (ClickPesa documents no limit; finconnectd keeps it short)", clickpesa.MaxReferenceLen)
		}
		for _, c := range ref {
			if !isAlnum(c) {
				return "may contain only letters and digits for clickpesa"
			}
		}
	case providers.AzamPay:
		if len(ref) > 128 {
			return "is longer than 128 characters (AzamPay's limit)"
		}
		for _, c := range ref {
			if c < 0x21 || c > 0x7e {
				return "may contain only printable ASCII without spaces for azampay"
			}
		}
	}
	return ""
}

// normalizePhone accepts "+255 712-345-678", "255712345678" or a local
// "0712345678" (country code taken from the currency) and returns digits
// with the country code.
func normalizePhone(phone, currency string) (string, string) {
	if phone == "" {
		return "", "is required (digits with country code, e.g. 255712345678)"
	}
	var b strings.Builder
	for i, c := range phone {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && i == 0:
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.':
		default:
			return "", "must be digits with country code, e.g. 255712345678"
		}
	}
	d := b.String()
	if strings.HasPrefix(d, "00") {
		d = d[2:]
	} else if strings.HasPrefix(d, "0") {
		cc, ok := countryCodes[currency]
		if !ok {
			return "", "must include the country code, e.g. 255712345678"
		}
		d = cc + d[1:]
	}
	if len(d) < 10 || len(d) > 15 {
		return "", "must be 10 to 15 digits with country code, e.g. 255712345678"
	}
	return d, ""
}

// pickIPN chooses the ipn for a PesaPal payment: the named one (which must
// belong to the provider) or the provider's only one.
func pickIPN(cfg *config.Config, providerID, name string) (string, string) {
	var mine []string
	for _, i := range cfg.IPNs {
		if i.Provider == providerID {
			mine = append(mine, i.Name)
		}
	}
	if name != "" {
		if !contains(mine, name) {
			if len(mine) == 0 {
				return "", fmt.Sprintf("names no ipn of %s; it has none (add an ipn block and run apply)", providerID)
			}
			return "", fmt.Sprintf("names no ipn of %s; its ipns: %s", providerID, strings.Join(mine, ", "))
		}
		return name, ""
	}
	switch len(mine) {
	case 0:
		return "", fmt.Sprintf("is required: %s has no ipn block (add one and run apply)", providerID)
	case 1:
		return mine[0], ""
	}
	return "", fmt.Sprintf("is required: %s has several ipns (%s)", providerID, strings.Join(mine, ", "))
}

func checkURL(s string) string {
	if len(s) > maxURLLen {
		return fmt.Sprintf("is longer than %d characters", maxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

func exampleProvider(cfg *config.Config) string {
	if cfg != nil && len(cfg.Providers) > 0 {
		return cfg.Providers[0].ID()
	}
	return "pesapal.ke"
}

func providerList(cfg *config.Config) string {
	if cfg == nil || len(cfg.Providers) == 0 {
		return "(none)"
	}
	ids := make([]string, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		ids = append(ids, p.ID())
	}
	return strings.Join(ids, ", ")
}

func sortErrors(errs fieldErrors) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func knownCurrency(c string) bool {
	_, ok := money.Decimals(c)
	return ok
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func hasControl(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
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
