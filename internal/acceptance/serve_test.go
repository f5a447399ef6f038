package acceptance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// providerKinds are the provider kinds, each with one provider block, one
// route (webhooks at /hooks/KIND) and one sink path (/KIND).
func providerKinds() []string { return []string{"pesapal", "clickpesa", "azampay"} }

// serveEnv is an operator's installation: the sandbox as the providers, a
// configuration directory for all three providers, the sink as the
// operator's endpoints, and (once started) `finconnectd serve`.
// acceptanceConcurrency is every route's forward.concurrency: the replica
// tests count the deliveries a replica holds at once by it.
const acceptanceConcurrency = 4

type serveEnv struct {
	t          *testing.T
	sb         *sandbox
	sink       *sink
	public     string // host:port of server.listen
	api        string // host:port of api.listen
	cfgDir     string
	cfgFile    string
	statePath  string
	syncCron   string
	env        []string
	canaries   []string
	token      string // ACC_API_TOKEN
	token2     string // ACC_API_TOKEN2, accepted once the config names it
	cpChecksum string // the ClickPesa checksum key
	serve      *proc

	// Set before the configuration is rendered again; empty: the default.
	stateHCL      string // the whole state block (default: SQLite at statePath)
	ipnURL        string // ipn "orders" url (default: this listener's /hooks/pesapal)
	reconcileCron string // schedule "reconcile" (default: @every 1h)
	fwdTimeout    string // every forward's timeout (default: 5s)
	apiHCL        string // more of the api block (token blocks)
	azHCL         string // more of the azampay provider block (disbursement)
	extraHCL      string // more top-level blocks (payouts)
}

