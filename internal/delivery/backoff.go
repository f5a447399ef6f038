package delivery

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// schedule is the delay before the next attempt, indexed by the attempts
// made so far minus one; the last step repeats. (A function, not a
// variable: the package keeps no mutable state.)
func schedule() [9]time.Duration {
	return [9]time.Duration{
		5 * time.Second,
		5 * time.Minute,
		30 * time.Minute,
		2 * time.Hour,
		5 * time.Hour,
		10 * time.Hour,
		14 * time.Hour,
		20 * time.Hour,
		24 * time.Hour,
	}
}

const (
	// jitter spreads retries by ±20 %.
	jitter = 0.2
	// maxRetryAfter caps a receiver's Retry-After.
	maxRetryAfter = 24 * time.Hour
	// minRetryAfter: a Retry-After never brings the next attempt closer
	// than the schedule's first step.
	minRetryAfter = 5 * time.Second
)

// Schedule returns the retry schedule (a copy), for documentation and tests.
func Schedule() []time.Duration {
	s := schedule()
	return s[:]
}

// backoff is the delay after the attempt number n (1-based) failed,
// jittered by ±20 %; r is uniform in [0, 1).
func backoff(n int, r float64) time.Duration {
	i := n - 1
	if i < 0 {
		i = 0
	}
	steps := schedule()
	if i >= len(steps) {
		i = len(steps) - 1
	}
	base := steps[i]
	if r < 0 || r >= 1 {
		r = 0.5
	}
	f := 1 - jitter + 2*jitter*r
	return time.Duration(float64(base) * f)
}

// retryAfter reads a Retry-After header (delay in seconds or an HTTP date)
// and clamps it to [minRetryAfter, maxRetryAfter]. ok is false when the
// header is absent or unreadable.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			secs = int64(maxRetryAfter / time.Second)
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, minRetryAfter), maxRetryAfter), true
}
