package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/invalid/*.golden, the reference in docs/configuration.md)")

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes

// testEnv is the environment the test configurations read.
func testEnv() map[string]string {
	return map[string]string{
		"TOKEN":                 "test-api-token",
		"KEY":                   "test-key",
		"WEBHOOK_SECRET":        testWebhookSecret,
		"NOT_A_WEBHOOK_SECRET":  "plain-text-webhook-secret",
		"FINCONNECT_API_TOKEN":  "test-api-token",
		"ORDERS_WEBHOOK_SECRET": testWebhookSecret,
		"SHOP_TOKEN":            "shop-token",
		"FINANCE_TOKEN":         "finance-token",
		"OPS_TOKEN":             "ops-token",
		"EMPTY_TOKEN":           " ",
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// render writes diags as validate does (width 78, no colour).
func render(t testing.TB, l *Loader, diags hcl.Diagnostics) string {
	t.Helper()
	var buf bytes.Buffer
	if err := l.WriteDiagnostics(&buf, diags, 78, false); err != nil {
		t.Fatalf("rendering the diagnostics: %v", err)
	}
	return buf.String()
}

// noErrors stops the test when diags has an error, showing them all.
func noErrors(t testing.TB, l *Loader, diags hcl.Diagnostics) {
	t.Helper()
	if diags.HasErrors() {
		t.Fatalf("the configuration has errors, want none:\n%s", render(t, l, diags))
	}
}

// checkString reports what (a field of the configuration) when got is not
// want.
func checkString(t testing.TB, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func loadSource(t testing.TB, src string) (*Config, hcl.Diagnostics, *Loader) {
	t.Helper()
	l := NewLoader(lookup(testEnv()))
	cfg, diags := l.LoadSource("test.hcl", []byte(src), t.TempDir())
	return cfg, diags, l
}

const specExample = `
state {
  backend = "sqlite"
  path    = "/var/lib/finconnectd/finconnect.db"
}

server {
  listen     = ":8080"
  public_url = "https://pay.example.com"
}

api {
  listen = "127.0.0.1:8081"
  tokens = [env("FINCONNECT_API_TOKEN")]
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}

provider "clickpesa" "tz" {
  client_id    = env("KEY")
  api_key      = env("KEY")
  checksum_key = env("KEY")
}

provider "azampay" "tz" {
  environment   = "sandbox"
  app_name      = "myshop"
  client_id     = env("KEY")
  client_secret = env("KEY")
  api_key       = env("KEY")
}

ipn "orders" {
  provider          = provider.pesapal.ke
  url               = "https://pay.example.com/hooks/pesapal"
  notification_type = "POST"
}

route "pesapal_orders" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"
  events   = ["payment.succeeded", "payment.failed", "payment.reversed"]

  forward {
    url         = "http://127.0.0.1:9000/payments/events"
    secret      = env("ORDERS_WEBHOOK_SECRET")
    timeout     = "10s"
    concurrency = 4
  }

  retry {
    max_attempts = 15
    max_age      = "72h"
  }
}

schedule "reconcile"     { cron = "*/15 * * * *" }
schedule "refresh_keys"  { cron = "@hourly" }
schedule "sync_payments" { cron = "@every 1m" }
`

func TestLoadSpecExample(t *testing.T) {
	cfg, diags, l := loadSource(t, specExample)
	noErrors(t, l, diags)
	if len(diags) != 0 {
		t.Errorf("warnings, want none:\n%s", render(t, l, diags))
	}

	checkString(t, "state backend", cfg.State.Backend, "sqlite")
	checkString(t, "state path", cfg.State.Path, "/var/lib/finconnectd/finconnect.db")
	checkString(t, "server listen", cfg.Server.Listen, ":8080")
	checkString(t, "server public_url", cfg.Server.PublicURL, "https://pay.example.com")
	checkString(t, "api listen", cfg.API.Listen, "127.0.0.1:8081")
	if len(cfg.API.Tokens) != 1 {
		t.Fatalf("%d API tokens, want 1", len(cfg.API.Tokens))
	}
	checkString(t, "api token", cfg.API.Tokens[0].Value.Reveal(), "test-api-token")

	if len(cfg.Providers) != 3 {
		t.Fatalf("%d providers, want 3", len(cfg.Providers))
	}
	pp := cfg.Provider("pesapal.ke")
	if pp == nil {
		t.Fatal("no provider pesapal.ke")
	}
	checkString(t, "pesapal environment", pp.Environment, "sandbox")
	checkString(t, "pesapal base_url", pp.PesaPal.BaseURL, "https://cybqa.pesapal.com/pesapalv3")
	checkString(t, "pesapal consumer_key", pp.PesaPal.ConsumerKey.Reveal(), "test-key")
	if pp.ClickPesa != nil {
		t.Errorf("pesapal provider has ClickPesa settings %+v, want nil", pp.ClickPesa)
	}
	if pp.AzamPay != nil {
		t.Errorf("pesapal provider has AzamPay settings %+v, want nil", pp.AzamPay)
	}
	checkString(t, "pesapal declared in", pp.DeclRange.Filename, "test.hcl")

	cp := cfg.Provider("clickpesa.tz")
	if cp == nil {
		t.Fatal("no provider clickpesa.tz")
	}
	checkString(t, "clickpesa environment", cp.Environment, "live")
	checkString(t, "clickpesa base_url", cp.ClickPesa.BaseURL, "https://api.clickpesa.com/third-parties")
	checkString(t, "clickpesa checksum_method", cp.ClickPesa.ChecksumMethod, "canonical")
	if cp.ClickPesa.ChecksumKey.IsZero() {
		t.Error("clickpesa checksum_key is empty, want the key from env")
	}

	ap := cfg.Provider("azampay.tz")
	if ap == nil {
		t.Fatal("no provider azampay.tz")
	}
	checkString(t, "azampay app_name", ap.AzamPay.AppName, "myshop")
	checkString(t, "azampay auth_url", ap.AzamPay.AuthURL, "https://authenticator-sandbox.azampay.co.tz")
	checkString(t, "azampay base_url", ap.AzamPay.BaseURL, "https://sandbox.azampay.co.tz")
	checkString(t, "azampay public_key_url", ap.AzamPay.PublicKeyURL, "https://sandbox.azampay.co.tz/azampay/v1/public-key?format=Pem")
	checkString(t, "azampay phone_format", ap.AzamPay.PhoneFormat, "local")

	if len(cfg.IPNs) != 1 {
		t.Fatalf("%d IPNs, want 1", len(cfg.IPNs))
	}
	wantIPN := IPN{Name: "orders", Provider: "pesapal.ke", URL: "https://pay.example.com/hooks/pesapal", NotificationType: "POST", DeclRange: cfg.IPNs[0].DeclRange}
	if cfg.IPNs[0] == nil || *cfg.IPNs[0] != wantIPN {
		t.Errorf("ipn = %+v, want %+v", cfg.IPNs[0], wantIPN)
	}
	checkString(t, "ipn address", cfg.IPN("orders").Address(), "ipn.orders")

	rt := cfg.Route("pesapal_orders")
	if rt == nil {
		t.Fatal("no route pesapal_orders")
	}
	checkString(t, "route provider", rt.Provider, "pesapal.ke")
	checkString(t, "route path", rt.Path, "/hooks/pesapal")
	if want := []string{"payment.succeeded", "payment.failed", "payment.reversed"}; !reflect.DeepEqual(rt.Events, want) {
		t.Errorf("route events = %q, want %q", rt.Events, want)
	}
	checkString(t, "route forward url", rt.Forward.URL, "http://127.0.0.1:9000/payments/events")
	checkString(t, "route forward secret", rt.Forward.Secret.Reveal(), testWebhookSecret)
	if rt.Forward.Timeout != 10*time.Second {
		t.Errorf("route forward timeout = %v, want 10s", rt.Forward.Timeout)
	}
	if rt.Forward.Concurrency != 4 {
		t.Errorf("route forward concurrency = %d, want 4", rt.Forward.Concurrency)
	}
	if want := (Retry{MaxAttempts: 15, MaxAge: 72 * time.Hour}); rt.Retry != want {
		t.Errorf("route retry = %+v, want %+v", rt.Retry, want)
	}
	if !rt.Matches("pesapal.ke", "payment.failed") {
		t.Error("the route does not match payment.failed of pesapal.ke, want it to")
	}
	if rt.Matches("pesapal.ke", "payment.pending") {
		t.Error("the route matches payment.pending of pesapal.ke, which it does not list")
	}

	if want := DefaultSchedules(); cfg.Schedules != want {
		t.Errorf("schedules = %+v, want the defaults %+v", cfg.Schedules, want)
	}
}

func TestDecode(t *testing.T) {
	const prov = `
