package ingest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
)

// bucket is a token bucket: rate tokens per second, up to burst. It limits
// how many unverified notifications may make us query a provider.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends one token if there is one.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// flight is one provider status query that several notifications wait for.
type flight struct {
	done chan struct{}
	st   providers.PaymentStatus
	err  error
}

// flights coalesces status queries: one in flight per key.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
	// joined counts callers that joined a query already in flight (tests
	// wait on it).
	joined atomic.Int64
}

// do runs query once for key while it is in flight; callers arriving
// meanwhile wait for the same answer. start is asked before a new query is
// started (the rate limit); when it says no, do returns errRateLimited
// without querying. The query runs detached from the first caller's
// context (bounded by timeout) so that one caller going away does not fail
// the others; each caller stops waiting when its own ctx ends.
func (f *flights) do(ctx context.Context, key string, timeout time.Duration, start func() bool,
	query func(ctx context.Context) (providers.PaymentStatus, error)) (providers.PaymentStatus, bool, error) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		f.mu.Unlock()
		f.joined.Add(1)
		select {
		case <-fl.done:
			return fl.st, true, fl.err
		case <-ctx.Done():
			return providers.PaymentStatus{}, true, ctx.Err()
		}
	}
	if !start() {
		f.mu.Unlock()
		return providers.PaymentStatus{}, false, errRateLimited
	}
	fl := &flight{done: make(chan struct{})}
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	f.m[key] = fl
	f.mu.Unlock()

	go func() {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		fl.st, fl.err = query(qctx)
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	select {
	case <-fl.done:
		return fl.st, false, fl.err
	case <-ctx.Done():
		return providers.PaymentStatus{}, false, ctx.Err()
	}
}

// maskPhone keeps a phone number's first four and last two digits, enough
// to recognise it in logs without disclosing it.
func maskPhone(p string) string {
	if p == "" {
		return ""
	}
	r := []rune(p)
	if len(r) <= 6 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:4]) + strings.Repeat("*", len(r)-6) + string(r[len(r)-2:])
}
