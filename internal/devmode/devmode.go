// Package devmode is what `finconnectd serve -dev` runs on top of the normal
// daemon: the provider emulator in-process, a built-in configuration with
// one provider of each kind pointing at it, an ipn and one route per
// provider, a temporary SQLite store, and an event sink that verifies each
// delivered event's Standard Webhooks signature and logs it.
//
// The dev configuration is HCL source loaded through config.Loader, so it is
// validated exactly like an operator's file; credentials in it come from
// env() names that only this package's lookup function answers, so the
// source itself holds no secret. It listens on loopback only, and must not
// be used for anything but local development.
package devmode

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// Options configure Start.
type Options struct {
	Logger *slog.Logger
	// Stdout receives one human line per event the sink accepts (nil: none).
	Stdout io.Writer
	// Dir is where the temporary state directory is created (default: the
	// system's temp dir). It is removed by Close.
	Dir string
	// RecordFile, when set, is where Start writes the state store's path
	// (see CurrentStore), so the read-only commands' -dev flag finds the
	// store while this environment runs. Close removes it again.
	RecordFile string
	// PublicAddr and APIAddr are the listen addresses put into the config.
	// Empty prefers 127.0.0.1:8080 and 127.0.0.1:8081, else free ports;
	// "127.0.0.1:0" always picks a free port.
	PublicAddr string
	APIAddr    string
	// EmulatorAddr is the emulator's listen address. Empty prefers
	// DefaultEmulatorAddr and falls back to a free port (Env.Notes says
	// so); an address given here must be free.
	EmulatorAddr string
	// Delay is how long the emulated customer takes to answer (default 2s);
	// SlowAnswer is outcome 6's wait (default 60s).
	Delay      time.Duration
	SlowAnswer time.Duration
	// SyncEvery is the sync_payments schedule (default 10s).
	SyncEvery time.Duration
}

// Env is a running dev environment.
type Env struct {
	// Config is the loaded dev configuration (the daemon serves it).
	Config *config.Config
	// Source is its HCL text (no secrets in it: they are env() references).
	Source []byte
	// Emulator is the in-process provider emulator.
	Emulator *sandbox.Emulator
	// APIToken is the bearer token of the pay API (printed on purpose).
	APIToken string
	// PublicURL (webhooks), APIURL (pay API), SinkURL (event sink).
	PublicURL string
	APIURL    string
	SinkURL   string
	// Dir is the temporary directory holding the store.
	Dir string
	// Notes say which preferred address was taken and what was used
	// instead; the banner prints them.
	Notes []string

	recordFile string
	sink       *Sink
	log        *slog.Logger
}

// DefaultEmulatorAddr is where serve -dev's emulator listens unless that
// port is taken or another address is asked for, so its URLs
// (http://127.0.0.1:9999/_sandbox/requests) can be written down.
const DefaultEmulatorAddr = "127.0.0.1:9999"

// Preferred listen addresses of the dev daemon's webhook and API listeners.
const (
	defaultPublicAddr = "127.0.0.1:8080"
	defaultAPIAddr    = "127.0.0.1:8081"
)