provider "pesapal" "ke" {
  environment     = "live"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}
`
	const route = `
route "r" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"
  forward {
    url    = "https://hooks.example.com/events"
    secret = env("WEBHOOK_SECRET")
  }
}
`
	const api = "api {\n  tokens = [env(\"TOKEN\")]\n}\n"
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, cfg *Config)
	}{
		{"defaults", api + prov + route, func(t *testing.T, cfg *Config) {
			checkString(t, "state backend", cfg.State.Backend, "sqlite")
			if !filepath.IsAbs(cfg.State.Path) {
				t.Errorf("state path %q is relative, want it absolute", cfg.State.Path)
			}
			checkString(t, "state path", cfg.State.Path, filepath.Join(cfg.Dir, "finconnect.db"))
			checkString(t, "server listen", cfg.Server.Listen, ":8080")
			checkString(t, "api listen", cfg.API.Listen, "127.0.0.1:8081")
			checkString(t, "pesapal base_url", cfg.Providers[0].PesaPal.BaseURL, "https://pay.pesapal.com/v3")
			r := cfg.Routes[0]
			if want := EventTypes(); !reflect.DeepEqual(r.Events, want) {
				t.Errorf("route events = %q, want every event type %q", r.Events, want)
			}
			if r.Forward.Timeout != 10*time.Second {
				t.Errorf("forward timeout = %v, want 10s", r.Forward.Timeout)
			}
			if r.Forward.Concurrency != 16 {
				t.Errorf("forward concurrency = %d, want 16", r.Forward.Concurrency)
			}
			if r.Retry.MaxAttempts != 15 {
				t.Errorf("retry max_attempts = %d, want 15", r.Retry.MaxAttempts)
			}
			if r.Retry.MaxAge != 72*time.Hour {
				t.Errorf("retry max_age = %v, want 72h", r.Retry.MaxAge)
			}
			if want := DefaultSchedules(); cfg.Schedules != want {
				t.Errorf("schedules = %+v, want the defaults %+v", cfg.Schedules, want)
			}
		}},
		{"relative state path", api + prov + route + `state { path = "data/f.db" }`, func(t *testing.T, cfg *Config) {
			checkString(t, "state path", cfg.State.Path, filepath.Join(cfg.Dir, "data", "f.db"))
		}},
		{"postgres", api + prov + route + `state {
  backend = "postgres"
  dsn     = env("KEY")
}`, func(t *testing.T, cfg *Config) {
			checkString(t, "state backend", cfg.State.Backend, "postgres")
			checkString(t, "state dsn", cfg.State.DSN.Reveal(), "test-key")
		}},
		{"unix api socket", `api {
  listen = "unix:/run/finconnectd/api.sock"
  tokens = [env("TOKEN"), env("KEY")]
}` + prov + route, func(t *testing.T, cfg *Config) {
			checkString(t, "api listen", cfg.API.Listen, "unix:/run/finconnectd/api.sock")
			if len(cfg.API.Tokens) != 2 {
				t.Errorf("%d API tokens, want 2", len(cfg.API.Tokens))
			}
		}},
		{"named tokens and the tokens list", `api {
  tokens = [env("TOKEN")]
  token "shop" {
    value  = env("SHOP_TOKEN")
    scopes = ["payments"]
  }
  token "ops" {
    value  = env("OPS_TOKEN")
    scopes = ["console:operate", "events"]
  }
}` + prov + route, func(t *testing.T, cfg *Config) {
			if len(cfg.API.Tokens) != 3 {
				t.Fatalf("%d API tokens, want 3", len(cfg.API.Tokens))
			}
			byName := map[string]APIToken{}
			for _, tok := range cfg.API.Tokens {
				byName[tok.Name] = tok
			}
			checkString(t, "token shop", byName["shop"].Value.Reveal(), "shop-token")
			if want := []string{"payments"}; !reflect.DeepEqual(byName["shop"].Scopes, want) {
				t.Errorf("token shop scopes = %q, want %q", byName["shop"].Scopes, want)
			}
			if !byName["shop"].Has(ScopePayments) {
				t.Errorf("token shop does not have the scope %s, want it to", ScopePayments)
			}
			if byName["shop"].Has(ScopeEvents) {
				t.Errorf("token shop has the scope %s, which it was not given", ScopeEvents)
			}
			if want := []string{"console:operate", "events"}; !reflect.DeepEqual(byName["ops"].Scopes, want) {
				t.Errorf("token ops scopes = %q, want %q", byName["ops"].Scopes, want)
			}
			checkString(t, "token tokens[0]", byName["tokens[0]"].Value.Reveal(), "test-api-token")
			if want := ListTokenScopes(); !reflect.DeepEqual(byName["tokens[0]"].Scopes, want) {
				t.Errorf("token tokens[0] scopes = %q, want %q: a listed token keeps what every token could do before scopes", byName["tokens[0]"].Scopes, want)
			}
		}},
		{"live forward on private address", api + prov + strings.Replace(route, "https://hooks.example.com", "http://10.1.2.3:9000", 1), func(t *testing.T, cfg *Config) {
			checkString(t, "forward url", cfg.Routes[0].Forward.URL, "http://10.1.2.3:9000/events")
		}},
		{"base url override trimmed", api + `
