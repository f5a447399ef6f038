package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/openapi/openapitest"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

const testToken = "test-api-token"

// eventsToken is a valid token without the payments scope.
const eventsToken = "test-events-token"

// harness is the pay API on a loopback server, in front of the emulator.
type harness struct {
	t      testing.TB
	emu    *sandbox.Emulator
	store  *teststore.Store
	svc    *Service
	srv    *httptest.Server
	clock  *testkit.OffsetClock
	cfg    *config.Config
	payers map[string]providers.Payer
}

type harnessOptions struct {
	settings        sandbox.Settings
	initiateTimeout time.Duration
	// clocked gives the emulator and the provider clients the harness
	// clock, so a test can expire tokens by moving it.
	clocked bool
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	if o.settings.Delay == 0 {
		o.settings.Delay = sandbox.Duration(20 * time.Millisecond)
	}
	if o.settings.SlowAnswer == 0 {
		o.settings.SlowAnswer = sandbox.Duration(2 * time.Second)
	}
	clk := &testkit.OffsetClock{}
	eo := sandbox.Options{Settings: o.settings}
	if o.clocked {
		eo.Now = clk.Now
	}
	emu, err := sandbox.New(eo)
	if err != nil {
		t.Fatalf("new emulator: %v", err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Stop(ctx)
	})
	base := emu.URL()
	cfg := &config.Config{
		Providers: []*config.Provider{
			{Kind: "pesapal", Name: "ke", Environment: "sandbox", PesaPal: &config.PesaPalConfig{
				ConsumerKey: secret.New("key"), ConsumerSecret: secret.New("secret"), BaseURL: base + "/pesapal"}},
			{Kind: "clickpesa", Name: "tz", ClickPesa: &config.ClickPesaConfig{
				ClientID: secret.New("id"), APIKey: secret.New("key"), BaseURL: base + "/clickpesa"}},
			{Kind: "azampay", Name: "tz", Environment: "sandbox", AzamPay: &config.AzamPayConfig{
				AppName: "shop", ClientID: secret.New("id"), ClientSecret: secret.New("secret"), APIKey: secret.New("key"),
				AuthURL: base + "/azampay-auth", BaseURL: base + "/azampay"}},
		},
		IPNs:   []*config.IPN{{Name: "orders", Provider: "pesapal.ke", URL: "http://127.0.0.1:1/hooks/pesapal", NotificationType: "POST"}},
		Server: config.ServerConfig{PublicURL: "http://127.0.0.1:1"},
		Routes: []*config.Route{
			{Name: "pp", Provider: "pesapal.ke", Path: "/hooks/pesapal", Events: config.EventTypes()},
			{Name: "cp", Provider: "clickpesa.tz", Path: "/hooks/clickpesa", Events: config.EventTypes()},
			{Name: "az", Provider: "azampay.tz", Path: "/hooks/azampay", Events: config.EventTypes()},
		},
	}
	h := &harness{t: t, emu: emu, store: teststore.New(t), clock: clk, cfg: cfg, payers: map[string]providers.Payer{}}
	if o.clocked {
		h.payers = clockedPayers(t, cfg, clk.Now)
	} else {
		h.payers = testPayers(t, cfg)
	}

	// Register the ipn at the emulator and record it in state, as apply does.
	pp := h.payers["pesapal.ke"].(*pesapal.Client)
	reg, err := pp.RegisterIPN(context.Background(), cfg.IPNs[0].URL, "POST")
	if err != nil {
		t.Fatalf("register ipn: %v", err)
	}
	attrs, _ := json.Marshal(map[string]string{"ipn_id": reg.IPNID, "url": cfg.IPNs[0].URL})
	if _, err := h.store.PutResource(context.Background(), state.Resource{Address: "ipn.orders", Type: "ipn", Attributes: attrs}); err != nil {
		t.Fatal(err)
	}

	settler := settle.New(settle.Options{Store: h.store, Routes: func() []*config.Route { return cfg.Routes }, Now: h.clock.Now})
	rt := &Runtime{Config: cfg, Payers: func(id string) (providers.Payer, bool) { p, ok := h.payers[id]; return p, ok }}
	svc, err := New(Options{
		Store:           h.store,
		Runtime:         func() *Runtime { return rt },
		Settler:         settler,
		Now:             h.clock.Now,
		InitiateTimeout: o.initiateTimeout,
	})
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	h.svc = svc
	mux := http.NewServeMux()
	svc.RegisterAPI(mux)
	h.srv = httptest.NewServer(openapitest.Check(t, httpapi.NewAuthenticator([]httpapi.Token{
		{Name: "shop", Value: secret.New(testToken), Scopes: []string{config.ScopePayments}},
		{Name: "ops", Value: secret.New(eventsToken), Scopes: []string{config.ScopeEvents, config.ScopeConsoleOperate}},
	}).Require(mux)))
	t.Cleanup(h.srv.Close)
	return h
}

