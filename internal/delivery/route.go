package delivery

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
)

// Defaults for a route's fields the configuration should have filled.
const (
	defaultTimeout     = 10 * time.Second
	defaultMaxAttempts = 15
	defaultMaxAge      = 72 * time.Hour
	// leaseMargin: a lease outlives the POST it covers by at least this,
	// so a slow forward never has its delivery claimed twice.
	leaseMargin = 30 * time.Second
)

// routeConf is what a worker needs of its route; replaced whole on reload.
type routeConf struct {
	name        string
	url         string
	key         []byte
	redactions  []string // secret forms and the full URL, never in error text
	safeURL     string   // the URL without userinfo and query, for logs
	timeout     time.Duration
	maxAttempts int
	maxAge      time.Duration
	lease       time.Duration
	conc        int // POSTs in flight at once
}

// claimLease is how long a delivery of the route is leased when claimed
// or handed off. One beyond the free POST slots waits for one: at most one
// POST of each other slot, each within its timeout, so the lease covers
// that wait on top of its own POST.
func (rc *routeConf) claimLease() time.Duration { return rc.lease + rc.timeout }

// newRouteConf builds r's configuration; conc is its concurrency when r
// sets none.
func newRouteConf(r *config.Route, lease time.Duration, conc int) (*routeConf, error) {
	if r == nil {
		return nil, fmt.Errorf("route: nil")
	}
	u, err := url.Parse(r.Forward.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("route %q: forward.url %s is not an http(s) URL", r.Name, stripURL(r.Forward.URL))
	}
	raw := r.Forward.Secret.Reveal()
	key, err := DecodeSecret(raw)
	if err != nil {
		return nil, fmt.Errorf("route %q: forward.secret: %w", r.Name, err)
	}
	c := &routeConf{
		name:        r.Name,
		url:         r.Forward.URL,
		key:         key,
		safeURL:     stripURL(r.Forward.URL),
		timeout:     r.Forward.Timeout,
		maxAttempts: r.Retry.MaxAttempts,
		maxAge:      r.Retry.MaxAge,
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = defaultMaxAttempts
	}
	if c.maxAge <= 0 {
		c.maxAge = defaultMaxAge
	}
	c.conc = r.Forward.Concurrency
	if c.conc <= 0 {
		c.conc = conc
	}
	c.conc = min(c.conc, config.MaxForwardConcurrency)
	c.lease = max(lease, c.timeout+leaseMargin)
	// Longest first, so a secret inside the URL goes with the URL.
	c.redactions = []string{r.Forward.URL}
	if u.RawQuery != "" {
		c.redactions = append(c.redactions, u.RawQuery)
	}
	if u.User != nil {
		c.redactions = append(c.redactions, u.User.String())
	}
	c.redactions = append(c.redactions, strings.TrimSpace(raw),
		base64.StdEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key))
	return c, nil
}

// redact removes the forward URL (replaced by its safe form), its query
// and userinfo, and every form of the secret from s.
func (c *routeConf) redact(s string) string {
	for i, r := range c.redactions {
		if len(r) < 4 {
			continue // too short to be anything but noise
		}
		repl := "(redacted)"
		if i == 0 {
			repl = c.safeURL
		}
		s = strings.ReplaceAll(s, r, repl)
	}
	return s
}