provider "pesapal" "dev" {
  environment     = "sandbox"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
  base_url        = "http://127.0.0.1:9999/pesapal/"
}` + strings.Replace(route, "pesapal.ke", "pesapal.dev", 1), func(t *testing.T, cfg *Config) {
			checkString(t, "pesapal base_url", cfg.Providers[0].PesaPal.BaseURL, "http://127.0.0.1:9999/pesapal")
		}},
		{"azampay live and overrides", api + `
provider "azampay" "tz" {
  environment    = "live"
  app_name       = "shop"
  client_id      = env("KEY")
  client_secret  = env("KEY")
  api_key        = env("KEY")
  public_key_url = "https://authenticator.azampay.co.tz/api/Token/PublicKey"
  phone_format   = "international"
}`, func(t *testing.T, cfg *Config) {
			c := cfg.Providers[0].AzamPay
			checkString(t, "azampay base_url", c.BaseURL, "https://checkout.azampay.co.tz")
			checkString(t, "azampay auth_url", c.AuthURL, "https://authenticator.azampay.co.tz")
			checkString(t, "azampay public_key_url", c.PublicKeyURL, "https://authenticator.azampay.co.tz/api/Token/PublicKey")
			checkString(t, "azampay phone_format", c.PhoneFormat, "international")
		}},
		{"clickpesa emulator", api + `
