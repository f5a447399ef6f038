package pesapal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// Example bodies in the shapes PesaPal documents (docs/providers/pesapal.md).
const (
	tokenOK       = `{"token":"eyJhbGciOi...","expiryDate":"2025-06-01T10:05:00.1234567Z","error":null,"status":"200","message":"Request processed successfully"}`
	tokenBad      = `{"token":null,"expiryDate":null,"error":{"error_type":"api_error","code":"invalid_consumer_key_or_secret_provided","message":"..."},"status":"500","message":"..."}`
	registerOK    = `{"url":"https://merchant.example/ipn","created_date":"2025-06-01T10:00:00.1234567Z","ipn_id":"84740ab4-3cd9-47da-8a4f-dd1db53494b5","notification_type":1,"ipn_notification_type_description":"POST","ipn_status":1,"ipn_status_decription":"Active","error":null,"status":"200","message":"Request processed successfully"}`
	listOK        = `[{"url":"https://merchant.example/ipn","created_date":"2025-06-01T10:00:00.1234567Z","ipn_id":"84740ab4-3cd9-47da-8a4f-dd1db53494b5","error":null,"status":"200"}]`
	submitOK      = `{"order_tracking_id":"b945e4af-80a5-4ec1-8706-e03f8332fb04","merchant_reference":"INV-2025-0001","redirect_url":"https://cybqa.pesapal.com/pesapaliframe/PesapalIframe3/Index/?OrderTrackingId=b945e4af-80a5-4ec1-8706-e03f8332fb04","error":null,"status":"200"}`
	statusDone    = `{"payment_method":"MpesaKE","amount":15000,"created_date":"2025-06-01T10:03:11.123","confirmation_code":"QF12ABC3DE","payment_status_description":"Completed","description":"","message":"Request processed successfully","payment_account":"2557xxx45678","call_back_url":"https://merchant.example/pesapal/return?OrderTrackingId=b945e4af-80a5-4ec1-8706-e03f8332fb04&OrderMerchantReference=INV-2025-0001","status_code":1,"merchant_reference":"INV-2025-0001","payment_status_code":"","currency":"TZS","error":{"error_type":null,"code":null,"message":null,"call_back_url":null},"status":"200"}`
	statusPending = `{"payment_method":"","amount":15000,"created_date":"2025-06-01T10:00:05.000","confirmation_code":"","payment_status_description":"INVALID","description":"","message":"","payment_account":"","call_back_url":"…","status_code":0,"merchant_reference":"INV-2025-0001","payment_status_code":"","currency":"TZS","error":{"error_type":"api_error","code":"payment_details_not_found","message":"Pending Payment","call_back_url":"…"},"status":"500"}`
)

type answer struct {
	status int
	body   string
}

