package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canary is a value no output may ever contain.
const canary = "canary-7f3a9c-d41d8cd98f00b204"

// TestSensitiveValuesNeverPrinted feeds sensitive values (from env() and
// file()) into every kind of check and function error, then searches the
// rendered diagnostics and every textual form of the Config for the canary.
func TestSensitiveValuesNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "canary.txt"), []byte(canary+"\n"), 0o600); err != nil {
		t.Fatalf("writing canary.txt: %v", err)
	}
	env := map[string]string{
		"C":       canary,
		"CPATH":   "/nonexistent/" + canary,
		"KEY":     canary,
		"WEBHOOK": testWebhookSecret,
	}
	cases := map[string]string{
		"url":          `forward_url = env("C")`,
		"environment":  `environment = env("C")`,
		"duration":     `timeout = env("C")`,
		"cron":         `cron = env("C")`,
		"path":         `path = env("C")`,
		"listen":       `listen = env("C")`,
		"webhook":      `secret = env("C")`,
		"tonumber":     `max_attempts = tonumber(env("C"))`,
		"number":       `max_attempts = env("C")`,
		"jsondecode":   `app_name = jsondecode(env("C"))`,
		"format":       `app_name = format("%d", env("C"))`,
		"regex":        `app_name = regex("^x", env("C"))`,
		"file path":    `app_name = file(env("CPATH"))`,
		"file content": `app_name = tonumber(file("canary.txt"))`,
		"events":       `events = [env("C")]`,
		"object index": `app_name = {a = "b"}[env("C")]`,
		"lookup":       `app_name = lookup({a = "b"}, env("C"))`,
		"arithmetic":   `max_attempts = env("C") + 1`,
		"template":     `app_name = "${env("C")}${[1]}"`,
		"provider":     `provider_ref = env("C")`,
		"phone":        `phone_format = env("C")`,
		"checksum":     `checksum_method = env("C")`,
		"notification": `notification_type = env("C")`,
		"backend":      `backend = env("C")`,
		"public url":   `public_url = "https://${env("C")}:x"`,
		"base url":     `base_url = "http://${env("C")}.example.com"`,
		"element":      `app_name = split(",", env("C"))`,
		"csvdecode":    `app_name = csvdecode("a,b\n${env("C")}")`,
	}
	for name, line := range cases {
		t.Run(name, func(t *testing.T) {
			src := canaryConfig(line)
			l := NewLoader(lookup(env))
			cfg, diags := l.LoadSource("canary.hcl", []byte(src), dir)
			out := render(t, l, diags)
			if len(diags) == 0 {
				t.Fatalf("no diagnostic, want one for:\n%s", src)
			}
			if strings.Contains(out, canary) {
				t.Errorf("the rendered diagnostics show the secret:\n%s", out)
			}
			if strings.Contains(out, canary[:20]) {
				t.Errorf("the rendered diagnostics show the start of the secret:\n%s", out)
			}
			for _, d := range diags {
				if strings.Contains(d.Summary+d.Detail, canary) {
					t.Errorf("diagnostic %q shows the secret: %s", d.Summary, d.Detail)
				}
			}
			if cfg != nil {
				if s := fmt.Sprintf("%v %+v %#v", cfg, *cfg, cfg.Providers); strings.Contains(s, canary) {
					t.Errorf("the printed Config shows the secret: %s", s)
				}
			}
		})
	}
}

// canaryConfig is a valid configuration with line placed into the block
// that accepts it.
func canaryConfig(line string) string {
	key, _, _ := strings.Cut(line, " =")
	slot := func(k string) string {
		if k == key {
			return "  " + strings.Replace(line, "forward_url", "url", 1) + "\n"
		}
		return ""
	}
	provRef := "provider.pesapal.ke"
	if key == "provider_ref" {
		provRef = `env("C")`
	}
	fwdURL := `"http://127.0.0.1:9000/events"`
	if key == "forward_url" {
		fwdURL = `env("C")`
	}
	secretVal := `env("WEBHOOK")`
	if key == "secret" {
		secretVal = `env("C")`
	}
	env := `"live"`
	if key == "environment" {
		env = `env("C")`
	}
	return `state {
` + slot("backend") + `}
server {
` + slot("listen") + slot("public_url") + `}
api {
  tokens = [env("KEY")]
}
provider "pesapal" "ke" {
  environment     = ` + env + `
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
` + slot("base_url") + `}
provider "clickpesa" "tz" {
  client_id = env("KEY")
  api_key   = env("KEY")
` + slot("checksum_method") + `}
provider "azampay" "tz" {
  environment   = "sandbox"
  client_id     = env("KEY")
  client_secret = env("KEY")
  api_key       = env("KEY")
` + func() string {
		if s := slot("app_name"); s != "" {
			return s
		}
		return "  app_name = \"shop\"\n"
	}() + slot("phone_format") + `}
ipn "orders" {
  provider = provider.pesapal.ke
  url      = "https://pay.example.com/hooks/pesapal"
` + slot("notification_type") + `}
route "r" {
  provider = ` + provRef + `
` + func() string {
		if s := slot("path"); s != "" {
			return s
		}
		return "  path = \"/hooks/pesapal\"\n"
	}() + slot("events") + `
  forward {
    url    = ` + fwdURL + `
    secret = ` + secretVal + `
` + slot("timeout") + `  }
  retry {
` + slot("max_attempts") + `  }
}
schedule "reconcile" {
` + func() string {
		if s := slot("cron"); s != "" {
			return s
		}
		return "  cron = \"@hourly\"\n"
	}() + `}
`
}

// FuzzLoad: decoding and validating arbitrary input never panics, and every
// diagnostic renders.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../../examples/*.hcl", "testdata/invalid/*.hcl", "testdata/multi/*.hcl"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(specExample))
	env := testEnv()
	f.Fuzz(func(t *testing.T, src []byte) {
		l := NewLoader(lookup(env))
		cfg, diags := l.LoadSource("fuzz.hcl", src, "/nonexistent")
		if cfg == nil && !diags.HasErrors() {
			t.Fatal("nil config without an error")
		}
		if err := l.WriteDiagnostics(discard{}, diags, 78, false); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