provider "clickpesa" "dev" {
  environment     = "sandbox"
  client_id       = env("KEY")
  api_key         = env("KEY")
  checksum_method = "legacy"
  base_url        = "http://127.0.0.1:9999/clickpesa"
}`, func(t *testing.T, cfg *Config) {
			c := cfg.Providers[0].ClickPesa
			checkString(t, "clickpesa environment", cfg.Providers[0].Environment, "sandbox")
			checkString(t, "clickpesa base_url", c.BaseURL, "http://127.0.0.1:9999/clickpesa")
			checkString(t, "clickpesa checksum_method", c.ChecksumMethod, "legacy")
			if !c.ChecksumKey.IsZero() {
				t.Error("clickpesa checksum_key is set, want it empty (none configured)")
			}
		}},
		{"schedules and stdlib", api + prov + route + `
schedule "sync_payments" { cron = format("@every %ds", 30) }
schedule "reconcile" { cron = "0 * * * *" }`, func(t *testing.T, cfg *Config) {
			checkString(t, "sync_payments cron", cfg.Schedules.SyncPayments, "@every 30s")
			checkString(t, "reconcile cron", cfg.Schedules.Reconcile, "0 * * * *")
			checkString(t, "refresh_keys cron", cfg.Schedules.RefreshKeys, "@hourly")
		}},
		{"env default", `api { tokens = [env("UNSET_TOKEN", "fallback")] }`, func(t *testing.T, cfg *Config) {
			checkString(t, "api token", cfg.API.Tokens[0].Value.Reveal(), "fallback")
		}},
		{"provider reference attributes", api + prov + `