// testPayers builds the provider clients the way the daemon does.
func testPayers(t testing.TB, cfg *config.Config) map[string]providers.Payer {
	t.Helper()
	set, err := clients.New(cfg, clients.Options{})
	if err != nil {
		t.Fatalf("provider clients: %v", err)
	}
	out := map[string]providers.Payer{}
	for _, id := range set.IDs() {
		out[id], _ = set.Payer(id)
	}
	return out
}

// clockedPayers builds the three clients directly, with the test clock.
func clockedPayers(t testing.TB, cfg *config.Config, now func() time.Time) map[string]providers.Payer {
	t.Helper()
	out := map[string]providers.Payer{}
	for _, p := range cfg.Providers {
		var (
			c   providers.Payer
			err error
		)
		switch p.Kind {
		case "pesapal":
			c, err = pesapal.New(pesapal.Options{BaseURL: p.PesaPal.BaseURL, ConsumerKey: p.PesaPal.ConsumerKey, ConsumerSecret: p.PesaPal.ConsumerSecret, Now: now})
		case "clickpesa":
			c, err = clickpesa.New(clickpesa.Options{BaseURL: p.ClickPesa.BaseURL, ClientID: p.ClickPesa.ClientID, APIKey: p.ClickPesa.APIKey, Now: now})
		case "azampay":
			a := p.AzamPay
			c, err = azampay.New(azampay.Options{AuthURL: a.AuthURL, BaseURL: a.BaseURL, AppName: a.AppName, ClientID: a.ClientID, ClientSecret: a.ClientSecret, APIKey: a.APIKey, Now: now})
		}
		if err != nil {
			t.Fatalf("%s client: %v", p.ID(), err)
		}
		out[p.ID()] = c
	}
	return out
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (h *harness) do(method, path, token, key string, body []byte) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) pay(key string, body map[string]any) response {
	h.t.Helper()
	b, _ := json.Marshal(body)
	return h.do(http.MethodPost, "/v1/payments", testToken, key, b)
}

func (h *harness) get(id string, refresh bool) Payment {
	h.t.Helper()
	path := "/v1/payments/" + id
	if refresh {
		path += "?refresh=true"
	}
	r := h.do(http.MethodGet, path, testToken, "", nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var p Payment
	r.decode(h.t, &p)
	return p
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, f func() bool) {
	t.Helper()
	testkit.EventuallyWithin(t, within, what, f)
}

// pushes counts initiation requests the emulator received for a reference.
func (h *harness) pushes(reference string) int {
	n := 0
	for _, r := range h.emu.Requests() {
		switch r.Path {
		case "/pesapal/api/Transactions/SubmitOrderRequest", "/clickpesa/third-parties/payments/initiate-ussd-push-request", "/azampay/azampay/mno/checkout":
			if bytes.Contains([]byte(r.Body), []byte(`"`+reference+`"`)) {
				n++
			}
		}
	}
	return n
}

func (h *harness) countPath(suffix string) int {
	n := 0
	for _, r := range h.emu.Requests() {
		if len(r.Path) >= len(suffix) && r.Path[len(r.Path)-len(suffix):] == suffix {
			n++
		}
	}
	return n
}

func paymentBody(provider, ref, phone string) map[string]any {
	switch provider {
	case "pesapal.ke":
		return map[string]any{"provider": provider, "reference": ref, "amount": "1500.00", "currency": "KES", "phone": phone,
			"description": "Order " + ref, "customer": map[string]any{"email": "jane@example.com", "first_name": "Jane"},
			"callback_url": "https://shop.example.com/thanks"}
	default:
		return map[string]any{"provider": provider, "reference": ref, "amount": "1000", "currency": "TZS", "phone": phone}
	}
}
