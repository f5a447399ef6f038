package clickpesa

import (
	"context"
	"encoding/json"
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

// Example bodies in the shapes ClickPesa documents (docs/providers/clickpesa.md).
const (
	initiateOK = `{"id":"ORD20240810001LCP2C95","status":"PROCESSING","channel":"TIGO-PESA","orderReference":"ORD20240810001","collectedAmount":"1000","collectedCurrency":"TZS","createdAt":"2025-06-01T10:00:00.000Z","clientId":"IDxxxxxxxx"}`
	previewOK  = `{"activeMethods":[{"name":"TIGO-PESA","status":"AVAILABLE","fee":580},{"name":"M-PESA","status":"UNAVAILABLE","fee":0}],
 "sender":{"accountName":"Jane Doe","accountNumber":"255712345678","accountProvider":"TIGO-PESA"}}`
	queryOK = `[{"id":"ORD20240810001LCP2C95","status":"SUCCESS","paymentReference":"a1b2c3d4e5","paymentPhoneNumber":"255712345678","orderReference":"ORD20240810001","collectedAmount":1000,"collectedCurrency":"TZS","message":"success","updatedAt":"2025-06-01T10:00:42.000Z","createdAt":"2025-06-01T10:00:00.000Z","customer":{"customerName":"Jane Doe","customerPhoneNumber":"255712345678","customerEmail":null},"clientId":"ID"}]`
)

type fake struct {
	mu      sync.Mutex
	answers map[string][]struct {
		status int
		body   string
	}
	bodies  map[string][]string
	headers map[string][]http.Header
	srv     *httptest.Server
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{answers: map[string][]struct {
		status int
		body   string
	}{}, bodies: map[string][]string{}, headers: map[string][]http.Header{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p := strings.TrimPrefix(r.URL.Path, "/third-parties")
		f.mu.Lock()
		f.bodies[p] = append(f.bodies[p], string(b))
		f.headers[p] = append(f.headers[p], r.Header.Clone())
		q := f.answers[p]
		status, body := 404, `{"message":"no route"}`
		if len(q) > 0 {
			status, body = q[0].status, q[0].body
			if len(q) > 1 {
				f.answers[p] = q[1:]
			}
		}
		f.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	f.on("/generate-token", 200, `{"success":true,"token":"Bearer eyJtoken"}`)
	return f
}

func (f *fake) on(path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[path] = append(f.answers[path], struct {
		status int
		body   string
	}{status, body})
}

func (f *fake) got(path string) ([]string, []http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies[path]...), append([]http.Header(nil), f.headers[path]...)
}

func newClient(t *testing.T, base string, mut ...func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: base, ClientID: secret.New("canary-id"), APIKey: secret.New("canary-key"), Block: `provider "clickpesa" "tz"`, Timeout: 5 * time.Second, RetryBackoff: time.Millisecond}
	for _, m := range mut {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenAndChecksumOnTheWire(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		method   string
		wantSum  bool
		wantMeth string
	}{
		{"no checksum key", "", "", false, ""},
		{"canonical", "secret-key", "", true, ""},
		{"legacy", "secret-key", "legacy", true, "legacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("/payments/initiate-ussd-push-request", 200, initiateOK)
			c := newClient(t, f.srv.URL, func(o *Options) { o.ChecksumKey = secret.New(tt.key); o.ChecksumMethod = tt.method })
			res, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{Reference: "ORD20240810001", Amount: "1000", Currency: "TZS", Phone: "0712345678"})
			if err != nil {
				t.Fatal(err)
			}
			if res.ProviderReference != "ORD20240810001LCP2C95" || res.Status != providers.StatusPending {
				t.Fatalf("res %+v", res)
			}
			_, th := f.got("/generate-token")
			if th[0].Get("client-id") != "canary-id" || th[0].Get("api-key") != "canary-key" {
				t.Fatalf("token headers %v", th[0])
			}
			bodies, hs := f.got("/payments/initiate-ussd-push-request")
			if hs[0].Get("Authorization") != "Bearer eyJtoken" {
				t.Fatalf("Authorization %q, want the token verbatim", hs[0].Get("Authorization"))
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(bodies[0]), &m); err != nil {
				t.Fatal(err)
			}
			if m["amount"] != "1000" || m["phoneNumber"] != "255712345678" || m["currency"] != "TZS" || m["orderReference"] != "ORD20240810001" {
				t.Fatalf("payload %v", m)
			}
			_, has := m["checksum"]
			if has != tt.wantSum {
				t.Fatalf("checksum present=%v, want %v", has, tt.wantSum)
			}
			if got, _ := m["checksumMethod"].(string); got != tt.wantMeth {
				t.Fatalf("checksumMethod %q", got)
			}
			if tt.wantSum {
				if err := VerifyChecksum([]byte(bodies[0]), []byte(tt.key)); err != nil {
					t.Fatalf("sent checksum does not verify: %v", err)
				}
				if tt.method == "" && m["checksum"] != "7c87a5e58179bacc6883ab775be2e00da6f142a10f6fcca9bb06697d88a5e3d7" {
					t.Fatalf("canonical checksum %v differs from the known answer", m["checksum"])
				}
			}
		})
	}
}