route "r" {
  provider = provider.pesapal.ke
  path     = "/hooks/${provider.pesapal.ke.name}"
  forward {
    url    = "https://hooks.example.com/events"
    secret = env("WEBHOOK_SECRET")
  }
}`, func(t *testing.T, cfg *Config) {
			checkString(t, "route path", cfg.Routes[0].Path, "/hooks/ke")
		}},
		{"same name different kinds", api + prov + `
provider "clickpesa" "ke" {
  client_id = env("KEY")
  api_key   = env("KEY")
}`, func(t *testing.T, cfg *Config) {
			for _, id := range []string{"pesapal.ke", "clickpesa.ke"} {
				if cfg.Provider(id) == nil {
					t.Errorf("no provider %s", id)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, l := loadSource(t, tt.src)
			noErrors(t, l, diags)
			if cfg == nil {
				t.Fatal("no configuration and no error")
			}
			tt.check(t, cfg)
		})
	}
}

// TestInvalid loads each testdata/invalid/*.hcl and compares the rendered
// diagnostics with the golden file next to it (-update rewrites them).
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.hcl"))
	if err != nil {
		t.Fatalf("listing the invalid fixtures: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.hcl fixtures")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hcl")
		t.Run(name, func(t *testing.T) {
			l := NewLoader(lookup(testEnv()))
			_, diags := l.Load(file)
			if len(diags) == 0 {
				t.Fatal("no diagnostics, want at least one")
			}
			got := render(t, l, diags)
			for _, d := range diags {
				if d.Subject == nil {
					t.Fatalf("diagnostic without a location: %s", d.Summary)
				}
				if d.Detail == "" {
					t.Fatalf("diagnostic without detail: %s", d.Summary)
				}
			}
			golden := strings.TrimSuffix(file, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatalf("writing %s: %v", golden, err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading the golden file (run go test -update to create %s): %v", golden, err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// marker is an inline expectation in an invalid fixture, terraform-style:
// `# ERROR: Summary` (or WARNING) at the end of the line the diagnostic
// points at; several are joined with "; ".
var marker = regexp.MustCompile(`# ((?:ERROR|WARNING): .*)$`)

