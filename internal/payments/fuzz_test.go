package payments

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
)

func fuzzConfig() *config.Config {
	return &config.Config{
		Providers: []*config.Provider{
			{Kind: "pesapal", Name: "ke", PesaPal: &config.PesaPalConfig{}},
			{Kind: "clickpesa", Name: "tz", ClickPesa: &config.ClickPesaConfig{}},
			{Kind: "azampay", Name: "tz", AzamPay: &config.AzamPayConfig{}},
		},
		IPNs:   []*config.IPN{{Name: "orders", Provider: "pesapal.ke"}},
		Server: config.ServerConfig{PublicURL: "https://pay.example.com"},
	}
}

// FuzzDecodeValidate feeds request bodies through the pay API's decoder and
// validator: no panic, and what passes is normalized and stable.
func FuzzDecodeValidate(f *testing.F) {
	for _, s := range []string{
		`{"provider":"pesapal.ke","reference":"ORDER-001","amount":"1500.00","currency":"KES","phone":"254712345678","description":"Order ORDER-001","customer":{"email":"jane@example.com","first_name":"Jane","last_name":"Doe"},"ipn":"orders","callback_url":"https://shop.example.com/thanks","provider_data":{}}`,
		`{"provider":"clickpesa.tz","reference":"DEMO1","amount":"1000","currency":"TZS","phone":"255712345670"}`,
		`{"provider":"azampay.tz","reference":"A/1","amount":"1000.5","currency":"tzs","phone":"+255 787 000 000","mno":"airtel"}`,
		`{"provider":"azampay.tz","reference":"A1","amount":"1","currency":"TZS","phone":"0612345678","provider_data":{"provider":"Halopesa","additionalProperties":{"x":1.5e3}}}`,
		`{"provider":"pesapal.ke","reference":"R","amount":"0.00","currency":"UGX","phone":"0712345678"}`,
		`{"provider":"clickpesa.tz","reference":"R1","amount":"007","currency":"TZS","phone":"255712345670","extra":true}`,
		`{"provider":"pesapal.ke","reference":"R1","amount":"1","currency":"KES","customer":{"email":"a@b"},"callback_url":"ftp://x"}`,
		`{"amount":1000}`, `[]`, `null`, `{}`, `{"provider":"\u0000"}`, ``,
	} {
		f.Add([]byte(s))
	}
	cfg := fuzzConfig()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/payments", bytes.NewReader(body))
		w := httptest.NewRecorder()
		var req Request
		if err := httpapi.DecodeJSON(w, r, &req); err != nil {
			return
		}
		v, prob := validate(cfg, req)
		if prob != nil {
			if prob.Status != http.StatusUnprocessableEntity || len(prob.Errors) == 0 {
				t.Fatalf("validation problem without field errors: %+v", prob)
			}
			return
		}
		if !allDigits(v.Phone) || (v.Phone != "" && (len(v.Phone) < 10 || len(v.Phone) > 15)) {
			t.Fatalf("phone not normalized: %q", v.Phone)
		}
		if msg := checkAmount(v.Amount, v.Currency, true); msg != "" {
			t.Fatalf("accepted amount %q %s: %s", v.Amount, v.Currency, msg)
		}
		if v.kind != string(providers.PesaPal) && v.Currency != "TZS" {
			t.Fatalf("%s accepted %s", v.kind, v.Currency)
		}
		// Normalization is a fixed point: validating the normalized request
		// again changes nothing, so its idempotency hash is stable.
		v2, prob := validate(cfg, v.Request)
		if prob != nil {
			t.Fatalf("normalized request no longer valid: %+v", prob)
		}
		if v2.hash() != v.hash() {
			t.Fatalf("hash not stable:\n%+v\n%+v", v.Request, v2.Request)
		}
	})
}