func TestErrorsClassified(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		status int
		body   string
		kind   providers.ErrorKind
		code   string
	}{
		{"409 reused reference", "/payments/initiate-ussd-push-request", 409, `{"message":"Order reference ORD1 already used: Create a different reference"}`, providers.Permanent, "order_reference_used"},
		{"400 bad phone", "/payments/initiate-ussd-push-request", 400, `{"message":"Invalid / unsupported phone number"}`, providers.Permanent, ""},
		{"500 on initiate", "/payments/initiate-ussd-push-request", 500, `{"message":"Error validating fee, try again later"}`, providers.UnknownOutcome, ""},
		{"429 on initiate", "/payments/initiate-ussd-push-request", 429, `{"message":"slow down"}`, providers.Retryable, ""},
		{"token 403", "/generate-token", 403, `{"message":"Invalid client details"}`, providers.Auth, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if tt.path == "/generate-token" {
				f.answers["/generate-token"] = nil
			}
			f.on(tt.path, tt.status, tt.body)
			c := newClient(t, f.srv.URL)
			_, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{Reference: "ORD1", Amount: "1000", Currency: "TZS", Phone: "255712345678"})
			pe, ok := err.(*providers.Error)
			if !ok || pe.Kind != tt.kind || pe.Code != tt.code {
				t.Fatalf("err %v, want kind %v code %q", err, tt.kind, tt.code)
			}
			if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "eyJtoken") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
	// Invalid input never leaves the process.
	c := newClient(t, "http://127.0.0.1:1")
	for _, req := range []providers.PaymentRequest{
		{Reference: "ORD-1", Amount: "1000", Phone: "255712345678"},
		{Reference: "ORD1", Amount: "10.0.0", Phone: "255712345678"},
		{Reference: "ORD1", Amount: "1000", Phone: "12345"},
		{Reference: "A234567890123456789012345678901", Amount: "1000", Phone: "255712345678"},
	} {
		if _, err := c.InitiatePayment(context.Background(), req); !providers.IsPermanent(err) {
			t.Errorf("%+v: %v", req, err)
		}
	}
}

func TestPreviewAndQuery(t *testing.T) {
	f := newFake(t)
	f.on("/payments/preview-ussd-push-request", 200, previewOK)
	f.on("/payments/ORD20240810001", 200, queryOK)
	f.on("/payments/NOPE", 404, `{"message":"Invalid or missing payment: NOPE"}`)
	c := newClient(t, f.srv.URL)
	ctx := context.Background()
	pv, err := c.PreviewUSSDPush(ctx, USSDPushRequest{Amount: "1000", Currency: "TZS", OrderReference: "ORD20240810001", PhoneNumber: "255712345678", FetchSenderDetails: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.ActiveMethods) != 2 || pv.ActiveMethods[0].Fee != "580" || pv.Sender == nil || pv.Sender.AccountName != "Jane Doe" {
		t.Fatalf("preview %+v", pv)
	}
	st, err := c.QueryPayment(ctx, providers.PaymentQuery{Reference: "ORD20240810001"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != providers.StatusSucceeded || st.Amount != "1000" || st.ConfirmationCode != "a1b2c3d4e5" || st.Phone != "255712345678" || st.ProviderReference != "ORD20240810001LCP2C95" {
		t.Fatalf("status %+v", st)
	}
	_, err = c.QueryPayment(ctx, providers.PaymentQuery{Reference: "NOPE"})
	if pe, ok := err.(*providers.Error); !ok || pe.Code != "not_found" || pe.Kind != providers.Permanent {
		t.Fatalf("404: %v", err)
	}
	if _, hs := f.got("/generate-token"); len(hs) != 1 {
		t.Fatalf("token requests %d, want 1", len(hs))
	}
}

func TestBaseURLPrefix(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.clickpesa.com/third-parties":  "https://api.clickpesa.com/third-parties",
		"https://api.clickpesa.com/third-parties/": "https://api.clickpesa.com/third-parties",
		"http://127.0.0.1:9999/clickpesa":          "http://127.0.0.1:9999/clickpesa/third-parties",
	} {
		if got := newClient(t, base).base; got != want {
			t.Errorf("%s → %s, want %s", base, got, want)
		}
	}
}

func TestPhone(t *testing.T) {
	for in, want := range map[string]string{"0712345678": "255712345678", "+255 712 345 678": "255712345678", "712345678": "255712345678", "255612345678": "255612345678"} {
		if got := Phone(in); got != want {
			t.Errorf("Phone(%q) = %q, want %q", in, got, want)
		}
	}
}