// TestInvalidMarkers: every diagnostic of an invalid fixture is announced by
// a marker on its line, and every marker is matched by a diagnostic.
func TestInvalidMarkers(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.hcl"))
	if err != nil {
		t.Fatalf("listing the invalid fixtures: %v", err)
	}
	unmarkable := map[string]bool{"syntax_error.hcl": true, "huge_number.hcl": true} // a comment would change the error
	for _, file := range files {
		if unmarkable[filepath.Base(file)] {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("reading the fixture: %v", err)
			}
			want := map[string]int{}
			for i, line := range strings.Split(string(src), "\n") {
				if m := marker.FindStringSubmatch(line); m != nil {
					for _, e := range strings.Split(m[1], "; ") {
						want[fmt.Sprintf("%d %s", i+1, e)]++
					}
				}
			}
			if len(want) == 0 {
				t.Fatal("fixture has no # ERROR: or # WARNING: marker")
			}
			got := map[string]int{}
			_, diags := NewLoader(lookup(testEnv())).Load(file)
			for _, d := range diags {
				sev := "ERROR"
				if d.Severity == hcl.DiagWarning {
					sev = "WARNING"
				}
				got[fmt.Sprintf("%d %s: %s", d.Subject.Start.Line, sev, d.Summary)]++
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("diagnostics (line severity: summary) = %v, want what the markers say %v", got, want)
			}
		})
	}
}

func TestMultiFileReportsEveryMistake(t *testing.T) {
	l := NewLoader(lookup(testEnv()))
	cfg, diags := l.Load(filepath.Join("testdata", "multi"))
	if cfg != nil {
		t.Errorf("a configuration with errors gave a Config %+v, want nil", cfg)
	}
	errs := diags.Errs()
	if len(errs) != 5 {
		t.Fatalf("%d errors, want 5:\n%s", len(errs), render(t, l, diags))
	}
	out := render(t, l, diags)
	for _, want := range []string{
		"on testdata/multi/a.hcl line 8",
		"on testdata/multi/a.hcl line 16",
		"on testdata/multi/b.hcl line 8",
		"on testdata/multi/b.hcl line 13",
		"on testdata/multi/b.hcl line 23",
		`   8:   environment     = "production" # 1: not sandbox or live`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the diagnostics do not contain %q:\n%s", want, out)
		}
	}
	// In reading order.
	for _, pair := range [][2]string{{"a.hcl line 8", "a.hcl line 16"}, {"a.hcl line 16", "b.hcl line 8"}} {
		if i, j := strings.Index(out, pair[0]), strings.Index(out, pair[1]); i >= j {
			t.Errorf("%q at %d, want it before %q at %d", pair[0], i, pair[1], j)
		}
	}
}

func TestFileFunctionRelativeToCallingFile(t *testing.T) {
	l := NewLoader(lookup(testEnv()))
	cfg, diags := l.Load(filepath.Join("testdata", "filefunc"))
	noErrors(t, l, diags)
	c := cfg.Provider("clickpesa.tz").ClickPesa
	checkString(t, "checksum_key from file() (credentials are trimmed)", c.ChecksumKey.Reveal(), "checksum-key-from-file")
	checkString(t, "api_key", c.APIKey.Reveal(), "TEST-KEY")
	checkString(t, "api token", cfg.API.Tokens[0].Value.Reveal(), "checksum-key-from-file")
	checkString(t, "route path", cfg.Routes[0].Path, "/hooks/clickpesa")
	checkString(t, "forward url", cfg.Routes[0].Forward.URL, "http://127.0.0.1:9000/events")
	abs, _ := filepath.Abs(filepath.Join("testdata", "filefunc"))
	checkString(t, "config dir", cfg.Dir, abs)
	if want := []string{filepath.Join(abs, "main.hcl")}; !reflect.DeepEqual(cfg.Files, want) {
		t.Errorf("config files = %q, want %q", cfg.Files, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatalf("writing notes.txt: %v", err)
	}
	tests := []struct {
		name, path, summary string
	}{
		{"missing", filepath.Join(dir, "nope.hcl"), "Cannot read configuration"},
		{"empty dir", dir, "No configuration files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := NewLoader(nil).Load(tt.path)
			if cfg != nil {
				t.Errorf("Load gave a Config %+v, want nil", cfg)
			}
			if len(diags) != 1 {
				t.Fatalf("%d diagnostics, want 1: %v", len(diags), diags)
			}
			checkString(t, "diagnostic summary", diags[0].Summary, tt.summary)
		})
	}
}