// Start starts the emulator and the event sink, picks the addresses, writes
// the temporary state directory and loads the dev configuration. On error
// everything started is stopped again.
func Start(ctx context.Context, o Options) (env *Env, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Delay <= 0 {
		o.Delay = 2 * time.Second
	}
	if o.SlowAnswer <= 0 {
		o.SlowAnswer = 60 * time.Second
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = 10 * time.Second
	}
	e := &Env{log: log}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = e.Close(cctx)
			cancel()
			env = nil
		}
	}()

	public, err := pickAddr(o.PublicAddr, defaultPublicAddr)
	if err != nil {
		return nil, fmt.Errorf("dev mode: pick the webhook listen address: %w", err)
	}
	e.noteFallback("webhooks", o.PublicAddr, defaultPublicAddr, public)
	api, err := pickAddr(o.APIAddr, defaultAPIAddr)
	if err != nil {
		return nil, fmt.Errorf("dev mode: pick the API listen address: %w", err)
	}
	if api == public {
		if api, err = pickAddr("127.0.0.1:0", ""); err != nil {
			return nil, fmt.Errorf("dev mode: pick the API listen address: %w", err)
		}
	}
	e.noteFallback("pay API", o.APIAddr, defaultAPIAddr, api)
	e.PublicURL, e.APIURL = "http://"+public, "http://"+api

	e.Dir, err = os.MkdirTemp(o.Dir, "finconnectd-dev-")
	if err != nil {
		return nil, fmt.Errorf("dev mode: create the state directory: %w", err)
	}

	secrets := map[string]string{
		"FINCONNECT_DEV_API_TOKEN":        "dev_" + randomHex(24),
		"FINCONNECT_DEV_WEBHOOK_SECRET":   "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32)),
		"FINCONNECT_DEV_CHECKSUM_KEY":     randomHex(32),
		"FINCONNECT_DEV_PROVIDER_KEY":     "dev-" + randomHex(8),
		"FINCONNECT_DEV_PROVIDER_SECRET":  "dev-" + randomHex(16),
		"FINCONNECT_DEV_AZAMPAY_API_KEY":  "dev-" + randomHex(16),
		"FINCONNECT_DEV_CLICKPESA_CLIENT": "dev-" + randomHex(8),
	}
	e.APIToken = secrets["FINCONNECT_DEV_API_TOKEN"]

	e.sink, err = NewSink(SinkOptions{Secret: secrets["FINCONNECT_DEV_WEBHOOK_SECRET"], Logger: log, Stdout: o.Stdout})
	if err != nil {
		return nil, fmt.Errorf("dev mode: %w", err)
	}
	if err := e.sink.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("dev mode: %w", err)
	}
	e.SinkURL = e.sink.URL() + "/events"

	e.Emulator, err = sandbox.New(sandbox.Options{
		Logger: log.With("component", "sandbox"),
		Settings: sandbox.Settings{
			ClickPesaWebhook:     e.PublicURL + "/hooks/clickpesa",
			ClickPesaChecksumKey: secrets["FINCONNECT_DEV_CHECKSUM_KEY"],
			AzamPayCallback:      e.PublicURL + "/hooks/azampay",
			Delay:                sandbox.Duration(o.Delay),
			SlowAnswer:           sandbox.Duration(o.SlowAnswer),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("dev mode: %w", err)
	}
	if o.EmulatorAddr != "" {
		if err := e.Emulator.Start(o.EmulatorAddr); err != nil {
			return nil, fmt.Errorf("dev mode: %w", err)
		}
	} else if err := e.Emulator.Start(DefaultEmulatorAddr); err != nil {
		if err := e.Emulator.Start("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("dev mode: %w", err)
		}
		e.noteFallback("emulator", "", DefaultEmulatorAddr, strings.TrimPrefix(e.Emulator.URL(), "http://"))
	}

	// The emulator checks AzamPay disbursement checksums with its own key:
	// its public half is the dev merchant's disbursement key.
	secrets["FINCONNECT_DEV_AZAMPAY_DISBURSEMENT_KEY"] = string(e.Emulator.PublicKeyPEM())
	e.Source = []byte(Source(SourceParams{
		StatePath:    filepath.Join(e.Dir, storeFile),
		PublicListen: public,
		APIListen:    api,
		EmulatorURL:  e.Emulator.URL(),
		SinkURL:      e.SinkURL,
		SyncEvery:    o.SyncEvery,
	}))
	loader := config.NewLoader(func(name string) (string, bool) {
		v, ok := secrets[name]
		return v, ok
	})
	cfg, diags := loader.LoadSource("dev.hcl", e.Source, e.Dir)
	if diags.HasErrors() {
		var b strings.Builder
		_ = loader.WriteDiagnostics(&b, diags, 100, false)
		return nil, fmt.Errorf("dev mode: the built-in configuration does not load (a bug):\n%s", b.String())
	}
	e.Config = cfg
	if o.RecordFile != "" {
		if err := writeRecord(o.RecordFile, cfg.State.Path); err != nil {
			return nil, fmt.Errorf("dev mode: %w", err)
		}
		e.recordFile = o.RecordFile
	}
	log.Info("dev mode ready", "api", e.APIURL, "webhooks", e.PublicURL, "emulator", e.Emulator.URL(), "sink", e.SinkURL, "dir", e.Dir)
	return e, nil
}

// SourceParams fill the dev configuration template.
type SourceParams struct {
	StatePath    string
	PublicListen string // host:port
	APIListen    string
	EmulatorURL  string // http://127.0.0.1:PORT
	SinkURL      string
	SyncEvery    time.Duration
}

// Source renders the dev configuration. Credentials are env() references
// answered by Start's lookup function.
func Source(p SourceParams) string {
	public := "http://" + p.PublicListen
	var b strings.Builder
	fmt.Fprintf(&b, `# finconnectd serve -dev: the built-in configuration.
# Every provider points at the in-process emulator; events go to the built-in sink.

state {
  path = %s
}

server {
  listen     = %s
  public_url = %s
}

api {
  listen = %s

  # The dev token may do everything, the console included.
  token "dev" {
    value  = env("FINCONNECT_DEV_API_TOKEN")
    scopes = %s
  }
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("FINCONNECT_DEV_PROVIDER_KEY")
  consumer_secret = env("FINCONNECT_DEV_PROVIDER_SECRET")
  base_url        = %s
}

provider "clickpesa" "tz" {
  client_id    = env("FINCONNECT_DEV_CLICKPESA_CLIENT")
  api_key      = env("FINCONNECT_DEV_PROVIDER_SECRET")
  checksum_key = env("FINCONNECT_DEV_CHECKSUM_KEY")
  base_url     = %s

  # ClickPesa has no refund of a collection: refunds are payouts to the payer.
  refund_by_payout = true
}

provider "azampay" "tz" {
  environment   = "sandbox"
  app_name      = "finconnectd-dev"
  client_id     = env("FINCONNECT_DEV_PROVIDER_KEY")
  client_secret = env("FINCONNECT_DEV_PROVIDER_SECRET")
  api_key       = env("FINCONNECT_DEV_AZAMPAY_API_KEY")
  auth_url      = %s
  base_url      = %s

  # Payouts and refunds through AzamPay disbursement, from this account.
  disbursement_url     = %s
  disbursement_key     = env("FINCONNECT_DEV_AZAMPAY_DISBURSEMENT_KEY")
  disbursement_account = "255700000001"
  refund_by_payout     = true
}

ipn "orders" {
  provider          = provider.pesapal.ke
  url               = %s
  notification_type = "POST"
}

# Guardrails of money going out (payouts and refunds).
payouts {
  limit "TZS" {
    max_per_payout = "1000000"
    max_per_24h    = "5000000"
  }
}
`, q(p.StatePath), q(p.PublicListen), q(public), q(p.APIListen), allScopes(),
		q(p.EmulatorURL+"/pesapal"), q(p.EmulatorURL+"/clickpesa"),
		q(p.EmulatorURL+"/azampay-auth"), q(p.EmulatorURL+"/azampay"), q(p.EmulatorURL+"/azampay-disbursement"), q(public+"/hooks/pesapal"))
	for _, r := range []struct{ name, provider string }{
		{"pesapal", "provider.pesapal.ke"}, {"clickpesa", "provider.clickpesa.tz"}, {"azampay", "provider.azampay.tz"},
	} {
		fmt.Fprintf(&b, `
route %s {
  provider = %s
  path     = "/hooks/%s"

  forward {
    url     = %s
    secret  = env("FINCONNECT_DEV_WEBHOOK_SECRET")
    timeout = "5s"
  }
}
`, q(r.name), r.provider, r.name, q(p.SinkURL))
	}
	fmt.Fprintf(&b, `
schedule "sync_payments" { cron = %s }
`, q("@every "+p.SyncEvery.String()))
	return b.String()
}

// allScopes is every API token scope as an HCL list.
func allScopes() string {
	quoted := make([]string, 0, len(config.Scopes()))
	for _, s := range config.Scopes() {
		quoted = append(quoted, q(s))
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// q quotes s as an HCL string literal (escapes, and no ${ or %{ templates).
func q(s string) string {
	return string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes())
}

// Events returns what the sink accepted so far, oldest first.
func (e *Env) Events() []SinkEvent { return e.sink.Events() }

// Close stops the emulator and the sink and removes the temporary
// directory, so call it after the daemon has closed the store. It is
// idempotent and bounded by ctx. (There is no file to reload on SIGHUP in
// dev mode: Config is fixed for the Env's life.)
func (e *Env) Close(ctx context.Context) error {
	var errs []error
	if e.recordFile != "" {
		if err := removeRecord(e.recordFile, filepath.Join(e.Dir, storeFile)); err != nil {
			errs = append(errs, err)
		}
		e.recordFile = ""
	}
	if e.Emulator != nil {
		if err := e.Emulator.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop emulator: %w", err))
		}
	}
	if e.sink != nil {
		if err := e.sink.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop event sink: %w", err))
		}
	}
	if e.Dir != "" {
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// Banner is what serve -dev prints: the token, the addresses, and a curl
// line per provider that starts a payment (phone ending in 0: succeeds).
func (e *Env) Banner() string {
	var b strings.Builder
	b.WriteString("finconnectd is running in dev mode (emulated providers, temporary state).\n\n")
	for _, n := range e.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	if len(e.Notes) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  pay API      %s   token: %s\n", e.APIURL, e.APIToken)
	fmt.Fprintf(&b, "  webhooks     %s\n", e.PublicURL)
	if e.Emulator != nil {
		fmt.Fprintf(&b, "  emulator     %s   (what it received: %s/_sandbox/requests)\n", e.Emulator.URL(), e.Emulator.URL())
	}
	fmt.Fprintf(&b, "  event sink   %s\n", e.SinkURL)
	fmt.Fprintf(&b, "  state        %s\n\n", filepath.Join(e.Dir, storeFile))
	b.WriteString("Copy this line into another shell; the commands below use it:\n\n")
	fmt.Fprintf(&b, "  %s\n\n", e.ExportLine())
	b.WriteString("Start a payment; a moment later its payment.succeeded event is logged by the sink:\n\n")
	for _, c := range DemoPayments() {
		fmt.Fprintf(&b, "  %s\n\n", c.Curl())
	}
	b.WriteString("Pay out, then refund the ClickPesa payment above once it has succeeded (a refund is a payout to\n" +
		"the payer; payout.succeeded, refund.succeeded and payment.partially_refunded follow):\n\n")
	fmt.Fprintf(&b, "  %s\n\n", DemoPayout())
	fmt.Fprintf(&b, "  %s\n", DemoRefundLookup())
	fmt.Fprintf(&b, "  %s\n\n", DemoRefund())
	b.WriteString("  finconnectd payouts list -dev\n")
	b.WriteString("  finconnectd audit -dev\n\n")
	b.WriteString("List payments, through the API or straight from this daemon's store:\n\n")
	b.WriteString("  curl -sS -H \"Authorization: Bearer $TOKEN\" \"$API/v1/payments\"\n")
	b.WriteString("  finconnectd payments list -dev\n")
	b.WriteString("  finconnectd events list -dev\n\n")
	b.WriteString("The phone's last digit picks the outcome: 0 succeeds, 1 fails (insufficient funds), 2 the customer\n" +
		"cancels, 3 no notification (sync settles it), 4 notified twice, 5 provider error, 6 slow answer.\n")
	return b.String()
}

// DemoPayment is one example payment body for the banner.
type DemoPayment struct {
	Provider, Reference, Amount, Currency, Phone string
}

// DemoPayments are the banner's examples, one per provider, phone ending in 0.
func DemoPayments() []DemoPayment {
	return []DemoPayment{
		{"clickpesa.tz", "DEMOCLICKPESA1", "1000", "TZS", "255712345670"},
		{"azampay.tz", "DEMOAZAMPAY1", "1000", "TZS", "255712345670"},
		{"pesapal.ke", "DEMO-PESAPAL-1", "1500.00", "KES", "254712345670"},
	}
}

// Body is the JSON request body of d.
func (d DemoPayment) Body() string {
	return fmt.Sprintf(`{"provider":%q,"reference":%q,"amount":%q,"currency":%q,"phone":%q}`,
		d.Provider, d.Reference, d.Amount, d.Currency, d.Phone)
}

// ExportLine is the shell line that sets API and TOKEN to this
// environment's pay API URL and token, for the banner's commands.
func (e *Env) ExportLine() string {
	return fmt.Sprintf("export API=%s TOKEN=%s", e.APIURL, e.APIToken)
}

// Curl is a shell command that starts d through the pay API at $API with
// the token in $TOKEN (see ExportLine).
func (d DemoPayment) Curl() string {
	return fmt.Sprintf(`curl -sS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '%s' "$API/v1/payments"`, d.Body())
}

// DemoPayout is the banner's payout: 5000 TZS through ClickPesa to a
// number ending in 0 (paid).
func DemoPayout() string {
	return `curl -sS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"provider":"clickpesa.tz","reference":"DEMOPAYOUT1","amount":"5000","currency":"TZS","destination":{"type":"mobile_money","phone":"255712345670"}}' "$API/v1/payouts"`
}

// DemoRefundLookup sets PAY to the ID of the banner's ClickPesa payment.
func DemoRefundLookup() string {
	return `PAY=$(curl -sS -H "Authorization: Bearer $TOKEN" "$API/v1/payments?provider=clickpesa.tz&reference=DEMOCLICKPESA1" | grep -o 'pay_[a-z0-9]*' | head -n 1)`
}

// DemoRefund refunds 400 of the payment in $PAY (see DemoRefundLookup).
func DemoRefund() string {
	return `curl -sS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"reference":"DEMOREFUND1","amount":"400","reason":"demo refund"}' "$API/v1/payments/$PAY/refunds"`
}

// noteFallback records that the preferred address was taken when the
// caller asked for none.
func (e *Env) noteFallback(what, asked, preferred, got string) {
	if asked == "" && got != preferred {
		e.Notes = append(e.Notes, fmt.Sprintf("%s is in use, so the %s listens on %s instead.", preferred, what, got))
	}
}

// pickAddr returns want if it is free, else (for empty want) preferred if
// free, else a free loopback port.
func pickAddr(want, preferred string) (string, error) {
	try := func(addr string) (string, bool) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", false
		}
		got := ln.Addr().String()
		_ = ln.Close()
		return got, true
	}
	if want != "" {
		if a, ok := try(want); ok {
			return a, nil
		}
		return "", fmt.Errorf("%s is not free", want)
	}
	if preferred != "" {
		if a, ok := try(preferred); ok {
			return a, nil
		}
	}
	if a, ok := try("127.0.0.1:0"); ok {
		return a, nil
	}
	return "", errors.New("no free loopback port")
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
