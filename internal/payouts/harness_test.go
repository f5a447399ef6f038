package payouts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/ingest"
	"github.com/finconnectd/finconnectd/internal/openapi/openapitest"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

const checksumKey = "payout-test-checksum-key"

// API tokens of the harness: finance may pay out, auditor reads the audit
// trail, shop only collects.
const (
	financeToken = "finance-token-value"
	auditToken   = "audit-token-value"
	shopToken    = "shop-token-value"
)

// harness is the payouts API on a loopback server in front of the
// emulator, whose payout webhooks reach the real webhook ingest.
type harness struct {
	t     testing.TB
	emu   *sandbox.Emulator
	store *teststore.Store
	svc   *Service
	api   *httptest.Server
	clock *testkit.OffsetClock
	cfg   *config.Config
	set   *clients.Set
	// rt is what the service serves; setConfig swaps it as a reload does.
	rt atomic.Pointer[Runtime]
}

// setConfig serves cfg from now on, with the harness's clients, the way
// the daemon adapts them.
func (h *harness) setConfig(cfg *config.Config) {
	set := h.set
	h.rt.Store(&Runtime{
		Config: cfg,
		Refunders: func(id string) (*Refunder, bool) {
			c := set.PesaPal(id)
			if c == nil {
				return nil, false
			}
			return PesaPal(c), true
		},
		Providers: func(id string) (Provider, bool) {
			if c := set.ClickPesa(id); c != nil {
				return ClickPesa(c), true
			}
			if c := set.AzamPay(id); c != nil && c.CanDisburse() {
				return AzamPay(c, cfg.Provider(id).AzamPay), true
			}
			return nil, false
		},
	})
}

type harnessOptions struct {
	balance       string
	createTimeout time.Duration
	unsigned      bool // the provider has no checksum key
	payouts       config.PayoutsConfig
	refunds       bool // the ClickPesa provider sets refund_by_payout
	quiet         bool // the emulator settles nothing for an hour (benchmarks)
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, store: teststore.New(t), clock: &testkit.OffsetClock{}}
	hooks := httptest.NewUnstartedServer(nil)
	hooks.Start()
	t.Cleanup(hooks.Close)

	settings := sandbox.Settings{
		Delay: sandbox.Duration(20 * time.Millisecond), SlowAnswer: sandbox.Duration(3 * time.Second),
		ClickPesaWebhook: hooks.URL + "/hooks/clickpesa", ClickPesaBalance: o.balance,
	}
	if !o.unsigned {
		settings.ClickPesaChecksumKey = checksumKey
	}
	if o.quiet {
		settings.Delay = sandbox.Duration(time.Hour)
	}
	emu, err := sandbox.New(sandbox.Options{Settings: settings, IPNRetry: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Stop(ctx)
	})
	h.emu = emu
	cp := &config.ClickPesaConfig{ClientID: secret.New("id"), APIKey: secret.New("key"), BaseURL: emu.URL() + "/clickpesa", RefundByPayout: o.refunds}
	if !o.unsigned {
		cp.ChecksumKey = secret.New(checksumKey)
	}
	h.cfg = &config.Config{
		Providers: []*config.Provider{
			{Kind: "clickpesa", Name: "tz", ClickPesa: cp},
			{Kind: "pesapal", Name: "ke", Environment: "sandbox", PesaPal: &config.PesaPalConfig{
				ConsumerKey: secret.New("k"), ConsumerSecret: secret.New("s"), BaseURL: emu.URL() + "/pesapal"}},
			{Kind: "azampay", Name: "tz", Environment: "sandbox", AzamPay: &config.AzamPayConfig{
				AppName: "harness", ClientID: secret.New("id"), ClientSecret: secret.New("secret"), APIKey: secret.New("key"),
				AuthURL: emu.URL() + "/azampay-auth", BaseURL: emu.URL() + "/azampay", PhoneFormat: "local",
				DisbursementURL: emu.URL() + "/azampay-disbursement", DisbursementKey: secret.New(string(emu.PublicKeyPEM())),
				DisbursementAccount: "255700000001", DisbursementName: "ACME LTD", DisbursementWallet: "azampesa", RefundByPayout: o.refunds}},
		},
		Routes:  []*config.Route{{Name: "cp", Provider: "clickpesa.tz", Path: "/hooks/clickpesa", Events: config.EventTypes()}},
		Payouts: o.payouts,
	}
	set, err := clients.New(h.cfg, clients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.set = set
	h.setConfig(h.cfg)
	settler := settle.New(settle.Options{Store: h.store, Routes: func() []*config.Route { return h.rt.Load().Config.Routes }})
	svc, err := New(Options{
		Store: h.store, Runtime: h.rt.Load, Now: h.clock.Now, CreateTimeout: o.createTimeout, Settler: settler,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	ingestRT := &ingest.Runtime{Routes: ingest.NewRoutes(h.cfg), Payers: set.Payer}
	in, err := ingest.New(ingest.Options{
		Runtime: func() *ingest.Runtime { return ingestRT }, Store: h.store, Payouts: svc,
		Settler: svc.RefundAware(settler),
	})
	if err != nil {
		t.Fatal(err)
	}
	hooks.Config.Handler = in.Handler()
	mux := http.NewServeMux()
	svc.RegisterAPI(mux)
	auth := httpapi.NewAuthenticator([]httpapi.Token{
		{Name: "finance", Value: secret.New(financeToken), Scopes: []string{config.ScopePayouts, config.ScopeRefunds}},
		{Name: "auditor", Value: secret.New(auditToken), Scopes: []string{config.ScopeAudit}},
		{Name: "shop", Value: secret.New(shopToken), Scopes: []string{config.ScopePayments}},
	})
	h.api = httptest.NewServer(openapitest.Check(t, auth.Require(mux)))
	t.Cleanup(h.api.Close)
	return h
}

type response struct {
	status int
	body   []byte
}

func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (h *harness) do(method, path, key string, body any) response {
	h.t.Helper()
	return h.doAs(financeToken, method, path, key, body)
}

// doAs is do with another API token.
func (h *harness) doAs(token, method, path, key string, body any) response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.api.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b}
}

