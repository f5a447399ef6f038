package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func TestClickPesaSigned(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORD1", Status: "pending", Amount: "1000.00", Currency: "TZS"})
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORD2", Status: "pending", Amount: "1000", Currency: "TZS"})
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORD4", ProviderReference: "CP-OTHER", Status: "pending", Amount: "1000", Currency: "TZS"})

	good := clickPesaBody(t, checksumKey, "ORD1", "SUCCESS", "1000")
	tampered := bytes.Replace(good, []byte(`"1000"`), []byte(`"1"`), 1)
	tests := []struct {
		name        string
		method      string
		path        string
		body        []byte
		wantCode    int
		wantEvents  int // total events after this step
		wantOutcome string
	}{
		{"accepted", "POST", "/hooks/clickpesa", good, 200, 1, "accepted"},
		{"duplicate is acked once", "POST", "/hooks/clickpesa", good, 200, 1, "duplicate"},
		{"replayed pending after success is stale", "POST", "/hooks/clickpesa", clickPesaBody(t, checksumKey, "ORD1", "PROCESSING", "1000"), 200, 1, "stale"},
		{"bad checksum", "POST", "/hooks/clickpesa", tampered, 401, 1, "rejected"},
		{"missing checksum", "POST", "/hooks/clickpesa", clickPesaBody(t, "", "ORD2", "SUCCESS", "1000"), 401, 1, "rejected"},
		{"wrong key", "POST", "/hooks/clickpesa", clickPesaBody(t, "other", "ORD2", "SUCCESS", "1000"), 401, 1, "rejected"},
		{"not json", "POST", "/hooks/clickpesa", []byte("hello"), 400, 1, "rejected"},
		{"oversized", "POST", "/hooks/clickpesa", bytes.Repeat([]byte("a"), MaxBody+1), 413, 1, "rejected"},
		{"amount mismatch", "POST", "/hooks/clickpesa", clickPesaBody(t, checksumKey, "ORD2", "SUCCESS", "999.99"), 422, 1, "rejected"},
		{"GET not allowed", "GET", "/hooks/clickpesa", nil, 405, 1, "rejected"},
		{"unknown path", "POST", "/hooks/nope", good, 404, 1, ""},
		{"another transaction than the payment's", "POST", "/hooks/clickpesa", clickPesaBody(t, checksumKey, "ORD4", "SUCCESS", "1000"), 422, 1, "rejected"},
		{"unknown reference the provider does not know", "POST", "/hooks/clickpesa", clickPesaBody(t, checksumKey, "ORD3", "SUCCESS", "500"), 404, 1, "rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.send(tc.method, tc.path, "application/json", tc.body)
			if code != tc.wantCode {
				t.Fatalf("code = %d, want %d (body %s)", code, tc.wantCode, body)
			}
			if got := h.store.EventCount(); got != tc.wantEvents {
				t.Fatalf("events = %d, want %d", got, tc.wantEvents)
			}
			if tc.wantOutcome != "" && !strings.Contains(lastLine(h.logs.String()), `"outcome":"`+tc.wantOutcome+`"`) {
				t.Fatalf("last log line %s does not say outcome %s", lastLine(h.logs.String()), tc.wantOutcome)
			}
		})
	}
	p, _ := h.store.ByRef("clickpesa.tz", "ORD2")
	if p.Status != "pending" {
		t.Fatalf("ORD2 status = %s after rejected notifications, want pending", p.Status)
	}
	if got := testutil.ToFloat64(h.in.received.WithLabelValues("cp")); got != 12 {
		t.Fatalf("received{cp} = %v, want 12", got)
	}
	for reason, want := range map[string]float64{"bad_signature": 3, "malformed": 1, "too_large": 1, "mismatch": 2, "method": 1, "unknown_payment": 1} {
		if got := testutil.ToFloat64(h.in.rejected.WithLabelValues("cp", reason)); got != want {
			t.Errorf("rejected{cp,%s} = %v, want %v", reason, got, want)
		}
	}
	if strings.Contains(h.logs.String(), "255712345678") || strings.Contains(h.logs.String(), checksumKey) {
		t.Fatalf("logs hold a full phone number or the checksum key:\n%s", h.logs.String())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestStoreFailureIsNotAcked(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORD9", Status: "pending", Amount: "1000", Currency: "TZS"})
	h.store.SetOutage(true)
	body := clickPesaBody(t, checksumKey, "ORD9", "SUCCESS", "1000")
	if code, b := h.send("POST", "/hooks/clickpesa", "application/json", body); code != 500 {
		t.Fatalf("code = %d (%s), want 500 while the store fails", code, b)
	}
	h.store.SetOutage(false)
	if code, b := h.send("POST", "/hooks/clickpesa", "application/json", body); code != 200 {
		t.Fatalf("code = %d (%s), want 200 once the store is back", code, b)
	}
	if n := h.store.EventCount(); n != 1 {
		t.Fatalf("events = %d, want 1", n)
	}
}

func TestClickPesaFromEmulator(t *testing.T) {
	for _, signed := range []bool{true, false} {
		t.Run(map[bool]string{true: "signed", false: "unsigned, confirmed by query"}[signed], func(t *testing.T) {
			h := newHarness(t, harnessOptions{signedClickPesa: signed})
			payer, _ := h.set.Payer("clickpesa.tz")
			h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDEMU1", Status: "pending", Amount: "1000", Currency: "TZS"})
			if _, err := payer.InitiatePayment(context.Background(), providers.PaymentRequest{
				Reference: "ORDEMU1", Amount: "1000", Currency: "TZS", Phone: "255712345670"}); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			testkit.Eventually(t, "payment.succeeded", func() bool {
				p, _ := h.store.ByRef("clickpesa.tz", "ORDEMU1")
				return p.Status == "succeeded" && len(h.store.EventsOf(p.ID)) == 1
			})
		})
	}
}

func TestAzamPay(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	priv := newRSAKey(t)
	rotated := newRSAKey(t)
	h.store.Put(state.Payment{Provider: "azampay.tz", Reference: "AZ1", ProviderReference: "AZ-AZ1", Status: "pending", Amount: "1000", Currency: "TZS"})
	h.store.Put(state.Payment{Provider: "azampay.tz", Reference: "AZ2", ProviderReference: "AZ-AZ2", Status: "pending", Amount: "1000", Currency: "TZS"})

	t.Run("signed callback accepted, credentials not stored", func(t *testing.T) {
		h.setKeys(&priv.PublicKey, &priv.PublicKey)
		body := azamPayBody(t, priv, "AZ1", "success", "1000", map[string]any{"user": "cb-user", "password": "cb-pass"})
		if code, b := h.send("POST", "/hooks/azampay", "application/json", body); code != 200 {
			t.Fatalf("code = %d (%s)", code, b)
		}
		p, _ := h.store.ByRef("azampay.tz", "AZ1")
		if p.Status != "succeeded" || len(h.store.EventsOf(p.ID)) != 1 {
			t.Fatalf("payment %+v, events %d", p, len(h.store.EventsOf(p.ID)))
		}
		for _, n := range h.store.Notifications() {
			if bytes.Contains(n.Body, []byte("cb-pass")) {
				t.Fatalf("stored notification holds the callback password: %s", n.Body)
			}
		}
		for _, e := range h.store.EventsOf(p.ID) {
			if bytes.Contains(e.Payload, []byte("cb-pass")) {
				t.Fatalf("event holds the callback password: %s", e.Payload)
			}
		}
	})
	t.Run("forged signature rejected after one refetch", func(t *testing.T) {
		h.setKeys(&priv.PublicKey, &priv.PublicKey)
		before := h.refetches.Load()
		body := azamPayBody(t, rotated, "AZ2", "success", "1000", nil)
		if code, b := h.send("POST", "/hooks/azampay", "application/json", body); code != 401 {
			t.Fatalf("code = %d (%s), want 401", code, b)
		}
		if got := h.refetches.Load() - before; got != 1 {
			t.Fatalf("refetches = %d, want 1", got)
		}
		if p, _ := h.store.ByRef("azampay.tz", "AZ2"); p.Status != "pending" {
			t.Fatalf("forged callback changed the payment: %+v", p)
		}
	})
	t.Run("unsigned is confirmed with the provider, which does not know it", func(t *testing.T) {
		if code, b := h.send("POST", "/hooks/azampay", "application/json", azamPayBody(t, nil, "AZ2", "success", "1000", nil)); code != 404 {
			t.Fatalf("code = %d (%s), want 404", code, b)
		}
		if p, _ := h.store.ByRef("azampay.tz", "AZ2"); p.Status != "pending" {
			t.Fatalf("unsigned callback changed the payment: %+v", p)
		}
	})
	t.Run("unsigned refused when signatures are required", func(t *testing.T) {
		cfg := *h.cfg
		cfg.Providers = append(cfg.Providers[:0:0], h.cfg.Providers...)
		az := *cfg.Providers[2]
		azc := *az.AzamPay
		azc.CallbackProof = config.ProofSignature
		az.AzamPay = &azc
		cfg.Providers[2] = &az
		h.setConfig(&cfg)
		defer h.setConfig(h.cfg)
		if code, b := h.send("POST", "/hooks/azampay", "application/json", azamPayBody(t, nil, "AZ2", "success", "1000", nil)); code != 401 {
			t.Fatalf("code = %d (%s), want 401", code, b)
		}
	})
	t.Run("rotated key verifies after refetch", func(t *testing.T) {
		h.setKeys(&priv.PublicKey, &rotated.PublicKey)
		body := azamPayBody(t, rotated, "AZ2", "success", "1000", nil)
		if code, b := h.send("POST", "/hooks/azampay", "application/json", body); code != 200 {
			t.Fatalf("code = %d (%s), want 200", code, b)
		}
	})
	t.Run("no key available is a temporary failure", func(t *testing.T) {
		h.setKeys(nil, nil)
		body := azamPayBody(t, rotated, "AZ3", "success", "1000", nil)
		if code, _ := h.send("POST", "/hooks/azampay", "application/json", body); code != 503 {
			t.Fatalf("code = %d, want 503", code)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		if code, _ := h.send("POST", "/hooks/azampay", "application/json", []byte(`{"amount":"1"}`)); code != 400 {
			t.Fatalf("code = %d, want 400", code)
		}
	})
}

func TestAzamPayFromEmulator(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	payer, _ := h.set.Payer("azampay.tz")
	h.store.Put(state.Payment{Provider: "azampay.tz", Reference: "AZEMU1", Status: "pending", Amount: "2500", Currency: "TZS"})
	if _, err := payer.InitiatePayment(context.Background(), providers.PaymentRequest{
		Reference: "AZEMU1", Amount: "2500", Currency: "TZS", Phone: "255712345670", MNO: "Tigo"}); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	testkit.Eventually(t, "payment.succeeded", func() bool {
		p, _ := h.store.ByRef("azampay.tz", "AZEMU1")
		return p.Status == "succeeded" && len(h.store.EventsOf(p.ID)) == 1
	})
}

func TestPesaPalFromEmulator(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pp := h.set.PesaPal("pesapal.ke")
	ctx := context.Background()
	reg, err := pp.RegisterIPN(ctx, h.srv.URL+"/hooks/pesapal", "POST")
	if err != nil {
		t.Fatalf("register ipn: %v", err)
	}
	h.store.Put(state.Payment{Provider: "pesapal.ke", Reference: "PP1", Status: "pending", Amount: "1500.00", Currency: "KES"})
	res, err := pp.InitiatePayment(ctx, providers.PaymentRequest{
		Reference: "PP1", Amount: "1500.00", Currency: "KES", Phone: "254712345670", Email: "a@example.com",
		NotificationID: reg.IPNID, CallbackURL: "https://shop.example/return"})
	if err != nil {
		t.Fatalf("initiate: %v", err)
	}
	testkit.Eventually(t, "payment.succeeded", func() bool {
		p, _ := h.store.ByRef("pesapal.ke", "PP1")
		return p.Status == "succeeded" && len(h.store.EventsOf(p.ID)) == 1
	})

	ipn := url.Values{"OrderTrackingId": {res.ProviderReference}, "OrderMerchantReference": {"PP1"}, "OrderNotificationType": {"IPNCHANGE"}}
	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		wantCode, wantAck         int
	}{
		{"GET duplicate is acked", "GET", "/hooks/pesapal?" + ipn.Encode(), "", nil, 200, 200},
		{"POST form duplicate", "POST", "/hooks/pesapal", "application/x-www-form-urlencoded", []byte(ipn.Encode()), 200, 200},
		{"POST JSON duplicate", "POST", "/hooks/pesapal", "application/json",
			[]byte(`{"OrderTrackingId":"` + res.ProviderReference + `","OrderMerchantReference":"PP1","OrderNotificationType":"IPNCHANGE"}`), 200, 200},
		{"unknown tracking id", "GET", "/hooks/pesapal?OrderTrackingId=00000000-0000-0000-0000-000000000000&OrderNotificationType=IPNCHANGE", "", nil, 404, 500},
		{"malformed", "POST", "/hooks/pesapal", "application/json", []byte(`{"x":1}`), 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.send(tc.method, tc.path, tc.ctype, tc.body)
			if code != tc.wantCode {
				t.Fatalf("code = %d (%s), want %d", code, body, tc.wantCode)
			}
			if tc.wantAck != 0 {
				var ack struct {
					OrderTrackingID string `json:"orderTrackingId"`
					Status          int    `json:"status"`
				}
				if err := json.Unmarshal(body, &ack); err != nil || ack.Status != tc.wantAck {
					t.Fatalf("ack %s: status %d, want %d (%v)", body, ack.Status, tc.wantAck, err)
				}
			}
		})
	}
	if n := h.store.EventCount(); n != 1 {
		t.Fatalf("events = %d, want 1", n)
	}
}

