// Package tokencache keeps one provider access token per client: it reuses
// the token until shortly before it expires, runs at most one fetch at a time
// however many callers are waiting for it, and drops a token the provider
// has rejected (Invalidate after a 401) so the next caller fetches afresh.
//
// It knows nothing about HTTP or any provider; the fetch function does. It
// never logs and never puts a token into an error. It holds no package-level
// state.
package tokencache

import (
	"context"
	"sync"
	"time"
)

// Fetch obtains a new token and the time it stops being valid.
type Fetch func(ctx context.Context) (token string, expires time.Time, err error)

// Options tune a Cache.
type Options struct {
	// Skew is how long before expiry a token stops being reused
	// (default 60 s). When the token's whole lifetime is shorter than the
	// skew, half the lifetime is used instead, so a short-lived token is still
	// reused.
	Skew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FetchTimeout bounds one fetch, which runs detached from any one
	// caller's context so that a caller giving up does not fail the others
	// (default 1 minute).
	FetchTimeout time.Duration
}

// Cache is safe for concurrent use. The zero value is not usable; call New.
type Cache struct {
	fetch        Fetch
	skew         time.Duration
	now          func() time.Time
	fetchTimeout time.Duration

	mu       sync.Mutex
	token    string
	reuseTil time.Time
	expires  time.Time
	inflight *call
}

type call struct {
	done  chan struct{}
	token string
	err   error
}

// New returns a Cache that obtains tokens with fetch. It starts nothing.
func New(fetch Fetch, opts Options) *Cache {
	c := &Cache{fetch: fetch, skew: opts.Skew, now: opts.Now, fetchTimeout: opts.FetchTimeout}
	if c.skew <= 0 {
		c.skew = 60 * time.Second
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.fetchTimeout <= 0 {
		c.fetchTimeout = time.Minute
	}
	return c
}

// Token returns a valid token, fetching one when there is none or the
// current one is about to expire. Concurrent callers share one fetch. A
// caller whose context ends stops waiting (the fetch goes on for the others).
// A failed fetch is not cached: the next call tries again.
func (c *Cache) Token(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.reuseTil) {
		t := c.token
		c.mu.Unlock()
		return t, nil
	}
	cl := c.inflight
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		c.inflight = cl
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout)
		go func() {
			defer cancel()
			c.run(fctx, cl)
		}()
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.token, cl.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *Cache) run(ctx context.Context, cl *call) {
	token, expires, err := c.fetch(ctx)
	now := c.now()
	c.mu.Lock()
	c.inflight = nil
	if err == nil {
		c.token = token
		c.expires = expires
		life := expires.Sub(now)
		skew := c.skew
		if skew >= life {
			skew = life / 2
		}
		c.reuseTil = expires.Add(-skew)
	}
	c.mu.Unlock()
	cl.token, cl.err = token, err
	close(cl.done)
}

// Invalidate drops token if it is still the current one, so the next Token
// call fetches a new one. Call it after the provider rejected token (HTTP
// 401). A token that has already been replaced is left alone, so many
// callers failing with the same stale token cause one refresh, not many.
func (c *Cache) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token != "" && c.token == token {
		c.token = ""
		c.reuseTil = time.Time{}
		c.expires = time.Time{}
	}
}

// Expires reports when the current token expires, and false when no token
// is cached (for a refresh schedule deciding whether to renew ahead of time).
func (c *Cache) Expires() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expires, c.token != ""
}