// newServeEnv writes the configuration; the sandbox gets its dashboard
// settings (checksum key; webhook and callback URLs when notify is set).
func newServeEnv(t *testing.T, syncCron string, notify bool, sandboxSettings map[string]any) *serveEnv {
	t.Helper()
	e := &serveEnv{t: t, public: testkit.FreeAddr(t), api: testkit.FreeAddr(t), syncCron: syncCron}
	dir := t.TempDir()
	e.cfgDir = filepath.Join(dir, "config")
	if err := os.Mkdir(e.cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.cfgFile = filepath.Join(e.cfgDir, "finconnect.hcl")
	e.statePath = filepath.Join(dir, "finconnect.db")

	vals := map[string]string{
		"ACC_API_TOKEN":   canary(t, "api-token"),
		"ACC_API_TOKEN2":  canary(t, "api-token2"),
		"ACC_PP_KEY":      canary(t, "pesapal-key"),
		"ACC_PP_SECRET":   canary(t, "pesapal-secret"),
		"ACC_CP_CLIENT":   canary(t, "clickpesa-client"),
		"ACC_CP_KEY":      canary(t, "clickpesa-api-key"),
		"ACC_CP_CHECKSUM": canary(t, "clickpesa-checksum"),
		"ACC_AZ_CLIENT":   canary(t, "azampay-client"),
		"ACC_AZ_SECRET":   canary(t, "azampay-secret"),
		"ACC_AZ_KEY":      canary(t, "azampay-api-key"),
	}
	secrets := map[string]string{}
	for _, k := range providerKinds() {
		s, _ := whsec(t)
		vals["ACC_WHSEC_"+strings.ToUpper(k)] = s
		secrets["/"+k] = s
	}
	for k, v := range vals {
		e.env = append(e.env, k+"="+v)
		e.canaries = append(e.canaries, v)
	}
	e.token, e.token2, e.cpChecksum = vals["ACC_API_TOKEN"], vals["ACC_API_TOKEN2"], vals["ACC_CP_CHECKSUM"]
	e.sink = newSink(t, secrets)

	settings := map[string]any{"clickpesa-checksum-key": e.cpChecksum, "delay": "100ms"}
	if notify {
		settings["clickpesa-webhook"] = "http://" + e.public + "/hooks/clickpesa"
		settings["azampay-callback"] = "http://" + e.public + "/hooks/azampay"
	}
	for k, v := range sandboxSettings {
		settings[k] = v
	}
	e.sb = startSandbox(t, settings)
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	return e
}

// config renders the configuration with tokens as the api.tokens list's
// elements.
func (e *serveEnv) config(tokens string) string {
	stateHCL := fmt.Sprintf("state {\n  path = %q\n}", e.statePath)
	if e.stateHCL != "" {
		stateHCL = e.stateHCL
	}
	ipnURL := "http://" + e.public + "/hooks/pesapal"
	if e.ipnURL != "" {
		ipnURL = e.ipnURL
	}
	reconcileCron := "@every 1h"
	if e.reconcileCron != "" {
		reconcileCron = e.reconcileCron
	}
	fwdTimeout := "5s"
	if e.fwdTimeout != "" {
		fwdTimeout = e.fwdTimeout
	}
	var b strings.Builder
	fmt.Fprintf(&b, `%s

server {
  listen     = %q
  public_url = %q
}

api {
  listen = %q
  tokens = [%s]
%s}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("ACC_PP_KEY")
  consumer_secret = env("ACC_PP_SECRET")
  base_url        = %q
}

provider "clickpesa" "tz" {
  environment  = "sandbox"
  client_id    = env("ACC_CP_CLIENT")
  api_key      = env("ACC_CP_KEY")
  checksum_key = env("ACC_CP_CHECKSUM")
  base_url     = %q
}

provider "azampay" "tz" {
  environment   = "sandbox"
  app_name      = "acceptance"
  client_id     = env("ACC_AZ_CLIENT")
  client_secret = env("ACC_AZ_SECRET")
  api_key       = env("ACC_AZ_KEY")
  auth_url      = %q
  base_url      = %q
%s}

ipn "orders" {
  provider          = provider.pesapal.ke
  url               = %q
  notification_type = "POST"
}
`, stateHCL, e.public, "http://"+e.public, e.api, tokens, e.apiHCL,
		e.sb.url+"/pesapal", e.sb.url+"/clickpesa", e.sb.url+"/azampay-auth", e.sb.url+"/azampay", e.azHCL,
		ipnURL)
	for _, k := range providerKinds() {
		name := map[string]string{"pesapal": "ke", "clickpesa": "tz", "azampay": "tz"}[k]
		fmt.Fprintf(&b, `
route %q {
  provider = provider.%s.%s
  path     = "/hooks/%s"

  forward {
    url         = %q
    secret      = env("ACC_WHSEC_%s")
    timeout     = %q
    concurrency = %d
  }
}
`, k, k, name, k, e.sink.url("/"+k), strings.ToUpper(k), fwdTimeout, acceptanceConcurrency)
	}
	fmt.Fprintf(&b, `
schedule "reconcile" {
  cron = %q
}

schedule "refresh_keys" {
  cron = "@every 1h"
}

schedule "sync_payments" {
  cron = %q
}
%s`, reconcileCron, e.syncCron, e.extraHCL)
	return b.String()
}

// apply runs `finconnectd apply -auto-approve` (the IPN and the AzamPay
// key) and returns its output.
func (e *serveEnv) apply() string {
	e.t.Helper()
	r := runCLI(e.t, e.env, "apply", "-auto-approve", "-config", e.cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete!") {
		e.t.Fatalf("apply:\n%s", r)
	}
	return r.stdout + r.stderr
}

// start runs `finconnectd serve -config DIR` and waits for /readyz.
func (e *serveEnv) start() {
	e.t.Helper()
	e.serve = startProc(e.t, "serve", e.env, "serve", "-config", e.cfgDir)
	e.serve.waitHTTP(e.t, "http://"+e.api+"/readyz", 30*time.Second)
}

// payment is the pay API's payment.
type payment struct {
	ID                string `json:"id"`
	Provider          string `json:"provider"`
	Reference         string `json:"reference"`
	Status            string `json:"status"`
	Amount            string `json:"amount"`
	Currency          string `json:"currency"`
	ProviderReference string `json:"provider_reference"`
	RedirectURL       string `json:"redirect_url"`
}

// problem is an application/problem+json answer.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	PaymentID string `json:"payment_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
	Payment *payment `json:"payment"`
}

