// Package admission bounds how many requests a listener works on at once.
// Past the bound a request waits briefly for a slot and is then refused at
// once with 503 Service Unavailable and Retry-After, before its body is
// read: an overloaded daemon answers fast and keeps its memory bounded,
// instead of queueing work until every client times out. Providers retry
// a 503, so a burst is spread over their retries rather than lost; nothing
// is ever acknowledged that was not handled.
//
// It knows nothing about what the requests are.
package admission

import (
	"net/http"
	"strconv"
	"time"
)

// Limiter admits at most a fixed number of requests at a time.
type Limiter struct {
	slots      chan struct{}
	wait       time.Duration
	retryAfter string
}

// New returns a Limiter for limit requests at a time (at least 1). A request
// past it waits up to wait for a slot; one that gets none is answered 503
// with Retry-After: retryAfter (whole seconds, at least 1).
func New(limit int, wait, retryAfter time.Duration) *Limiter {
	secs := max(1, int(retryAfter.Round(time.Second)/time.Second))
	return &Limiter{slots: make(chan struct{}, max(1, limit)), wait: wait, retryAfter: strconv.Itoa(secs)}
}

// InFlight reports how many requests hold a slot now.
func (l *Limiter) InFlight() int { return len(l.slots) }

// Wrap returns next behind the limiter. rejected, when not nil, is called
// for every request refused (for metrics).
func (l *Limiter) Wrap(next http.Handler, rejected func(r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire(r) {
			if rejected != nil {
				rejected(r)
			}
			w.Header().Set("Retry-After", l.retryAfter)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("busy: retry later\n"))
			return
		}
		defer func() { <-l.slots }()
		next.ServeHTTP(w, r)
	})
}

func (l *Limiter) acquire(r *http.Request) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if l.wait <= 0 {
		return false
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-r.Context().Done():
		return false
	}
}