// fake is a loopback PesaPal answering canned bodies per path.
type fake struct {
	mu       sync.Mutex
	answers  map[string][]answer // path -> queue (last one repeats)
	got      map[string][]string // path -> request bodies
	auth     []string
	tokens   atomic.Int64
	hijack   string // path whose connection is cut after the request is read
	srv      *httptest.Server
	expiries []string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{answers: map[string][]answer{}, got: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.on("/api/Auth/RequestToken", 200, tokenOK)
	return f
}

func (f *fake) on(path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[path] = append(f.answers[path], answer{status, body})
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.got[r.URL.Path] = append(f.got[r.URL.Path], string(b))
	if r.URL.Path != "/api/Auth/RequestToken" {
		f.auth = append(f.auth, r.Header.Get("Authorization"))
	} else {
		f.tokens.Add(1)
	}
	q := f.answers[r.URL.Path]
	var a answer
	if len(q) > 0 {
		a = q[0]
		if len(q) > 1 {
			f.answers[r.URL.Path] = q[1:]
		}
	} else {
		a = answer{404, `{"error":{"code":"not_found","message":"no such path"},"status":"404"}`}
	}
	hijack := f.hijack == r.URL.Path
	f.mu.Unlock()
	if hijack {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (f *fake) requests(path string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got[path]...)
}

func newClient(t *testing.T, base string, o ...func(*Options)) *Client {
	t.Helper()
	opts := Options{
		BaseURL:        base,
		ConsumerKey:    secret.New("canary-key-123"),
		ConsumerSecret: secret.New("canary-secret-456"),
		Block:          `provider "pesapal" "ke"`,
		Timeout:        5 * time.Second,
		RetryBackoff:   time.Millisecond,
		Now:            func() time.Time { return time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC) },
	}
	for _, f := range o {
		f(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{"canary-key-123", "canary-secret-456", "eyJhbGciOi"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks %q: %v", s, err)
		}
	}
}

func TestRequestToken(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantKind providers.ErrorKind
		wantExp  time.Time
	}{
		{"documented sample", 200, tokenOK, 0, time.Date(2025, 6, 1, 10, 5, 0, 123456700, time.UTC)},
		{"no expiry uses 5 min", 200, `{"token":"t","expiryDate":null,"error":null,"status":"200"}`, 0, time.Date(2025, 6, 1, 10, 5, 0, 0, time.UTC)},
		{"expiry without zone", 200, `{"token":"t","expiryDate":"2025-06-01T10:04:00.1234567","status":"200"}`, 0, time.Date(2025, 6, 1, 10, 4, 0, 123456700, time.UTC)},
		{"bad credentials body 500", 200, tokenBad, providers.Auth, time.Time{}},
		{"bad credentials HTTP 500", 500, tokenBad, providers.Auth, time.Time{}},
		{"HTTP 401", 401, `{"message":"Unauthorized"}`, providers.Auth, time.Time{}},
		{"server down", 503, `upstream unavailable`, providers.Retryable, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.answers["/api/Auth/RequestToken"] = []answer{{tt.status, tt.body}}
			c := newClient(t, f.srv.URL)
			_, exp, err := c.RequestToken(context.Background())
			assertNoSecrets(t, err)
			if tt.wantKind != 0 {
				if providers.KindOf(err) != tt.wantKind {
					t.Fatalf("err = %v, want kind %v", err, tt.wantKind)
				}
				if !strings.Contains(err.Error(), `provider "pesapal" "ke"`) {
					t.Fatalf("error does not name the block: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !exp.Equal(tt.wantExp) {
				t.Fatalf("expires %v, want %v", exp, tt.wantExp)
			}
			var sent map[string]string
			_ = json.Unmarshal([]byte(f.requests("/api/Auth/RequestToken")[0]), &sent)
			if sent["consumer_key"] != "canary-key-123" || sent["consumer_secret"] != "canary-secret-456" {
				t.Fatalf("sent %v", sent)
			}
		})
	}
}

func TestRegisterIPNAdoptsExisting(t *testing.T) {
	f := newFake(t)
	f.on("/api/URLSetup/GetIpnList", 200, listOK)
	f.on("/api/URLSetup/RegisterIPN", 200, registerOK)
	c := newClient(t, f.srv.URL)
	reg, err := c.RegisterIPN(context.Background(), "https://merchant.example/ipn", "post")
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Adopted || reg.IPNID != "84740ab4-3cd9-47da-8a4f-dd1db53494b5" || len(f.requests("/api/URLSetup/RegisterIPN")) != 0 {
		t.Fatalf("did not adopt: %+v", reg)
	}
	reg, err = c.RegisterIPN(context.Background(), "https://merchant.example/other", "POST")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Adopted || reg.NotificationType != 1 || reg.NotificationTypeDescription != "POST" || reg.IPNStatusDescription != "Active" || reg.IPNStatus != 1 {
		t.Fatalf("registration %+v", reg)
	}
	var sent map[string]string
	_ = json.Unmarshal([]byte(f.requests("/api/URLSetup/RegisterIPN")[0]), &sent)
	if sent["url"] != "https://merchant.example/other" || sent["ipn_notification_type"] != "POST" {
		t.Fatalf("sent %v", sent)
	}
	if f.tokens.Load() != 1 {
		t.Fatalf("token requests = %d, want 1 (reused)", f.tokens.Load())
	}
	for _, a := range f.auth {
		if a != "Bearer eyJhbGciOi..." {
			t.Fatalf("Authorization %q", a)
		}
	}
	// Both spellings of the status description.
	var w wireIPN
	_ = json.Unmarshal([]byte(strings.Replace(registerOK, "decription", "description", 1)), &w)
	if w.registration(nil).IPNStatusDescription != "Active" {
		t.Fatal("ipn_status_description spelling not read")
	}
	if _, err := c.RegisterIPN(context.Background(), "u", "PUT"); !providers.IsPermanent(err) {
		t.Fatalf("bad type: %v", err)
	}
}

func TestSubmitOrder(t *testing.T) {
	req := SubmitOrderRequest{
		ID: "INV-2025-0001", Currency: "TZS", Amount: "15000.00", Description: "Order INV-2025-0001",
		CallbackURL: "https://merchant.example/pesapal/return", CancellationURL: "https://merchant.example/pesapal/cancel",
		RedirectMode: "TOP_WINDOW", NotificationID: "84740ab4-3cd9-47da-8a4f-dd1db53494b5", Branch: "Main",
		BillingAddress: BillingAddress{EmailAddress: "jane@example.com", PhoneNumber: "0712345678", CountryCode: "TZ", FirstName: "Jane", LastName: "Doe"},
	}
	wantBody := `{"id":"INV-2025-0001","currency":"TZS","amount":15000.00,"description":"Order INV-2025-0001","callback_url":"https://merchant.example/pesapal/return","redirect_mode":"TOP_WINDOW","cancellation_url":"https://merchant.example/pesapal/cancel","notification_id":"84740ab4-3cd9-47da-8a4f-dd1db53494b5","branch":"Main","billing_address":{"email_address":"jane@example.com","phone_number":"0712345678","country_code":"TZ","first_name":"Jane","last_name":"Doe"}}`
	tests := []struct {
		name     string
		mutate   func(*SubmitOrderRequest)
		status   int
		body     string
		hijack   bool
		wantKind providers.ErrorKind
		wantCode string
	}{
		{"ok", nil, 200, submitOK, false, 0, ""},
		{"duplicate is permanent", nil, 200, `{"order_tracking_id":null,"merchant_reference":"INV-2025-0001","redirect_url":null,"error":{"error_type":"api_error","code":"duplicate_order_reference","message":"exists"},"status":"400"}`, false, providers.Permanent, "duplicate_order_reference"},
		{"legacy error shape", nil, 200, `{"error":{"type":"validation","code":"invalid_amount","message":"bad"},"status":"400"}`, false, providers.Permanent, "invalid_amount"},
		{"HTTP 500 is unknown outcome", nil, 500, `{"error":{"error_type":"api_error","code":"internal_server_error","message":"x"},"status":"500"}`, false, providers.UnknownOutcome, "internal_server_error"},
		{"connection cut is unknown outcome", nil, 0, "", true, providers.UnknownOutcome, ""},
		{"429 is retryable", nil, 429, `{}`, false, providers.Retryable, ""},
		{"200 without tracking id is unknown", nil, 200, `{"status":"200"}`, false, providers.UnknownOutcome, ""},
		{"bad id rejected before sending", func(r *SubmitOrderRequest) { r.ID = "has space" }, 200, submitOK, false, providers.Permanent, "invalid_request"},
		{"float-ish amount rejected", func(r *SubmitOrderRequest) { r.Amount = "1e3" }, 200, submitOK, false, providers.Permanent, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("/api/Transactions/SubmitOrderRequest", tt.status, tt.body)
			if tt.hijack {
				f.hijack = "/api/Transactions/SubmitOrderRequest"
			}
			c := newClient(t, f.srv.URL)
			r := req
			if tt.mutate != nil {
				tt.mutate(&r)
			}
			res, err := c.SubmitOrder(context.Background(), r)
			assertNoSecrets(t, err)
			if tt.wantKind != 0 {
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Kind != tt.wantKind || pe.Code != tt.wantCode {
					t.Fatalf("err = %v, want kind %v code %q", err, tt.wantKind, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.requests("/api/Transactions/SubmitOrderRequest")[0]; got != wantBody {
				t.Fatalf("sent\n%s\nwant\n%s", got, wantBody)
			}
			if res.OrderTrackingID != "b945e4af-80a5-4ec1-8706-e03f8332fb04" || !strings.Contains(res.RedirectURL, "OrderTrackingId=") {
				t.Fatalf("res %+v", res)
			}
		})
	}
}

func TestInitiatePaymentMapping(t *testing.T) {
	f := newFake(t)
	f.on("/api/Transactions/SubmitOrderRequest", 200, submitOK)
	c := newClient(t, f.srv.URL)
	res, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{
		Reference: "INV-2025-0001", Amount: "1500.50", Currency: "kes", Phone: "+254 712 345678",
		CallbackURL: "https://m.example/r", NotificationID: "ipn-1", FirstName: "Jane",
		ProviderData: map[string]any{"branch": "Westlands", "redirect_mode": "PARENT_WINDOW"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderReference != "b945e4af-80a5-4ec1-8706-e03f8332fb04" || res.Status != providers.StatusPending || res.RedirectURL == "" {
		t.Fatalf("res %+v", res)
	}
	sent := f.requests("/api/Transactions/SubmitOrderRequest")[0]
	for _, want := range []string{`"amount":1500.50`, `"currency":"KES"`, `"phone_number":"254712345678"`, `"country_code":"KE"`, `"branch":"Westlands"`, `"redirect_mode":"PARENT_WINDOW"`, `"description":"Payment INV-2025-0001"`} {
		if !strings.Contains(sent, want) {
			t.Errorf("payload lacks %s: %s", want, sent)
		}
	}
}

func TestGetTransactionStatus(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     providers.Status
		wantKind providers.ErrorKind
	}{
		{"completed", 200, statusDone, providers.StatusSucceeded, 0},
		{"pending with HTTP 500", 500, statusPending, providers.StatusPending, 0},
		{"pending with HTTP 200", 200, statusPending, providers.StatusPending, 0},
		{"failed lower-case description", 200, `{"status_code":2,"payment_status_description":"Failed","description":"Insufficient funds","status":"200","error":null}`, providers.StatusFailed, 0},
		{"reversed", 200, `{"status_code":3,"payment_status_description":"REVERSED","status":"200"}`, providers.StatusReversed, 0},
		{"description only", 200, `{"payment_status_description":"completed","status":"200"}`, providers.StatusSucceeded, 0},
		{"server error", 500, `{"error":{"error_type":"api_error","code":"internal_error","message":"x"},"status":"500"}`, "", providers.Retryable},
		{"gateway html", 502, `<html>bad gateway</html>`, "", providers.Retryable},
		{"unknown tracking id", 200, `{"error":{"error_type":"api_error","code":"invalid_order_tracking_id","message":"nope"},"status":"400"}`, "", providers.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("/api/Transactions/GetTransactionStatus", tt.status, tt.body)
			c := newClient(t, f.srv.URL)
			st, err := c.QueryPayment(context.Background(), providers.PaymentQuery{ProviderReference: "b945e4af-80a5-4ec1-8706-e03f8332fb04"})
			if tt.wantKind != 0 {
				if providers.KindOf(err) != tt.wantKind {
					t.Fatalf("err = %v, want %v", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tt.want {
				t.Fatalf("status %s, want %s", st.Status, tt.want)
			}
			if tt.name == "completed" && (st.Amount != "15000" || st.ConfirmationCode != "QF12ABC3DE" || st.Currency != "TZS" || st.Reference != "INV-2025-0001") {
				t.Fatalf("decoded %+v", st)
			}
		})
	}
}

func TestRefundAndCancel(t *testing.T) {
	f := newFake(t)
	f.on("/api/Transactions/RefundRequest", 200, `{"status":"200","message":"Refund request successfully"}`)
	f.on("/api/Transactions/RefundRequest", 200, `{"status":"500","message":"Refund already requested"}`)
	f.on("/api/Transactions/CancelOrder", 200, `{"status":"200","message":"Order successfully cancelled."}`)
	c := newClient(t, f.srv.URL)
	ctx := context.Background()
	r, err := c.RefundRequest(ctx, RefundRequest{ConfirmationCode: "QF12ABC3DE", Amount: "100.00", Username: "ops", Remarks: "dup"})
	if err != nil || r.Message != "Refund request successfully" {
		t.Fatalf("refund %+v %v", r, err)
	}
	if got := f.requests("/api/Transactions/RefundRequest")[0]; got != `{"confirmation_code":"QF12ABC3DE","amount":100.00,"username":"ops","remarks":"dup"}` {
		t.Fatalf("refund body %s", got)
	}
	_, err = c.RefundRequest(ctx, RefundRequest{ConfirmationCode: "QF12ABC3DE", Amount: "100.00", Username: "ops", Remarks: "dup"})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.Permanent || pe.Message != "Refund already requested" {
		t.Fatalf("second refund err %v", err)
	}
	cr, err := c.CancelOrder(ctx, "b945e4af")
	if err != nil || cr.Status != "200" {
		t.Fatalf("cancel %+v %v", cr, err)
	}
	if got := f.requests("/api/Transactions/CancelOrder")[0]; got != `{"order_tracking_id":"b945e4af"}` {
		t.Fatalf("cancel body %s", got)
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	f := newFake(t)
	f.on("/api/URLSetup/GetIpnList", 401, `{"message":"Unauthorized"}`)
	f.on("/api/URLSetup/GetIpnList", 200, listOK)
	c := newClient(t, f.srv.URL)
	if _, err := c.GetIPNList(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.tokens.Load() != 2 {
		t.Fatalf("token requests = %d, want 2", f.tokens.Load())
	}
	// Always 401: one retry, then an Auth error.
	f2 := newFake(t)
	f2.on("/api/URLSetup/GetIpnList", 401, `{"message":"Unauthorized"}`)
	c2 := newClient(t, f2.srv.URL)
	_, err := c2.GetIPNList(context.Background())
	if !providers.IsAuth(err) || len(f2.requests("/api/URLSetup/GetIpnList")) != 2 {
		t.Fatalf("err %v after %d calls", err, len(f2.requests("/api/URLSetup/GetIpnList")))
	}
}

func TestTransportFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	c := newClient(t, "http://"+addr)
	_, err = c.GetIPNList(context.Background())
	if !providers.IsRetryable(err) {
		t.Fatalf("refused: %v", err)
	}

	// A slow server and a short timeout: reads are retryable, orders unknown.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/Auth/RequestToken" {
			io.WriteString(w, tokenOK)
			return
		}
		<-block
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	c = newClient(t, srv.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	_, err = c.GetTransactionStatus(context.Background(), "x")
	if !providers.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow read: %v", err)
	}
	_, err = c.InitiatePayment(context.Background(), providers.PaymentRequest{Reference: "R1", Amount: "10", Currency: "KES", Phone: "254712345678", CallbackURL: "https://x.example/", NotificationID: "n"})
	if !providers.IsUnknownOutcome(err) {
		t.Fatalf("slow order: %v", err)
	}
}

func TestObserver(t *testing.T) {
	f := newFake(t)
	f.on("/api/URLSetup/GetIpnList", 200, listOK)
	var mu sync.Mutex
	var seen []string
	c := newClient(t, f.srv.URL, func(o *Options) {
		o.Observer = func(p providers.Kind, op, outcome string, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, string(p)+"/"+op+"/"+outcome)
		}
	})
	if _, err := c.GetIPNList(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "pesapal/request_token/ok,pesapal/get_ipn_list/ok" {
		t.Fatalf("observed %v", seen)
	}
}

func TestNewValidates(t *testing.T) {
	for name, o := range map[string]Options{
		"no url":     {ConsumerKey: secret.New("k"), ConsumerSecret: secret.New("s")},
		"bad scheme": {BaseURL: "ftp://x", ConsumerKey: secret.New("k"), ConsumerSecret: secret.New("s")},
		"no key":     {BaseURL: "http://127.0.0.1:1"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}

func TestReadRetries(t *testing.T) {
	tests := []struct {
		name     string
		retries  int
		answers  []answer
		wantErr  providers.ErrorKind
		wantReqs int
	}{
		{"recovers after two 503s", 0, []answer{{503, "busy"}, {502, "bad gateway"}, {200, listOK}}, 0, 3},
		{"gives up after the default two retries", 0, []answer{{503, "busy"}}, providers.Retryable, 3},
		{"no retries when disabled", -1, []answer{{503, "busy"}}, providers.Retryable, 1},
		{"permanent errors are not retried", 0, []answer{{400, `{"error":{"code":"bad"},"status":"400"}`}}, providers.Permanent, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.answers["/api/URLSetup/GetIpnList"] = tt.answers
			c := newClient(t, f.srv.URL, func(o *Options) { o.ReadRetries = tt.retries })
			_, err := c.GetIPNList(context.Background())
			if providers.KindOf(err) != tt.wantErr {
				t.Fatalf("err %v, want kind %v", err, tt.wantErr)
			}
			if n := len(f.requests("/api/URLSetup/GetIpnList")); n != tt.wantReqs {
				t.Fatalf("requests %d, want %d", n, tt.wantReqs)
			}
		})
	}
	// An initiation is never retried, whatever the settings.
	f := newFake(t)
	f.on("/api/Transactions/SubmitOrderRequest", 503, "busy")
	c := newClient(t, f.srv.URL, func(o *Options) { o.ReadRetries = 5 })
	_, err := c.InitiatePayment(context.Background(), providers.PaymentRequest{Reference: "R1", Amount: "10", Currency: "KES", Phone: "254712345678", CallbackURL: "https://x.example/", NotificationID: "n"})
	if !providers.IsUnknownOutcome(err) || len(f.requests("/api/Transactions/SubmitOrderRequest")) != 1 {
		t.Fatalf("initiation: %v after %d requests", err, len(f.requests("/api/Transactions/SubmitOrderRequest")))
	}
}
