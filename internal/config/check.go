package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/robfig/cron/v3"
)

type durationValue = time.Duration

// parseDuration parses a positive Go duration; msg says what is wrong.
func parseDuration(s string) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, "is not a duration"
	}
	if d <= 0 {
		return 0, "is not a positive duration"
	}
	return d, ""
}

// CronParser is the parser finconnectd's schedules use: 5 fields, or a
// descriptor (@hourly, @every 1m ...). The daemon uses the same one.
func CronParser() cron.Parser {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

func checkCron(spec string) error {
	if strings.TrimSpace(spec) == "" {
		return fmt.Errorf("empty")
	}
	if strings.HasPrefix(strings.TrimSpace(spec), "TZ=") || strings.HasPrefix(strings.TrimSpace(spec), "CRON_TZ=") {
		return fmt.Errorf("time zones are not supported; schedules run in the daemon's local time")
	}
	_, err := CronParser().Parse(spec)
	return err
}

// checkURL returns "" when raw is acceptable, else a sentence fragment that
// follows the (quoted or redacted) value.
func checkURL(raw string, live, allowPrivateHTTP bool) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "is not an absolute URL; write it like \"https://pay.example.com/hooks/pesapal\"."
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "is not an http or https URL; only http and https are supported."
	}
	if u.User != nil {
		return "carries credentials; URLs are shown in plans and logs, so remove the user:password part."
	}
	if u.Fragment != "" {
		return "has a #fragment, which is never sent to a server; remove it."
	}
	if live && u.Scheme == "http" {
		if allowPrivateHTTP && isPrivateHost(u.Hostname()) {
			return ""
		}
		if allowPrivateHTTP {
			return "uses plain http with a live provider; use https, or http only on a loopback or private address."
		}
		return "uses plain http with a live provider; use https."
	}
	return ""
}

func urlSummary(msg string) string {
	switch {
	case strings.Contains(msg, "plain http"):
		return "Plain http with a live provider"
	case strings.Contains(msg, "credentials"):
		return "Credentials in URL"
	}
	return "Invalid URL"
}

// isPrivateHost reports whether host is loopback or private: an IP in a
// loopback or private range, localhost, a single-label name, or a name under
// .local, .internal, .lan, .localhost or .home.arpa.
func isPrivateHost(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || (h != "" && !strings.Contains(h, ".")) {
		return true
	}
	for _, suf := range []string{".local", ".internal", ".lan", ".localhost", ".home.arpa"} {
		if strings.HasSuffix(h, suf) {
			return true
		}
	}
	return false
}

func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Path == "" {
		return "/"
	}
	return u.Path
}

// checkListen accepts host:port (and unix:/path when unix is allowed).
func checkListen(s string, unix bool) bool {
	if unix && strings.HasPrefix(s, "unix:") {
		p := strings.TrimPrefix(s, "unix:")
		return strings.HasPrefix(p, "/") && len(p) > 1
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// checkRoutePath returns "" for a good route path, else what is wrong.
func checkRoutePath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "does not start with \"/\"; write an absolute path such as \"/hooks/pesapal\""
	case p == "/":
		return "is the root; give each route its own path such as \"/hooks/pesapal\""
	case strings.ContainsAny(p, "?#{} \t\r\n"):
		return "contains a query, fragment, brace or space; write a plain path such as \"/hooks/pesapal\""
	case strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.HasSuffix(p, "/."):
		return "is not a clean path; remove empty, \".\" and \"..\" segments"
	}
	return ""
}

// checkWebhookSecret checks a Standard Webhooks secret: "whsec_" + base64 of
// 24 to 64 bytes. warn is true when the problem is only weakness. The
// message never contains the secret.
func checkWebhookSecret(s string) (msg string, warn bool) {
	const how = " Generate one with: echo \"whsec_$(head -c 32 /dev/urandom | base64)\"."
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return "The value (sensitive value) does not start with \"whsec_\"; a Standard Webhooks secret is \"whsec_\" followed by base64." + how, false
	}
	key, err := WebhookSecretKey(s)
	if err != nil || b64 == "" {
		return "The part after \"whsec_\" of (sensitive value) is not valid base64." + how, false
	}
	if len(key) < 24 {
		return fmt.Sprintf("The secret is %d bytes long; Standard Webhooks asks for 24 to 64 bytes.%s", len(key), how), true
	}
	if len(key) > 64 {
		return fmt.Sprintf("The secret is %d bytes long; Standard Webhooks asks for 24 to 64 bytes.%s", len(key), how), true
	}
	return "", false
}

// WebhookSecretKey returns the HMAC key of a Standard Webhooks secret
// ("whsec_" + standard base64): the decoded bytes. Validation has already
// checked forward.secret with it.
func WebhookSecretKey(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, fmt.Errorf("decode webhook secret: missing \"whsec_\" prefix")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decode webhook secret: invalid base64")
	}
	return key, nil
}

// maxNumberLiteral bounds a number literal's length and exponent: hcl parses
// numbers as arbitrary-precision floats, and a literal such as 1e9999999
// takes many seconds to parse.
const (
	maxNumberLiteralLen = 64
	maxNumberExponent   = 4 // digits
)

// CheckSource rejects input that is expensive to parse before it reaches the
// HCL parser (very long number literals or huge exponents). It returns no
// diagnostics for ordinary configurations; fmt uses it too.
func CheckSource(src []byte, filename string) hcl.Diagnostics {
	// A literal over either limit has a run of more than maxNumberExponent
	// digits; without one, skip lexing (it costs as much as parsing).
	run, long := 0, false
	for _, c := range src {
		if c >= '0' && c <= '9' {
			run++
			if run > maxNumberExponent {
				long = true
				break
			}
		} else {
			run = 0
		}
	}
	if !long {
		return nil
	}
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	var diags hcl.Diagnostics
	for _, tok := range tokens {
		if tok.Type != hclsyntax.TokenNumberLit {
			continue
		}
		lit := string(tok.Bytes)
		exp := ""
		if i := strings.IndexAny(lit, "eE"); i >= 0 {
			exp = strings.TrimLeft(lit[i+1:], "+-0")
		}
		if len(lit) > maxNumberLiteralLen || len(exp) > maxNumberExponent {
			r := tok.Range
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Number too large",
				Detail:   fmt.Sprintf("Number literals are limited to %d characters and exponents to %d digits; write a smaller number.", maxNumberLiteralLen, maxNumberExponent),
				Subject:  &r,
			})
		}
	}
	return diags
}