// countingPayer blocks every query until release closes and counts them.
type countingPayer struct {
	calls   atomic.Int32
	release chan struct{}
	st      providers.PaymentStatus
	err     error
}

func (c *countingPayer) InitiatePayment(context.Context, providers.PaymentRequest) (providers.PaymentResult, error) {
	return providers.PaymentResult{}, errors.New("not used")
}

func (c *countingPayer) QueryPayment(ctx context.Context, q providers.PaymentQuery) (providers.PaymentStatus, error) {
	c.calls.Add(1)
	select {
	case <-c.release:
	case <-ctx.Done():
		return providers.PaymentStatus{}, ctx.Err()
	}
	st := c.st
	st.ProviderReference = q.ProviderReference
	return st, c.err
}

func TestPesaPalQueriesCoalescedAndRateLimited(t *testing.T) {
	h := newHarness(t, harnessOptions{rate: 0.001, burst: 2})
	payer := &countingPayer{release: make(chan struct{}), st: providers.PaymentStatus{
		Status: providers.StatusSucceeded, Reference: "PPC", Amount: "10", Currency: "KES"}}
	h.payers = map[string]providers.Payer{"pesapal.ke": payer}

	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = h.send("GET", "/hooks/pesapal?OrderTrackingId=T1&OrderMerchantReference=PPC", "", nil)
		}()
	}
	testkit.Eventually(t, "the first query to start", func() bool { return payer.calls.Load() == 1 })
	// Wait until every other request is parked on the one query.
	testkit.Eventually(t, "all requests joined the query", func() bool { return h.in.flights.joined.Load() == n })
	close(payer.release)
	wg.Wait()
	if got := payer.calls.Load(); got != 1 {
		t.Fatalf("queries = %d, want 1 (coalesced)", got)
	}
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: code %d", i, c)
		}
	}
	if n := h.store.EventCount(); n != 1 {
		t.Fatalf("events = %d, want 1", n)
	}
	// Burst 2: the first query spent one token; one more new query is
	// allowed, the next is limited.
	if code, _ := h.send("GET", "/hooks/pesapal?OrderTrackingId=T2", "", nil); code == 429 {
		t.Fatalf("second distinct query limited too early")
	}
	code, body := h.send("GET", "/hooks/pesapal?OrderTrackingId=T3", "", nil)
	if code != 429 {
		t.Fatalf("code = %d, want 429", code)
	}
	if !bytes.Contains(body, []byte(`"status":500`)) {
		t.Fatalf("rate limited ack %s does not carry status 500", body)
	}
	if got := payer.calls.Load(); got != 2 {
		t.Fatalf("queries = %d, want 2", got)
	}
}

