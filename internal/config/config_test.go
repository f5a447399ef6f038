package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, l.WriteDiagnostics(&buf, diags, 78, false))
	return buf.String()
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
    url     = "http://127.0.0.1:9000/payments/events"
    secret  = env("ORDERS_WEBHOOK_SECRET")
    timeout = "10s"
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
	require.False(t, diags.HasErrors(), render(t, l, diags))
	assert.Empty(t, diags, render(t, l, diags))

	assert.Equal(t, "sqlite", cfg.State.Backend)
	assert.Equal(t, "/var/lib/finconnectd/finconnect.db", cfg.State.Path)
	assert.Equal(t, ":8080", cfg.Server.Listen)
	assert.Equal(t, "https://pay.example.com", cfg.Server.PublicURL)
	assert.Equal(t, "127.0.0.1:8081", cfg.API.Listen)
	require.Len(t, cfg.API.Tokens, 1)
	assert.Equal(t, "test-api-token", cfg.API.Tokens[0].Value.Reveal())

	require.Len(t, cfg.Providers, 3)
	pp := cfg.Provider("pesapal.ke")
	require.NotNil(t, pp)
	assert.Equal(t, "sandbox", pp.Environment)
	assert.Equal(t, "https://cybqa.pesapal.com/pesapalv3", pp.PesaPal.BaseURL)
	assert.Equal(t, "test-key", pp.PesaPal.ConsumerKey.Reveal())
	assert.Nil(t, pp.ClickPesa)
	assert.Nil(t, pp.AzamPay)
	assert.Equal(t, "test.hcl", pp.DeclRange.Filename)

	cp := cfg.Provider("clickpesa.tz")
	require.NotNil(t, cp)
	assert.Equal(t, "live", cp.Environment)
	assert.Equal(t, "https://api.clickpesa.com/third-parties", cp.ClickPesa.BaseURL)
	assert.Equal(t, "canonical", cp.ClickPesa.ChecksumMethod)
	assert.False(t, cp.ClickPesa.ChecksumKey.IsZero())

	ap := cfg.Provider("azampay.tz")
	require.NotNil(t, ap)
	assert.Equal(t, "myshop", ap.AzamPay.AppName)
	assert.Equal(t, "https://authenticator-sandbox.azampay.co.tz", ap.AzamPay.AuthURL)
	assert.Equal(t, "https://sandbox.azampay.co.tz", ap.AzamPay.BaseURL)
	assert.Equal(t, "https://sandbox.azampay.co.tz/azampay/v1/public-key?format=Pem", ap.AzamPay.PublicKeyURL)
	assert.Equal(t, "local", ap.AzamPay.PhoneFormat)

	require.Len(t, cfg.IPNs, 1)
	assert.Equal(t, &IPN{Name: "orders", Provider: "pesapal.ke", URL: "https://pay.example.com/hooks/pesapal", NotificationType: "POST", DeclRange: cfg.IPNs[0].DeclRange}, cfg.IPNs[0])
	assert.Equal(t, "ipn.orders", cfg.IPN("orders").Address())

	rt := cfg.Route("pesapal_orders")
	require.NotNil(t, rt)
	assert.Equal(t, "pesapal.ke", rt.Provider)
	assert.Equal(t, "/hooks/pesapal", rt.Path)
	assert.Equal(t, []string{"payment.succeeded", "payment.failed", "payment.reversed"}, rt.Events)
	assert.Equal(t, "http://127.0.0.1:9000/payments/events", rt.Forward.URL)
	assert.Equal(t, testWebhookSecret, rt.Forward.Secret.Reveal())
	assert.Equal(t, 10*time.Second, rt.Forward.Timeout)
	assert.Equal(t, Retry{MaxAttempts: 15, MaxAge: 72 * time.Hour}, rt.Retry)
	assert.True(t, rt.Matches("pesapal.ke", "payment.failed"))
	assert.False(t, rt.Matches("pesapal.ke", "payment.pending"))

	assert.Equal(t, DefaultSchedules(), cfg.Schedules)
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
			assert.Equal(t, "sqlite", cfg.State.Backend)
			assert.True(t, filepath.IsAbs(cfg.State.Path))
			assert.Equal(t, filepath.Join(cfg.Dir, "finconnect.db"), cfg.State.Path)
			assert.Equal(t, ":8080", cfg.Server.Listen)
			assert.Equal(t, "127.0.0.1:8081", cfg.API.Listen)
			assert.Equal(t, "https://pay.pesapal.com/v3", cfg.Providers[0].PesaPal.BaseURL)
			r := cfg.Routes[0]
			assert.Equal(t, EventTypes(), r.Events)
			assert.Equal(t, 10*time.Second, r.Forward.Timeout)
			assert.Equal(t, 15, r.Retry.MaxAttempts)
			assert.Equal(t, 72*time.Hour, r.Retry.MaxAge)
			assert.Equal(t, DefaultSchedules(), cfg.Schedules)
		}},
		{"relative state path", api + prov + route + `state { path = "data/f.db" }`, func(t *testing.T, cfg *Config) {
			assert.Equal(t, filepath.Join(cfg.Dir, "data", "f.db"), cfg.State.Path)
		}},
		{"postgres", api + prov + route + `state {
  backend = "postgres"
  dsn     = env("KEY")
}`, func(t *testing.T, cfg *Config) {
			assert.Equal(t, "postgres", cfg.State.Backend)
			assert.Equal(t, "test-key", cfg.State.DSN.Reveal())
		}},
		{"unix api socket", `api {
  listen = "unix:/run/finconnectd/api.sock"
  tokens = [env("TOKEN"), env("KEY")]
}` + prov + route, func(t *testing.T, cfg *Config) {
			assert.Equal(t, "unix:/run/finconnectd/api.sock", cfg.API.Listen)
			assert.Len(t, cfg.API.Tokens, 2)
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
			require.Len(t, cfg.API.Tokens, 3)
			byName := map[string]APIToken{}
			for _, tok := range cfg.API.Tokens {
				byName[tok.Name] = tok
			}
			assert.Equal(t, "shop-token", byName["shop"].Value.Reveal())
			assert.Equal(t, []string{"payments"}, byName["shop"].Scopes)
			assert.True(t, byName["shop"].Has(ScopePayments))
			assert.False(t, byName["shop"].Has(ScopeEvents))
			assert.Equal(t, []string{"console:operate", "events"}, byName["ops"].Scopes)
			assert.Equal(t, "test-api-token", byName["tokens[0]"].Value.Reveal())
			assert.Equal(t, ListTokenScopes(), byName["tokens[0]"].Scopes, "a listed token keeps what every token could do before scopes")
		}},
		{"live forward on private address", api + prov + strings.Replace(route, "https://hooks.example.com", "http://10.1.2.3:9000", 1), func(t *testing.T, cfg *Config) {
			assert.Equal(t, "http://10.1.2.3:9000/events", cfg.Routes[0].Forward.URL)
		}},
		{"base url override trimmed", api + `
provider "pesapal" "dev" {
  environment     = "sandbox"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
  base_url        = "http://127.0.0.1:9999/pesapal/"
}` + strings.Replace(route, "pesapal.ke", "pesapal.dev", 1), func(t *testing.T, cfg *Config) {
			assert.Equal(t, "http://127.0.0.1:9999/pesapal", cfg.Providers[0].PesaPal.BaseURL)
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
			assert.Equal(t, "https://checkout.azampay.co.tz", c.BaseURL)
			assert.Equal(t, "https://authenticator.azampay.co.tz", c.AuthURL)
			assert.Equal(t, "https://authenticator.azampay.co.tz/api/Token/PublicKey", c.PublicKeyURL)
			assert.Equal(t, "international", c.PhoneFormat)
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
			assert.Equal(t, "sandbox", cfg.Providers[0].Environment)
			assert.Equal(t, "http://127.0.0.1:9999/clickpesa", c.BaseURL)
			assert.Equal(t, "legacy", c.ChecksumMethod)
			assert.True(t, c.ChecksumKey.IsZero())
		}},
		{"schedules and stdlib", api + prov + route + `
schedule "sync_payments" { cron = format("@every %ds", 30) }
schedule "reconcile" { cron = "0 * * * *" }`, func(t *testing.T, cfg *Config) {
			assert.Equal(t, "@every 30s", cfg.Schedules.SyncPayments)
			assert.Equal(t, "0 * * * *", cfg.Schedules.Reconcile)
			assert.Equal(t, "@hourly", cfg.Schedules.RefreshKeys)
		}},
		{"env default", `api { tokens = [env("UNSET_TOKEN", "fallback")] }`, func(t *testing.T, cfg *Config) {
			assert.Equal(t, "fallback", cfg.API.Tokens[0].Value.Reveal())
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
			assert.Equal(t, "/hooks/ke", cfg.Routes[0].Path)
		}},
		{"same name different kinds", api + prov + `
provider "clickpesa" "ke" {
  client_id = env("KEY")
  api_key   = env("KEY")
}`, func(t *testing.T, cfg *Config) {
			assert.NotNil(t, cfg.Provider("pesapal.ke"))
			assert.NotNil(t, cfg.Provider("clickpesa.ke"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, l := loadSource(t, tt.src)
			require.False(t, diags.HasErrors(), render(t, l, diags))
			require.NotNil(t, cfg)
			tt.check(t, cfg)
		})
	}
}

