package azampay

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// Example bodies in the shapes AzamPay documents (docs/providers/azampay.md).
const (
	tokenOK    = `{"data":{"accessToken":"eyJhbGciOi...","expire":"2099-06-01T11:00:00Z"},"message":"Token generated successfully","success":true,"statusCode":200}`
	token423   = `{"data":null,"message":"Provided detail is not valid for this app or secret key has been expired","success":false,"statusCode":423}`
	checkoutOK = `{"success":true,"transactionId":"b85e971981844a6f8888b42579655b8f","message":"Your request has been received and is being processed."}`
	problem    = `{"type":"t","title":"One or more validation errors occurred.","status":400,"traceId":"x","errors":{"Amount":["bad amount"],"Provider":["bad provider"]}}`
)

type rec struct {
	path, query, body string
	header            http.Header
}

type fake struct {
	mu      sync.Mutex
	answers map[string][][2]string // path -> queue of {status, body}
	reqs    []rec
	srv     *httptest.Server
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{answers: map[string][][2]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, rec{r.URL.Path, r.URL.RawQuery, string(b), r.Header.Clone()})
		q := f.answers[r.URL.Path]
		a := [2]string{"404", `{"message":"nope"}`}
		if len(q) > 0 {
			a = q[0]
			if len(q) > 1 {
				f.answers[r.URL.Path] = q[1:]
			}
		}
		f.mu.Unlock()
		var st int
		_, _ = io.WriteString(io.Discard, "")
		for _, ch := range a[0] {
			st = st*10 + int(ch-'0')
		}
		w.WriteHeader(st)
		io.WriteString(w, a[1])
	}))
	t.Cleanup(f.srv.Close)
	f.on("/auth/AppRegistration/GenerateToken", "200", tokenOK)
	return f
}

func (f *fake) on(path, status, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[path] = append(f.answers[path], [2]string{status, body})
}