func TestPesaPalProviderFailureAcks500(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rel := make(chan struct{})
	close(rel)
	h.payers = map[string]providers.Payer{"pesapal.ke": &countingPayer{release: rel,
		err: &providers.Error{Provider: providers.PesaPal, Op: "get transaction status", Kind: providers.Retryable, HTTPStatus: 503}}}
	code, body := h.send("GET", "/hooks/pesapal?OrderTrackingId=T9", "", nil)
	if code != 500 || !bytes.Contains(body, []byte(`"status":500`)) {
		t.Fatalf("code %d body %s, want 500 with ack status 500", code, body)
	}
}

func TestPesaPalAckShape(t *testing.T) {
	// The ack is exactly pesapal.IPN.Ack: the emulator's own check accepts it.
	n := pesapal.IPN{OrderTrackingID: "t", OrderMerchantReference: "r", OrderNotificationType: "IPNCHANGE"}
	if !bytes.Contains(n.Ack(200), []byte(`"status":200`)) {
		t.Fatalf("ack %s", n.Ack(200))
	}
}

func TestReload(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	cfg := *h.cfg
	cfg.Routes = append(cfg.Routes[:0:0], h.cfg.Routes...)
	moved := *cfg.Routes[1]
	moved.Path = "/hooks/cp2"
	cfg.Routes[1] = &moved
	h.setConfig(&cfg)
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDR", Status: "pending", Amount: "1", Currency: "TZS"})
	body := clickPesaBody(t, checksumKey, "ORDR", "SUCCESS", "1")
	if code, _ := h.send("POST", "/hooks/clickpesa", "application/json", body); code != 404 {
		t.Fatalf("old path: code %d, want 404", code)
	}
	if code, _ := h.send("POST", "/hooks/cp2", "application/json", body); code != 200 {
		t.Fatalf("new path: code %d, want 200", code)
	}
}