func TestValidateTable(t *testing.T) {
	t.Parallel()
	cfg := fuzzConfig()
	base := func(p string) Request {
		switch p {
		case "pesapal.ke":
			return Request{Provider: p, Reference: "ORDER-1", Amount: "1500.00", Currency: "KES", Phone: "254712345678"}
		}
		return Request{Provider: p, Reference: "ORDER1", Amount: "1000", Currency: "TZS", Phone: "255712345678"}
	}
	cases := []struct {
		name   string
		mod    func(r *Request)
		p      string
		fields string // comma-joined field names, "" = valid
		check  func(t *testing.T, v validated)
	}{
		{"pesapal ok, ipn and callback defaulted", func(r *Request) {}, "pesapal.ke", "", func(t *testing.T, v validated) {
			if v.IPN != "orders" || v.CallbackURL != "https://pay.example.com/" {
				t.Errorf("ipn %q callback %q", v.IPN, v.CallbackURL)
			}
		}},
		{"local phone gets country code", func(r *Request) { r.Phone = "0712 345 678" }, "pesapal.ke", "", func(t *testing.T, v validated) {
			if v.Phone != "254712345678" {
				t.Errorf("phone %q", v.Phone)
			}
		}},
		{"pesapal email instead of phone", func(r *Request) { r.Phone = ""; r.Customer = &Customer{Email: "a@b.example"} }, "pesapal.ke", "", nil},
		{"pesapal neither phone nor email", func(r *Request) { r.Phone = "" }, "pesapal.ke", "phone", nil},
		{"pesapal reference charset", func(r *Request) { r.Reference = "A B" }, "pesapal.ke", "reference", nil},
		{"pesapal reference 51", func(r *Request) { r.Reference = string(bytes.Repeat([]byte("a"), 51)) }, "pesapal.ke", "reference", nil},
		{"UGX no decimals", func(r *Request) { r.Currency = "UGX"; r.Amount = "100.5" }, "pesapal.ke", "amount", nil},
		{"zero", func(r *Request) { r.Amount = "0.00" }, "pesapal.ke", "amount", nil},
		{"exponent", func(r *Request) { r.Amount = "1e3" }, "pesapal.ke", "amount", nil},
		{"unknown currency", func(r *Request) { r.Currency = "EUR" }, "pesapal.ke", "currency", nil},
		{"clickpesa KES", func(r *Request) { r.Currency = "KES" }, "clickpesa.tz", "currency", nil},
		{"clickpesa reference alnum", func(r *Request) { r.Reference = "A-1" }, "clickpesa.tz", "reference", nil},
		{"clickpesa kenyan phone", func(r *Request) { r.Phone = "254712345678" }, "clickpesa.tz", "phone", nil},
		{"clickpesa ipn", func(r *Request) { r.IPN = "orders" }, "clickpesa.tz", "ipn", nil},
		{"azampay infers Tigo", func(r *Request) {}, "azampay.tz", "", func(t *testing.T, v validated) {
			if v.MNO != "Tigo" {
				t.Errorf("mno %q", v.MNO)
			}
		}},
		{"azampay infers Airtel", func(r *Request) { r.Phone = "255687000000" }, "azampay.tz", "", func(t *testing.T, v validated) {
			if v.MNO != "Airtel" {
				t.Errorf("mno %q", v.MNO)
			}
		}},
		{"azampay infers Halopesa for 061 (the client's table)", func(r *Request) { r.Phone = "0611234567" }, "azampay.tz", "", func(t *testing.T, v validated) {
			if v.MNO != "Halopesa" || v.MNO != azampay.InferMNO(v.Phone) {
				t.Errorf("mno %q, the AzamPay client infers %q", v.MNO, azampay.InferMNO(v.Phone))
			}
		}},
		{"azampay mno from provider_data", func(r *Request) { r.ProviderData = map[string]any{"provider": "mpesa"} }, "azampay.tz", "", func(t *testing.T, v validated) {
			if v.MNO != "Mpesa" {
				t.Errorf("mno %q", v.MNO)
			}
		}},
		{"azampay bad mno", func(r *Request) { r.MNO = "Vodafone" }, "azampay.tz", "mno", nil},
		{"azampay unknown prefix", func(r *Request) { r.Phone = "255730000000" }, "azampay.tz", "mno", nil},
		{"azampay reference 128 ascii", func(r *Request) { r.Reference = string(bytes.Repeat([]byte("/"), 128)) }, "azampay.tz", "", nil},
		{"azampay reference non-ascii", func(r *Request) { r.Reference = "réf" }, "azampay.tz", "reference", nil},
		{"unknown provider", func(r *Request) { r.Provider = "x.y" }, "clickpesa.tz", "provider", nil},
		{"bad email", func(r *Request) { r.Customer = &Customer{Email: "nope"} }, "clickpesa.tz", "customer.email", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base(c.p)
			c.mod(&r)
			v, prob := validate(cfg, r)
			var got []string
			if prob != nil {
				for _, e := range prob.Errors {
					got = append(got, e.Field)
				}
			}
			if joined := join(got); joined != c.fields {
				t.Fatalf("fields %q, want %q (%+v)", joined, c.fields, prob)
			}
			if c.check != nil && prob == nil {
				c.check(t, v)
			}
		})
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