func (f *fake) requests(path string) []rec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rec
	for _, r := range f.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func newClient(t *testing.T, f *fake, mut ...func(*Options)) *Client {
	t.Helper()
	o := Options{
		AuthURL: f.srv.URL + "/auth", BaseURL: f.srv.URL + "/co", AppName: "shop",
		ClientID: secret.New("canary-id"), ClientSecret: secret.New("canary-secret"), APIKey: secret.New("canary-apikey"),
		Block: `provider "azampay" "tz"`, Timeout: 5 * time.Second, RetryBackoff: time.Millisecond,
	}
	for _, m := range mut {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInferMNO(t *testing.T) {
	tests := map[string]string{
		"0741234567": MNOMpesa, "255751234567": MNOMpesa, "+255 76 123 4567": MNOMpesa,
		"0651234567": MNOTigo, "0671234567": MNOTigo, "0712345678": MNOTigo, "0771234567": MNOTigo,
		"0681234567": MNOAirtel, "0691234567": MNOAirtel, "0781234567": MNOAirtel,
		"0621234567": MNOHalopesa, "0611234567": MNOHalopesa, "255611234567": MNOHalopesa, "0791234567": MNOMpesa,
		"0731234567": "", "12345": "", "254712345678": "",
	}
	for in, want := range tests {
		if got := InferMNO(in); got != want {
			t.Errorf("InferMNO(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckoutWire(t *testing.T) {
	tests := []struct {
		name, format, phone, mno, wantAcct, wantProvider string
	}{
		{"local default, inferred", "", "255712345678", "", "0712345678", "Tigo"},
		{"international", "international", "0741234567", "", "255741234567", "Mpesa"},
		{"explicit mno any case", "", "255712345678", "airtel", "0712345678", "Airtel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("/co/azampay/mno/checkout", "200", checkoutOK)
			c := newClient(t, f, func(o *Options) { o.PhoneFormat = tt.format })
			res, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{
				Reference: "ORDER-2025-0001", Amount: "1000", Phone: tt.phone, MNO: tt.mno,
				ProviderData: map[string]any{"additionalProperties": map[string]any{"orderId": "ORDER-2025-0001"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ProviderReference != "b85e971981844a6f8888b42579655b8f" {
				t.Fatalf("res %+v", res)
			}
			tok := f.requests("/auth/AppRegistration/GenerateToken")[0]
			if tok.header.Get("X-API-KEY") != "canary-apikey" || !strings.Contains(tok.body, `"clientSecret":"canary-secret"`) || !strings.Contains(tok.body, `"appName":"shop"`) {
				t.Fatalf("token request %+v", tok)
			}
			r := f.requests("/co/azampay/mno/checkout")[0]
			if r.header.Get("Authorization") != "Bearer eyJhbGciOi..." || r.header.Get("X-API-Key") != "canary-apikey" {
				t.Fatalf("headers %v", r.header)
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			if m["accountNumber"] != tt.wantAcct || m["provider"] != tt.wantProvider || m["amount"] != "1000" || m["currency"] != "TZS" || m["externalId"] != "ORDER-2025-0001" {
				t.Fatalf("payload %v", m)
			}
			if ap, _ := m["additionalProperties"].(map[string]any); ap["orderId"] != "ORDER-2025-0001" {
				t.Fatalf("additionalProperties %v", m["additionalProperties"])
			}
		})
	}
}

func TestAzamPayErrors(t *testing.T) {
	tests := []struct {
		name, path, status, body string
		kind                     providers.ErrorKind
		msg                      string
	}{
		{"token 423", "/auth/AppRegistration/GenerateToken", "423", token423, providers.Auth, "not valid for this app"},
		{"token 423 in a 200", "/auth/AppRegistration/GenerateToken", "200", token423, providers.Auth, "not valid"},
		{"token 500", "/auth/AppRegistration/GenerateToken", "500", `oops`, providers.Retryable, ""},
		{"validation", "/co/azampay/mno/checkout", "400", problem, providers.Permanent, "Amount: bad amount; Provider: bad provider"},
		{"duplicate", "/co/azampay/mno/checkout", "400", `{"success":false,"transactionId":null,"message":"Duplicate externalId"}`, providers.Permanent, "Duplicate externalId"},
		{"success false in 200", "/co/azampay/mno/checkout", "200", `{"success":false,"message":"Declined"}`, providers.Permanent, "Declined"},
		{"500", "/co/azampay/mno/checkout", "500", `{"success":false,"message":"Internal server error"}`, providers.UnknownOutcome, "Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if strings.HasPrefix(tt.path, "/auth") {
				f.answers[tt.path] = nil
			}
			f.on(tt.path, tt.status, tt.body)
			c := newClient(t, f)
			_, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{Reference: "R1", Amount: "1000", Phone: "0712345678"})
			pe, ok := err.(*providers.Error)
			if !ok || pe.Kind != tt.kind || !strings.Contains(pe.Message, tt.msg) {
				t.Fatalf("err %v, want kind %v with %q", err, tt.kind, tt.msg)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Fatalf("error leaks: %v", err)
			}
			if tt.kind == providers.Auth && !strings.Contains(err.Error(), `provider "azampay" "tz"`) {
				t.Fatalf("auth error does not name the block: %v", err)
			}
		})
	}
	c := newClient(t, newFake(t))
	if _, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{Reference: "R1", Amount: "1000", Phone: "0731234567"}); !providers.IsPermanent(err) {
		t.Fatalf("TTCL number: %v", err)
	}
}

func TestStatusPartnersKey(t *testing.T) {
	f := newFake(t)
	f.on("/co/api/v1/partner/gettransactionstatus", "401", ``)
	f.on("/co/api/v1/partner/gettransactionstatus", "200", `{"data":{"transactionId":"T1","externalId":"ORDER-1","msisdn":"0712345678","amount":"1000","currency":"TZS","operator":"Tigo","mnoreference":"MP1","transactionstatus":"success","message":"ok"},"message":"m","success":true,"statusCode":200}`)
	f.on("/co/api/v1/partner/gettransactionstatus", "404", `{"data":null,"message":"Transaction not found","success":false,"statusCode":404}`)
	f.on("/co/api/v1/Partner/GetPaymentPartners", "200", `[{"id":1,"logoUrl":"u","partnerName":"Airtel","provider":2,"vendorName":"Airtel Money","paymentVendorId":"v","paymentPartnerId":"p","paymentAcknowledgementRoute":"","currency":"TZS","status":"1","vendorType":"MNO"}]`)
	k := testKey(t)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	body, _ := json.Marshal(map[string]any{"publicKey": pemText, "success": true})
	f.on("/co/azampay/v1/public-key", "200", string(body))
	c := newClient(t, f)
	ctx := context.Background()

	st, err := c.QueryPayment(ctx, providers.PaymentQuery{ProviderReference: "T1", MNO: "tigo"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != providers.StatusSucceeded || st.Reference != "ORDER-1" || st.ConfirmationCode != "MP1" || st.Amount != "1000" {
		t.Fatalf("status %+v", st)
	}
	rs := f.requests("/co/api/v1/partner/gettransactionstatus")
	if len(rs) != 2 || rs[1].query != "provider=Tigo&transactionId=T1" {
		t.Fatalf("status requests %+v", rs)
	}
	if n := len(f.requests("/auth/AppRegistration/GenerateToken")); n != 2 {
		t.Fatalf("token requests %d, want 2 (one refresh after the 401)", n)
	}
	if _, err := c.QueryPayment(ctx, providers.PaymentQuery{ProviderReference: "T2"}); providers.KindOf(err) != providers.Permanent {
		t.Fatalf("404: %v", err)
	}
	ps, err := c.PaymentPartners(ctx)
	if err != nil || len(ps) != 1 || ps[0].Provider != 2 || ps[0].ID != "1" {
		t.Fatalf("partners %+v %v", ps, err)
	}
	pemBytes, key, err := c.FetchPublicKey(ctx)
	if err != nil || !key.Equal(&k.PublicKey) || string(pemBytes) != pemText {
		t.Fatalf("public key: %v", err)
	}
	if r := f.requests("/co/azampay/v1/public-key")[0]; r.query != "format=Pem" || r.header.Get("X-API-Key") != "canary-apikey" {
		t.Fatalf("public key request %+v", r)
	}
}

func TestPublicKeyFallback(t *testing.T) {
	k := testKey(t)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f := newFake(t)
	f.on("/co/azampay/v1/public-key", "404", ``)
	f.on("/auth/api/Token/PublicKey", "200", pemText)
	c := newClient(t, f)
	_, key, err := c.FetchPublicKey(context.Background())
	if err != nil || !key.Equal(&k.PublicKey) {
		t.Fatalf("fallback: %v", err)
	}
	// An explicitly configured URL has no fallback.
	f2 := newFake(t)
	f2.on("/co/custom-key", "404", ``)
	f2.on("/auth/api/Token/PublicKey", "200", pemText)
	c2 := newClient(t, f2, func(o *Options) { o.PublicKeyURL = f2.srv.URL + "/co/custom-key" })
	if _, _, err := c2.FetchPublicKey(context.Background()); err == nil || len(f2.requests("/auth/api/Token/PublicKey")) != 0 {
		t.Fatalf("explicit URL fell back: %v", err)
	}
}
