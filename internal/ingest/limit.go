package ingest

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/finconnectd/finconnectd/internal/providers"
)

// newLimiter is a route's budget for new confirming queries: rate per
// second, bursts of burst.
func newLimiter(r float64, burst int) *rate.Limiter { return rate.NewLimiter(rate.Limit(r), burst) }

// flights coalesces confirming status queries: one in flight per key.
type flights struct {
	g singleflight.Group
	// joined counts callers registered with a flight (tests wait on it).
	joined atomic.Int64
}

// do runs query once for key while it is in flight; callers arriving
// meanwhile wait for the same answer. start is asked before a new query is
// started (the rate limit); when it says no, every caller of that flight
// gets errRateLimited without a query. The query runs detached from the
// first caller's context (bounded by timeout) so that one caller going away
// does not fail the others; each caller stops waiting when its own ctx
// ends.
func (f *flights) do(ctx context.Context, key string, timeout time.Duration, start func() bool,
	query func(ctx context.Context) (providers.PaymentStatus, error)) (providers.PaymentStatus, bool, error) {
	detached := context.WithoutCancel(ctx)
	ch := f.g.DoChan(key, func() (any, error) {
		if !start() {
			return providers.PaymentStatus{}, errRateLimited
		}
		qctx, cancel := context.WithTimeout(detached, timeout)
		defer cancel()
		return query(qctx)
	})
	f.joined.Add(1)
	select {
	case r := <-ch:
		st, _ := r.Val.(providers.PaymentStatus)
		return st, r.Shared, r.Err
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
