package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	providerPesaPal   = "pesapal"
	providerClickPesa = "clickpesa"
	providerAzamPay   = "azampay"
)

// issueToken mints a random JWT-looking bearer token for provider that
// expires after the provider's lifetime (or Settings.TokenTTL).
func (e *Emulator) issueToken(provider string, lifetime time.Duration, clientID string) (string, time.Time) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if ttl := time.Duration(e.settings.TokenTTL); ttl > 0 {
		lifetime = ttl
	}
	exp := now.Add(lifetime)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"iss": provider + "-sandbox",
		"jti": randomHex(32),
		"iat": now.Unix(),
		"exp": exp.Unix(),
	})
	tok := header + "." + base64.RawURLEncoding.EncodeToString(claims) + "." +
		base64.RawURLEncoding.EncodeToString(randomBytes(32))
	if len(e.tokens) >= 100000 {
		for t, info := range e.tokens {
			if !now.Before(info.expires) {
				delete(e.tokens, t)
			}
		}
	}
	e.tokens[tok] = tokenInfo{provider: provider, expires: exp, clientID: clientID}
	return tok, exp
}

// checkBearer validates "Authorization: Bearer TOKEN" for provider.
func (e *Emulator) checkBearer(r *http.Request, provider string) (tokenInfo, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return tokenInfo{}, false
	}
	tok := strings.TrimSpace(h[len(p):])
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	info, ok := e.tokens[tok]
	if !ok || info.provider != provider || !now.Before(info.expires) {
		return tokenInfo{}, false
	}
	return info, true
}

// notification is one provider-to-merchant call, retried until acknowledged.
type notification struct {
	provider    string
	method      string
	url         string
	body        []byte
	contentType string
	// ack reports whether the merchant's answer acknowledges the notification.
	ack func(status int, body []byte) bool
	// what names it in logs (never carries a secret).
	what string
}

func ack2xx(status int, _ []byte) bool { return status >= 200 && status < 300 }

// deliver sends n in the background: a first try now, then one per entry of
// the retry schedule while the answer is not an acknowledgement. It is called
// with mu held, in the same step as the status change it reports.
func (e *Emulator) deliver(n notification) {
	if n.url == "" {
		e.log.Info("sandbox notification not sent: no URL configured", "provider", n.provider, "what", n.what)
		return
	}
	e.log.Info("sandbox notification queued", "provider", n.provider, "what", n.what, "url", n.url)
	e.after(0, func(ctx context.Context) {
		for attempt := 0; ; attempt++ {
			ok, err := e.attempt(ctx, n)
			if ok {
				e.log.Info("sandbox notification acknowledged", "provider", n.provider, "what", n.what, "url", n.url, "attempt", attempt+1)
				return
			}
			if attempt >= len(e.retry) {
				e.log.Warn("sandbox notification given up", "provider", n.provider, "what", n.what, "url", n.url, "attempts", attempt+1, "err", err)
				return
			}
			e.log.Info("sandbox notification not acknowledged; will retry", "provider", n.provider, "what", n.what,
				"url", n.url, "attempt", attempt+1, "retry_in", e.retry[attempt], "err", err)
			t := time.NewTimer(e.retry[attempt])
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	})
}

func (e *Emulator) attempt(ctx context.Context, n notification) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var body io.Reader
	if n.body != nil {
		body = bytes.NewReader(n.body)
	}
	req, err := http.NewRequestWithContext(ctx, n.method, n.url, body)
	if err != nil {
		return false, fmt.Errorf("build %s notification: %w", n.provider, err)
	}
	if n.contentType != "" {
		req.Header.Set("Content-Type", n.contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "finconnectd-sandbox/"+n.provider)
	resp, err := e.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("send %s notification: %w", n.provider, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, fmt.Errorf("read %s notification answer: %w", n.provider, err)
	}
	if !n.ack(resp.StatusCode, b) {
		return false, fmt.Errorf("%s notification answered %d without an acknowledgement", n.provider, resp.StatusCode)
	}
	return true, nil
}