// TestReload: one Loader reads a changed file again (SIGHUP).
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.hcl")
	l := NewLoader(nil)
	l.BaseDir = "/nonexistent" // absolute paths ignore it
	for _, listen := range []string{":8080", ":9090"} {
		if err := os.WriteFile(path, []byte("api {\n  tokens = [\"t\"]\n}\nserver {\n  listen = \""+listen+"\"\n}\n"), 0o644); err != nil {
			t.Fatalf("writing the configuration: %v", err)
		}
		cfg, diags := l.Load(path)
		noErrors(t, l, diags)
		checkString(t, "server listen after reload", cfg.Server.Listen, listen)
	}
}

func TestBaseDir(t *testing.T) {
	l := NewLoader(lookup(testEnv()))
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	l.BaseDir = abs
	cfg, diags := l.Load("filefunc")
	noErrors(t, l, diags)
	checkString(t, "config dir", cfg.Dir, filepath.Join(abs, "filefunc"))
}

var envCall = regexp.MustCompile(`env\("([A-Z0-9_]+)"`)

// exampleEnv sets every variable an example names to a dummy value.
func exampleEnv(t testing.TB, src []byte) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, m := range envCall.FindAllSubmatch(src, -1) {
		name := string(m[1])
		env[name] = "dummy-" + strings.ToLower(name)
		if strings.Contains(name, "WEBHOOK_SECRET") {
			env[name] = testWebhookSecret
		}
	}
	return env
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.hcl"))
	if err != nil {
		t.Fatalf("listing the examples: %v", err)
	}
	if len(files) < 3 {
		t.Fatalf("%d examples, want at least 3", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("reading the example: %v", err)
			}
			l := NewLoader(lookup(exampleEnv(t, src)))
			cfg, diags := l.Load(file)
			noErrors(t, l, diags)
			if len(diags) != 0 {
				t.Errorf("warnings, want none:\n%s", render(t, l, diags))
			}
			if len(cfg.Providers) == 0 {
				t.Error("no providers, want at least one")
			}
			if len(cfg.Routes) == 0 {
				t.Error("no routes, want at least one")
			}
			if formatted := hclwrite.Format(src); string(formatted) != string(src) {
				t.Errorf("the example is not fmt-clean; formatted it reads\n%s", formatted)
			}
		})
	}
}

func TestProductionExampleShape(t *testing.T) {
	file := filepath.Join("..", "..", "examples", "production.hcl")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the example: %v", err)
	}
	l := NewLoader(lookup(exampleEnv(t, src)))
	cfg, diags := l.Load(file)
	noErrors(t, l, diags)
	kinds := map[string]bool{}
	for _, p := range cfg.Providers {
		kinds[p.Kind] = true
		checkString(t, p.ID()+" environment", p.Environment, EnvLive)
	}
	if len(kinds) != 3 {
		t.Errorf("provider kinds %v, want all 3", kinds)
	}
	if len(cfg.IPNs) != 2 {
		t.Errorf("%d IPNs, want 2", len(cfg.IPNs))
	}
	routed := map[string]bool{}
	for _, r := range cfg.Routes {
		routed[r.Provider] = true
	}
	if len(routed) != 3 {
		t.Errorf("routes serve the providers %v, want 3", routed)
	}
	if want := `# dsn     = env("FINCONNECT_DATABASE_URL")`; !strings.Contains(string(src), want) {
		t.Errorf("the example does not show the PostgreSQL line %q", want)
	}
}

func BenchmarkLoadProduction(b *testing.B) {
	file := filepath.Join("..", "..", "examples", "production.hcl")
	src, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	env := lookup(exampleEnv(b, src))
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		l := NewLoader(env)
		if _, diags := l.LoadSource("production.hcl", src, dir); diags.HasErrors() {
			b.Fatal(diags.Error())
		}
	}
}