// TestReloadKeepsBudgets: a route that keeps its name across a reload
// keeps its spent rate budget, whatever its path; a route with a new name
// starts with a full one.
func TestReloadKeepsBudgets(t *testing.T) {
	h := newHarness(t, harnessOptions{rate: 0.001, burst: 1})
	if code, _ := h.send("GET", "/hooks/pesapal?OrderTrackingId=B1", "", nil); code == 429 {
		t.Fatalf("first query limited")
	}
	if code, _ := h.send("GET", "/hooks/pesapal?OrderTrackingId=B2", "", nil); code != 429 {
		t.Fatalf("code = %d, want 429 (budget spent)", code)
	}
	withRoute := func(name, path string) *config.Config {
		cfg := *h.cfg
		cfg.Routes = append(cfg.Routes[:0:0], h.cfg.Routes...)
		r := *cfg.Routes[0]
		r.Name, r.Path = name, path
		cfg.Routes[0] = &r
		return &cfg
	}
	h.setConfig(withRoute("pp", "/hooks/pp-moved"))
	if code, _ := h.send("GET", "/hooks/pp-moved?OrderTrackingId=B3", "", nil); code != 429 {
		t.Fatalf("same name after reload: code = %d, want 429 (budget kept)", code)
	}
	h.setConfig(withRoute("pp-renamed", "/hooks/pp-moved"))
	if code, _ := h.send("GET", "/hooks/pp-moved?OrderTrackingId=B4", "", nil); code == 429 {
		t.Fatalf("new name after reload: limited, want a fresh budget")
	}
}

func TestHelpers(t *testing.T) {
	phones := map[string]string{"": "", "255712345678": "2557******78", "12345": "*****"}
	for in, want := range phones {
		if got := maskPhone(in); got != want {
			t.Errorf("maskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewRequiresOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Runtime") {
		t.Fatalf("err = %v", err)
	}
}

var _ = http.StatusOK
