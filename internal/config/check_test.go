package config

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url           string
		live, private bool
		wantErr       string // substring; "" = ok
	}{
		{"https://pay.example.com/hooks", true, false, ""},
		{"http://pay.example.com/hooks", false, false, ""},
		{"http://pay.example.com/hooks", true, false, "plain http"},
		{"http://pay.example.com/hooks", true, true, "plain http"},
		{"http://127.0.0.1:9000/x", true, true, ""},
		{"http://[::1]:9000/x", true, true, ""},
		{"http://10.0.0.5/x", true, true, ""},
		{"http://192.168.1.2/x", true, true, ""},
		{"http://172.16.0.1/x", true, true, ""},
		{"http://8.8.8.8/x", true, true, "plain http"},
		{"http://localhost:9000/x", true, true, ""},
		{"http://orders/x", true, true, ""},
		{"http://billing.internal/x", true, true, ""},
		{"http://127.0.0.1/x", true, false, "plain http"},
		{"ftp://example.com/x", false, false, "not an http or https URL"},
		{"example.com/x", false, false, "not an absolute URL"},
		{"/hooks", false, false, "not an absolute URL"},
		{"https://", false, false, "not an absolute URL"},
		{"mailto:a@b.c", false, false, "not an absolute URL"},
		{"https://u:p@example.com/", false, false, "credentials"},
		{"https://example.com/#frag", false, false, "fragment"},
		{"https://exa mple.com/", false, false, "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got := checkURL(tt.url, tt.live, tt.private)
			if tt.wantErr == "" {
				if got != "" {
					t.Errorf("checkURL(%q, live=%v, private=%v) = %q, want no problem", tt.url, tt.live, tt.private, got)
				}
			} else if !strings.Contains(got, tt.wantErr) {
				t.Errorf("checkURL(%q, live=%v, private=%v) = %q, want it to contain %q", tt.url, tt.live, tt.private, got, tt.wantErr)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		s    string
		unix bool
		ok   bool
	}{
		{":8080", false, true},
		{"0.0.0.0:8080", false, true},
		{"[::1]:8081", false, true},
		{"localhost:0", false, true},
		{"8080", false, false},
		{":http", false, false},
		{":70000", false, false},
		{"unix:/run/x.sock", true, true},
		{"unix:/run/x.sock", false, false},
		{"unix:relative.sock", true, false},
		{"unix:/", true, false},
	}
	for _, tt := range tests {
		if got := checkListen(tt.s, tt.unix); got != tt.ok {
			t.Errorf("checkListen(%q, unix=%v) = %v, want %v", tt.s, tt.unix, got, tt.ok)
		}
	}
}

func TestCheckRoutePath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/hooks/pesapal": true,
		"/a-b_c/d.e":     true,
		"hooks":          false,
		"/":              false,
		"/a?b=1":         false,
		"/a b":           false,
		"/{id}":          false,
		"/a//b":          false,
		"/a/../b":        false,
		"/a/.":           false,
		"":               false,
	} {
		if msg := checkRoutePath(p); (msg == "") != ok {
			t.Errorf("checkRoutePath(%q) = %q, want valid=%v", p, msg, ok)
		}
	}
}

func TestCheckWebhookSecret(t *testing.T) {
	tests := []struct {
		secret string
		msg    string
		warn   bool
	}{
		{testWebhookSecret, "", false},
		{"whsec_" + strings.Repeat("QUFB", 16), "", false}, // 48 bytes
		{"whsec_QUFB", "3 bytes long", true},
		{"whsec_" + strings.Repeat("QUFB", 30), "90 bytes long", true},
		{"whsec_", "not valid base64", false},
		{"whsec_!!!!", "not valid base64", false},
		{"plainvalue", "does not start with", false},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			msg, warn := checkWebhookSecret(tt.secret)
			if tt.msg == "" {
				if msg != "" {
					t.Errorf("checkWebhookSecret = %q, want no problem", msg)
				}
				return
			}
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("checkWebhookSecret = %q, want it to contain %q", msg, tt.msg)
			}
			if warn != tt.warn {
				t.Errorf("checkWebhookSecret warning = %v, want %v", warn, tt.warn)
			}
			if rest := strings.TrimPrefix(tt.secret, "whsec_"); rest != "" && strings.Contains(msg, rest) {
				t.Errorf("checkWebhookSecret = %q shows the secret", msg)
			}
		})
	}
	key, err := WebhookSecretKey(testWebhookSecret)
	if err != nil {
		t.Fatalf("WebhookSecretKey of a valid secret: %v", err)
	}
	if len(key) != 24 {
		t.Errorf("WebhookSecretKey gave %d bytes, want 24", len(key))
	}
	if _, err := WebhookSecretKey("nope"); err == nil {
		t.Errorf("WebhookSecretKey(%q) gave no error, want one", "nope")
	}
}

func TestCheckCron(t *testing.T) {
	for spec, ok := range map[string]bool{
		"*/15 * * * *":  true,
		"0 3 * * 1-5":   true,
		"@hourly":       true,
		"@every 1m":     true,
		"@every 90s":    true,
		"* * * *":       false,
		"* * * * * *":   false,
		"@fortnightly":  false,
		"":              false,
		"TZ=UTC @daily": false,
	} {
		if err := checkCron(spec); (err == nil) != ok {
			t.Errorf("checkCron(%q) = %v, want valid=%v", spec, err, ok)
		}
	}
}

// Functions keep values sensitive through the standard library, and nulls
// mean "use the default".
func TestSensitivityFlowsThroughFunctions(t *testing.T) {
	src := `
api {
  tokens = [upper(env("KEY")), format("%s-x", trimspace(env("KEY"))), coalesce(null, env("KEY"))]
}
state {
  path = null
}
`
	cfg, diags, l := loadSource(t, src)
	noErrors(t, l, diags)
	for _, d := range diags {
		if d.Summary == "Credential written literally" {
			t.Errorf("a value from env() passed through functions was taken for a literal credential:\n%s", render(t, l, diags))
		}
	}
	if len(cfg.API.Tokens) != 3 {
		t.Fatalf("%d API tokens, want 3", len(cfg.API.Tokens))
	}
	for i, want := range []string{"TEST-KEY", "test-key-x"} {
		if got := cfg.API.Tokens[i].Value.Reveal(); got != want {
			t.Errorf("token %d = %q, want %q", i, got, want)
		}
	}
	if !strings.HasSuffix(cfg.State.Path, "finconnect.db") {
		t.Errorf("state path = %q, want the default finconnect.db", cfg.State.Path)
	}
}

func TestCheckSource(t *testing.T) {
	for src, bad := range map[string]bool{
		"x = 1":                          false,
		"x = 65535":                      false,
		"x = 1e9999":                     false,
		"x = 1e00009":                    false,
		"x = 1e99999":                    true,
		"x = 1E+12345":                   true,
		"x = " + strings.Repeat("9", 65): true,
		"x = \"1e99999\"":                false, // a string, not a number
		"x = 1.5\ny = \"" + strings.Repeat("7", 100) + "\"": false,
	} {
		if got := CheckSource([]byte(src), "f.hcl").HasErrors(); got != bad {
			t.Errorf("CheckSource(%q) has errors = %v, want %v", src, got, bad)
		}
	}
}