func (h *harness) payout(key string, body map[string]any) response {
	h.t.Helper()
	return h.do("POST", "/v1/payouts", key, body)
}

func (h *harness) get(id string) Payout {
	h.t.Helper()
	r := h.do("GET", "/v1/payouts/"+id, "", nil)
	if r.status != 200 {
		h.t.Fatalf("get %s: %d %s", id, r.status, r.body)
	}
	var p Payout
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// creates counts the create calls the emulator received for a reference.
func (h *harness) creates(reference string) int {
	n := 0
	for _, r := range h.emu.Requests() {
		if (strings.HasSuffix(r.Path, "/payouts/create-mobile-money-payout") || strings.HasSuffix(r.Path, "/payouts/create-bank-payout")) &&
			strings.Contains(r.Body, `"`+reference+`"`) {
			n++
		}
	}
	return n
}

func (h *harness) eventTypes(payoutID string) []string {
	var out []string
	for _, e := range h.store.EventsOf(payoutID) {
		out = append(out, e.Type)
	}
	return out
}

func payoutBody(ref, phone, amount string) map[string]any {
	return map[string]any{
		"provider": "clickpesa.tz", "reference": ref, "amount": amount, "currency": "TZS",
		"destination": map[string]any{"type": "mobile_money", "phone": phone}, "description": "refund of order 7",
	}
}

func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	testkit.Eventually(t, what, f)
}

// audit returns the audit trail, newest first.
func (h *harness) audit() []state.AuditEntry {
	h.t.Helper()
	es, err := h.store.ListAudit(context.Background(), state.AuditFilter{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func (s *Service) providersOrFail(t testing.TB, id string) Provider {
	t.Helper()
	p, ok := s.runtime().provider(id)
	if !ok {
		t.Fatalf("no payout client for %s", id)
	}
	return p
}
