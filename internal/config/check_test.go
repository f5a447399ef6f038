package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
				assert.Empty(t, got)
			} else {
				assert.Contains(t, got, tt.wantErr)
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
		assert.Equal(t, tt.ok, checkListen(tt.s, tt.unix), tt.s)
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
		assert.Equal(t, ok, checkRoutePath(p) == "", p)
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
				assert.Empty(t, msg)
				return
			}
			assert.Contains(t, msg, tt.msg)
			assert.Equal(t, tt.warn, warn)
			if rest := strings.TrimPrefix(tt.secret, "whsec_"); rest != "" {
				assert.NotContains(t, msg, rest)
			}
		})
	}
	key, err := WebhookSecretKey(testWebhookSecret)
	require.NoError(t, err)
	assert.Len(t, key, 24)
	_, err = WebhookSecretKey("nope")
	assert.Error(t, err)
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
		assert.Equal(t, ok, checkCron(spec) == nil, spec)
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
	require.False(t, diags.HasErrors(), render(t, l, diags))
	for _, d := range diags {
		assert.NotEqual(t, "Credential written literally", d.Summary, render(t, l, diags))
	}
	require.Len(t, cfg.API.Tokens, 3)
	assert.Equal(t, "TEST-KEY", cfg.API.Tokens[0].Value.Reveal())
	assert.Equal(t, "test-key-x", cfg.API.Tokens[1].Value.Reveal())
	assert.Equal(t, "finconnect.db", cfg.State.Path[len(cfg.State.Path)-len("finconnect.db"):])
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
		assert.Equal(t, bad, CheckSource([]byte(src), "f.hcl").HasErrors(), src)
	}
}