// TestInvalid loads each testdata/invalid/*.hcl and compares the rendered
// diagnostics with the golden file next to it (-update rewrites them).
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.hcl"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hcl")
		t.Run(name, func(t *testing.T) {
			l := NewLoader(lookup(testEnv()))
			_, diags := l.Load(file)
			require.NotEmpty(t, diags, "expected at least one diagnostic")
			got := render(t, l, diags)
			for _, d := range diags {
				require.NotNil(t, d.Subject, "diagnostic without a location: %s", d.Summary)
				require.NotEmpty(t, d.Detail, "diagnostic without detail: %s", d.Summary)
			}
			golden := strings.TrimSuffix(file, ".hcl") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create %s", golden)
			assert.Equal(t, string(want), got)
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
	require.NoError(t, err)
	unmarkable := map[string]bool{"syntax_error.hcl": true, "huge_number.hcl": true} // a comment would change the error
	for _, file := range files {
		if unmarkable[filepath.Base(file)] {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			require.NoError(t, err)
			want := map[string]int{}
			for i, line := range strings.Split(string(src), "\n") {
				if m := marker.FindStringSubmatch(line); m != nil {
					for _, e := range strings.Split(m[1], "; ") {
						want[fmt.Sprintf("%d %s", i+1, e)]++
					}
				}
			}
			require.NotEmpty(t, want, "fixture has no # ERROR: or # WARNING: marker")
			got := map[string]int{}
			_, diags := NewLoader(lookup(testEnv())).Load(file)
			for _, d := range diags {
				sev := "ERROR"
				if d.Severity == hcl.DiagWarning {
					sev = "WARNING"
				}
				got[fmt.Sprintf("%d %s: %s", d.Subject.Start.Line, sev, d.Summary)]++
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestMultiFileReportsEveryMistake(t *testing.T) {
	l := NewLoader(lookup(testEnv()))
	cfg, diags := l.Load(filepath.Join("testdata", "multi"))
	assert.Nil(t, cfg)
	errs := diags.Errs()
	require.Len(t, errs, 5, render(t, l, diags))
	out := render(t, l, diags)
	for _, want := range []string{
		"on testdata/multi/a.hcl line 8",
		"on testdata/multi/a.hcl line 16",
		"on testdata/multi/b.hcl line 8",
		"on testdata/multi/b.hcl line 13",
		"on testdata/multi/b.hcl line 23",
		`   8:   environment     = "production" # 1: not sandbox or live`,
	} {
		assert.Contains(t, out, want)
	}
	// In reading order.
	assert.Less(t, strings.Index(out, "a.hcl line 8"), strings.Index(out, "a.hcl line 16"))
	assert.Less(t, strings.Index(out, "a.hcl line 16"), strings.Index(out, "b.hcl line 8"))
}

func TestFileFunctionRelativeToCallingFile(t *testing.T) {
	l := NewLoader(lookup(testEnv()))
	cfg, diags := l.Load(filepath.Join("testdata", "filefunc"))
	require.False(t, diags.HasErrors(), render(t, l, diags))
	c := cfg.Provider("clickpesa.tz").ClickPesa
	assert.Equal(t, "checksum-key-from-file", c.ChecksumKey.Reveal(), "credentials are trimmed")
	assert.Equal(t, "TEST-KEY", c.APIKey.Reveal())
	assert.Equal(t, "checksum-key-from-file", cfg.API.Tokens[0].Value.Reveal())
	assert.Equal(t, "/hooks/clickpesa", cfg.Routes[0].Path)
	assert.Equal(t, "http://127.0.0.1:9000/events", cfg.Routes[0].Forward.URL)
	abs, _ := filepath.Abs(filepath.Join("testdata", "filefunc"))
	assert.Equal(t, abs, cfg.Dir)
	assert.Equal(t, []string{filepath.Join(abs, "main.hcl")}, cfg.Files)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644))
	tests := []struct {
		name, path, summary string
	}{
		{"missing", filepath.Join(dir, "nope.hcl"), "Cannot read configuration"},
		{"empty dir", dir, "No configuration files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := NewLoader(nil).Load(tt.path)
			assert.Nil(t, cfg)
			require.Len(t, diags, 1)
			assert.Equal(t, tt.summary, diags[0].Summary)
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
		require.NoError(t, os.WriteFile(path, []byte("api {\n  tokens = [\"t\"]\n}\nserver {\n  listen = \""+listen+"\"\n}\n"), 0o644))
		cfg, diags := l.Load(path)
		require.False(t, diags.HasErrors(), render(t, l, diags))
		assert.Equal(t, listen, cfg.Server.Listen)
	}
}

func TestBaseDir(t *testing.T) {
	l := NewLoader(lookup(testEnv()))
	abs, err := filepath.Abs("testdata")
	require.NoError(t, err)
	l.BaseDir = abs
	cfg, diags := l.Load("filefunc")
	require.False(t, diags.HasErrors(), render(t, l, diags))
	assert.Equal(t, filepath.Join(abs, "filefunc"), cfg.Dir)
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
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			require.NoError(t, err)
			l := NewLoader(lookup(exampleEnv(t, src)))
			cfg, diags := l.Load(file)
			require.False(t, diags.HasErrors(), render(t, l, diags))
			assert.Empty(t, diags, render(t, l, diags))
			assert.NotEmpty(t, cfg.Providers)
			assert.NotEmpty(t, cfg.Routes)
			assert.Equal(t, string(src), string(hclwrite.Format(src)), "examples are fmt-clean")
		})
	}
}

func TestProductionExampleShape(t *testing.T) {
	file := filepath.Join("..", "..", "examples", "production.hcl")
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	cfg, diags := NewLoader(lookup(exampleEnv(t, src))).Load(file)
	require.False(t, diags.HasErrors())
	kinds := map[string]bool{}
	for _, p := range cfg.Providers {
		kinds[p.Kind] = true
		assert.Equal(t, EnvLive, p.Environment, p.ID())
	}
	assert.Len(t, kinds, 3)
	assert.Len(t, cfg.IPNs, 2)
	routed := map[string]bool{}
	for _, r := range cfg.Routes {
		routed[r.Provider] = true
	}
	assert.Len(t, routed, 3)
	assert.Contains(t, string(src), `# dsn     = env("FINCONNECT_DATABASE_URL")`)
}

func BenchmarkLoadProduction(b *testing.B) {
	file := filepath.Join("..", "..", "examples", "production.hcl")
	src, err := os.ReadFile(file)
	require.NoError(b, err)
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