// call is one pay/events API request with the token; extra headers are
// name, value pairs.
func (e *serveEnv) call(method, path, token string, body []byte, headers ...string) (int, http.Header, []byte) {
	e.t.Helper()
	if token != "" {
		headers = append(headers, "Authorization", "Bearer "+token)
	}
	return httpDoH(e.t, method, "http://"+e.api+path, headers, body)
}

// pay starts a payment and wants 201 pending, or already settled: the
// provider's notification can be applied before its answer to the
// initiation is recorded (a loaded machine), and the answer then reports
// the settled status.
func (e *serveEnv) pay(provider, ref, amount, currency, phone string) payment {
	e.t.Helper()
	body := fmt.Appendf(nil, `{"provider":%q,"reference":%q,"amount":%q,"currency":%q,"phone":%q}`, provider, ref, amount, currency, phone)
	code, _, resp := e.call(http.MethodPost, "/v1/payments", e.token, body)
	var p payment
	if code != http.StatusCreated || json.Unmarshal(resp, &p) != nil || !startedStatus(p.Status) || !strings.HasPrefix(p.ID, "pay_") {
		e.t.Fatalf("POST /v1/payments %s: want 201 pending (or already settled), got %d %s", ref, code, resp)
	}
	return p
}

// startedStatus: what a 201 may say of a payment just started.
func startedStatus(s string) bool {
	return s == "pending" || s == "succeeded" || s == "failed"
}

// getPayment is GET /v1/payments/{id}.
func (e *serveEnv) getPayment(id string) payment {
	e.t.Helper()
	code, _, resp := e.call(http.MethodGet, "/v1/payments/"+id, e.token, nil)
	var p payment
	if code != http.StatusOK || json.Unmarshal(resp, &p) != nil {
		e.t.Fatalf("GET /v1/payments/%s: %d %s", id, code, resp)
	}
	return p
}

// deliveryView is one row of GET /v1/events.
type deliveryView struct {
	ID        string `json:"id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	PaymentID string `json:"payment_id"`
	Route     string `json:"route"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
}

// deliveries is GET /v1/events (every delivery, newest first).
func (e *serveEnv) deliveries() []deliveryView {
	e.t.Helper()
	code, _, resp := e.call(http.MethodGet, "/v1/events?limit=1000", e.token, nil)
	var l struct {
		Deliveries []deliveryView `json:"deliveries"`
	}
	if code != http.StatusOK || json.Unmarshal(resp, &l) != nil {
		e.t.Fatalf("GET /v1/events: %d %s", code, resp)
	}
	return l.Deliveries
}

// deliveriesOf filters deliveries by payment.
func (e *serveEnv) deliveriesOf(paymentID string) []deliveryView {
	e.t.Helper()
	var out []deliveryView
	for _, d := range e.deliveries() {
		if d.PaymentID == paymentID {
			out = append(out, d)
		}
	}
	return out
}

// clickpesaWebhook builds a ClickPesa "PAYMENT RECEIVED" webhook for a
// payment, with a checksum computed (canonical method) with key; an empty
// key leaves the checksum out.
func clickpesaWebhook(t *testing.T, p payment, phone, key string) []byte {
	t.Helper()
	data := map[string]any{
		"id": p.ProviderReference, "status": "SUCCESS", "orderReference": p.Reference, "message": "success",
		"channel": "TIGO-PESA", "createdAt": time.Now().UTC().Format(time.RFC3339), "updatedAt": time.Now().UTC().Format(time.RFC3339),
		"paymentReference": "forged0001", "collectedAmount": p.Amount, "collectedCurrency": p.Currency,
		"customer": map[string]any{"customerName": "Mallory", "customerEmail": nil, "customerPhoneNumber": phone},
	}
	body := map[string]any{"event": "PAYMENT RECEIVED", "data": data}
	if key != "" {
		payload := compactJSON(t, body)
		sum, err := clickpesa.Checksum("canonical", []byte(key), payload)
		if err != nil {
			t.Fatal(err)
		}
		body["checksum"], body["checksumMethod"] = sum, "canonical"
	}
	return compactJSON(t, body)
}

func compactJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// TestServeAllProviders is issue 5's "Done when", with every piece a
// separate process or server: after `apply`, one payment per provider
// started through the pay API is notified by the sandbox (PesaPal IPN
// confirmed by a status query, ClickPesa webhook with checksum, AzamPay
// callback signed with RSA), verified by serve, and reaches the operator's
// endpoint as exactly one payment.succeeded whose Standard Webhooks
// signature verifies with that route's secret. A forged ClickPesa webhook
// is refused and changes nothing; a failing endpoint gets the event after
// it recovers, under the same webhook-id; SIGHUP applies a valid edited
// configuration and refuses a broken one while serving on; SIGTERM exits 0.
func TestServeAllProviders(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1h", true, nil)
	applyOut := e.apply()
	e.start()

	// One payment per provider, phone ending in 0: succeeds.
	type want struct {
		p    payment
		path string // the sink path of its route
	}
	var paid []want
	for _, c := range []struct{ provider, ref, amount, currency, phone string }{
		{"pesapal.ke", "ACC-PP-1", "1500.00", "KES", "254712345670"},
		{"clickpesa.tz", "ACCCP1", "1000", "TZS", "255712345670"},
		{"azampay.tz", "ACC-AZ-1", "1000", "TZS", "255712345670"},
	} {
		p := e.pay(c.provider, c.ref, c.amount, c.currency, c.phone)
		if p.Provider != c.provider || p.Reference != c.ref {
			t.Fatalf("payment %+v: want provider %s reference %s", p, c.provider, c.ref)
		}
		if c.provider == "pesapal.ke" && !strings.HasPrefix(p.RedirectURL, e.sb.url+"/pesapal/") {
			t.Errorf("PesaPal payment: redirect_url %q, want the sandbox's hosted page", p.RedirectURL)
		}
		paid = append(paid, want{p, "/" + strings.Split(c.provider, ".")[0]})
	}
	// Phone ending 4: the provider notifies twice; one event.
	twice := e.pay("clickpesa.tz", "ACCCP4", "1000", "TZS", "255712345674")
	for _, w := range paid {
		eventually(t, 30*time.Second, "payment.succeeded of "+w.p.Reference+" at the sink", func() bool {
			return len(e.sink.accepted(w.p.Reference)) > 0
		})
		got := e.sink.accepted(w.p.Reference)[0]
		if got.Type != "payment.succeeded" || got.Path != w.path || got.Data.PaymentID != w.p.ID ||
			got.Data.Reference != w.p.Reference || got.Data.Provider != w.p.Provider || got.Data.Status != "succeeded" ||
			got.Data.Amount != w.p.Amount || got.Data.Currency != w.p.Currency || !strings.HasPrefix(got.WebhookID, "evt_") {
			t.Errorf("%s: the sink got %+v; want payment.succeeded at %s for %s", w.p.Reference, got, w.path, w.p.ID)
		}
		if p := e.getPayment(w.p.ID); p.Status != "succeeded" {
			t.Errorf("%s: GET /v1/payments/%s says %q, want succeeded", w.p.Reference, w.p.ID, p.Status)
		}
	}

	// Both of ACCCP4's notifications were processed, so nothing is in
	// flight while the forged webhooks are checked.
	eventually(t, 20*time.Second, "ACCCP4's two webhooks", func() bool {
		n := 0
		for _, l := range strings.Split(e.serve.output(), "\n") {
			if strings.Contains(l, `"msg":"webhook"`) && strings.Contains(l, `"reference":"ACCCP4"`) {
				n++
			}
		}
		return n >= 2
	})
	eventually(t, 20*time.Second, "ACCCP4 at the sink", func() bool { return len(e.sink.accepted("ACCCP4")) > 0 })

	// A forged ClickPesa webhook (checksum with a guessed key, or none) for
	// a pending payment is refused and changes nothing.
	pending := e.pay("clickpesa.tz", "ACCCP3", "1000", "TZS", "255712345673") // no notification is ever sent
	before := len(e.deliveries())
	sinkBefore := len(e.sink.all())
	for name, key := range map[string]string{"a checksum made with a guessed key": "guessed-key", "no checksum": ""} {
		code, resp := httpDo(t, http.MethodPost, "http://"+e.public+"/hooks/clickpesa", nil, clickpesaWebhook(t, pending, "255712345673", key))
		if code < 400 || code >= 500 {
			t.Errorf("forged ClickPesa webhook with %s: status %d, want 4xx (%s)", name, code, resp)
		}
	}
	if n := len(e.deliveries()); n != before {
		t.Errorf("forged webhooks changed GET /v1/events: %d deliveries, want %d", n, before)
	}
	if p := e.getPayment(pending.ID); p.Status != "pending" {
		t.Errorf("after forged webhooks payment %s is %q, want pending", pending.ID, p.Status)
	}
	if n := len(e.sink.all()); n != sinkBefore {
		t.Errorf("the sink got %d requests after the forged webhooks, want none", n-sinkBefore)
	}
	// The same webhook with the right checksum is accepted: the refusals
	// above were about the checksum, not the body.
	code, resp := httpDo(t, http.MethodPost, "http://"+e.public+"/hooks/clickpesa", nil, clickpesaWebhook(t, pending, "255712345673", e.cpChecksum))
	if code != http.StatusOK {
		t.Fatalf("genuine ClickPesa webhook: status %d, want 200 (%s)", code, resp)
	}
	eventually(t, 20*time.Second, "the genuine webhook's event at the sink", func() bool { return len(e.sink.accepted("ACCCP3")) == 1 })
	for _, r := range e.sink.all()[sinkBefore:] {
		if r.Data.Reference != "ACCCP3" {
			t.Errorf("the sink got %+v after the forged webhooks; want only ACCCP3's genuine event", r)
		}
	}

	// An endpoint that fails (500, then 503 with Retry-After) gets the
	// event once it recovers, under the same webhook-id.
	e.sink.failFirst("ACCCPR", http.StatusInternalServerError, http.StatusServiceUnavailable)
	retried := e.pay("clickpesa.tz", "ACCCPR", "2500", "TZS", "255712345670")
	eventually(t, 40*time.Second, "ACCCPR delivered after two failures", func() bool { return len(e.sink.accepted("ACCCPR")) == 1 })
	tries := e.sink.forRef("ACCCPR")
	if len(tries) != 3 || tries[0].Answer != 500 || tries[1].Answer != 503 || tries[2].Answer/100 != 2 {
		t.Errorf("ACCCPR attempts at the sink: %+v; want 500, 503, 2xx", tries)
	}
	for _, r := range tries {
		if r.WebhookID != tries[0].WebhookID {
			t.Errorf("retries changed the webhook-id: %s then %s", tries[0].WebhookID, r.WebhookID)
		}
	}
	// The sink answered the third attempt; the daemon records it just
	// after: wait for the record, not only for the POST.
	var ev struct {
		PaymentID string `json:"payment_id"`
		Attempts  []struct {
			StatusCode int `json:"status_code"`
		} `json:"attempts"`
		Deliveries []deliveryView `json:"deliveries"`
	}
	eventually(t, 10*time.Second, "ACCCPR's third attempt recorded", func() bool {
		code, _, resp = e.call(http.MethodGet, "/v1/events/"+tries[0].WebhookID, e.token, nil)
		if code != http.StatusOK || json.Unmarshal(resp, &ev) != nil {
			t.Fatalf("GET /v1/events/%s: %d %s", tries[0].WebhookID, code, resp)
		}
		return len(ev.Attempts) >= 3
	})
	if ev.PaymentID != retried.ID || len(ev.Attempts) != 3 || len(ev.Deliveries) != 1 || ev.Deliveries[0].Status != "delivered" {
		t.Errorf("GET /v1/events/%s: %s; want 3 attempts and one delivered delivery of %s", tries[0].WebhookID, resp, retried.ID)
	}

	// SIGHUP with a valid edited configuration: a second API token.
	if code, _, _ := e.call(http.MethodGet, "/v1/payments", e.token2, nil); code != http.StatusUnauthorized {
		t.Fatalf("the second token before the reload: %d, want 401", code)
	}
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN"), env("ACC_API_TOKEN2")`))
	e.serve.signal(t, syscall.SIGHUP)
	e.serve.waitOutput(t, "configuration reloaded", 15*time.Second)
	if code, _, resp := e.call(http.MethodGet, "/v1/payments", e.token2, nil); code != http.StatusOK {
		t.Fatalf("the second token after the reload: %d %s, want 200", code, resp)
	}
	// SIGHUP with a broken configuration: refused, still serving.
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`)+"\nroute \"broken\" {\n  provider = provider.mpesa.nowhere\n")
	e.serve.signal(t, syscall.SIGHUP)
	e.serve.waitOutput(t, "config reload failed", 15*time.Second)
	if e.serve.exited() {
		t.Fatal("serve exited after a broken reload")
	}
	for _, tok := range []string{e.token, e.token2} {
		if code, _, resp := e.call(http.MethodGet, "/v1/payments", tok, nil); code != http.StatusOK {
			t.Fatalf("pay API after a refused reload: %d %s, want 200 (the previous configuration stays)", code, resp)
		}
	}
	if p := e.pay("clickpesa.tz", "ACCCP9", "1000", "TZS", "255712345670"); p.Status != "pending" {
		t.Fatalf("payment after a refused reload: %+v", p)
	}
	eventually(t, 20*time.Second, "ACCCP9 at the sink after the refused reload", func() bool { return len(e.sink.accepted("ACCCP9")) == 1 })

	// Exactly one payment.succeeded per payment: at the sink, and as one
	// delivery in the events API (once the last answers are recorded).
	eventually(t, 10*time.Second, "every delivery recorded", func() bool {
		for _, d := range e.deliveries() {
			if d.Status != "delivered" {
				return false
			}
		}
		return true
	})
	for _, w := range append(paid, want{p: retried}, want{p: pending}, want{p: twice}) {
		if n := len(e.sink.accepted(w.p.Reference)); n != 1 {
			t.Errorf("%s reached the sink %d times, want 1", w.p.Reference, n)
		}
		ds := e.deliveriesOf(w.p.ID)
		if len(ds) != 1 || ds[0].EventType != "payment.succeeded" || ds[0].Status != "delivered" {
			t.Errorf("%s: deliveries %+v; want one delivered payment.succeeded", w.p.Reference, ds)
		}
	}
	e.sink.checkClean(t)

	// What happened is counted in /metrics (no token needed).
	code, _, resp = e.call(http.MethodGet, "/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`finconnectd_webhooks_rejected_total{reason="bad_signature",route="clickpesa"} 2`,
		`finconnectd_config_reloads_total{outcome="ok"} 1`,
		`finconnectd_config_reloads_total{outcome="error"} 1`,
	} {
		if !strings.Contains(string(resp), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// SIGTERM: drains and exits 0.
	e.serve.signal(t, syscall.SIGTERM)
	if code := e.serve.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(e.serve.output(), `"msg":"stopped"`) {
		t.Errorf("serve did not log a clean stop")
	}

	noCanaries(t, e.canaries, map[string]string{
		"apply output": applyOut, "serve output": e.serve.output(),
	})
	noCanaries(t, []string{e.cpChecksum}, map[string]string{"sandbox output": e.sb.output()})
}
