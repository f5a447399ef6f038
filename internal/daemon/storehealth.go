package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/state"
)

// maxReasonLen bounds the error text /readyz shows for a failing store.
const maxReasonLen = 300

// writeHealth remembers whether the store's last write failed because of
// the storage (disk full, read-only, I/O error, server gone): while it
// does, the daemon is not ready (a load balancer should send webhooks and
// payments elsewhere). A later successful write, or a successful probe
// (readyz makes one while failing), makes it ready again.
type writeHealth struct {
	log      *slog.Logger
	now      func() time.Time
	st       state.Store // the store as opened (set by watch)
	writable prometheus.Gauge
	failures *prometheus.CounterVec

	mu      sync.Mutex
	failing bool
	kind    string
	reason  string
	since   time.Time
}

func newWriteHealth(reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*writeHealth, error) {
	h := &writeHealth{
		log: log,
		now: now,
		writable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "finconnectd_store_writable",
			Help: "1 while the state store accepts writes; 0 after a write failed because of the storage (disk full, read-only, I/O error, server unreachable) until a write or probe succeeds. /readyz says why.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_store_write_failures_total",
			Help: "State store writes that failed because of the storage, by kind (disk full, read-only, I/O error, unreachable, ...).",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{h.writable, h.failures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	h.writable.Set(1)
	return h, nil
}

// watch returns st wrapped so that its writes' errors go through h.
func (h *writeHealth) watch(st state.Store) state.Store {
	h.st = st
	return healthStore{Store: st, h: h}
}

// observe records the result of a write.
func (h *writeHealth) observe(err error) {
	if err == nil {
		h.ok()
		return
	}
	wc, ok := h.st.(state.WriteChecker)
	if !ok {
		return
	}
	kind, failure := wc.StorageFailure(err)
	if !failure {
		return // an answer about the data: the store works
	}
	h.failures.WithLabelValues(kind).Inc()
	reason := err.Error()
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen] + "…"
	}
	h.mu.Lock()
	was := h.failing
	h.failing, h.kind, h.reason = true, kind, reason
	if !was {
		h.since = h.now()
	}
	h.mu.Unlock()
	h.writable.Set(0)
	if !was {
		h.log.Error("state store: a write failed ("+kind+"); not ready until a write succeeds again",
			"kind", kind, "err", err)
	}
}

func (h *writeHealth) ok() {
	h.mu.Lock()
	was, kind, since := h.failing, h.kind, h.since
	h.failing, h.kind, h.reason = false, "", ""
	h.mu.Unlock()
	if was {
		h.writable.Set(1)
		h.log.Info("state store: writes succeed again; ready", "kind", kind, "failing_for", h.now().Sub(since).Round(time.Millisecond))
	}
}

// status returns why writes fail; ok when they do not.
func (h *writeHealth) status() (kind, reason string, since time.Time, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kind, h.reason, h.since, !h.failing
}

// check is readyz's: while failing, it probes the store with a write.
func (h *writeHealth) check(ctx context.Context) (kind, reason string, since time.Time, ok bool) {
	if _, _, _, ok := h.status(); ok {
		return "", "", time.Time{}, true
	}
	if wc, isWC := h.st.(state.WriteChecker); isWC {
		err := wc.ProbeWrite(ctx)
		if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			h.observe(err)
		}
	}
	return h.status()
}

// healthStore is the store the daemon's components use: every write's
// error goes through writeHealth. Reads and methods added later pass
// through untouched.
type healthStore struct {
	state.Store
	h *writeHealth
}

func (s healthStore) seen(err error) error {
	s.h.observe(err)
	return err
}

func (s healthStore) PutResource(ctx context.Context, r state.Resource) (state.Meta, error) {
	m, err := s.Store.PutResource(ctx, r)
	return m, s.seen(err)
}

func (s healthStore) DeleteResource(ctx context.Context, address string) (state.Meta, error) {
	m, err := s.Store.DeleteResource(ctx, address)
	return m, s.seen(err)
}

func (s healthStore) CreatePayment(ctx context.Context, p state.Payment) error {
	return s.seen(s.Store.CreatePayment(ctx, p))
}

func (s healthStore) RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	p, err := s.Store.RecordInitiation(ctx, id, in, now)
	return p, s.seen(err)
}

func (s healthStore) ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error {
	return s.seen(s.Store.ScheduleSync(ctx, id, next, attempts))
}

func (s healthStore) ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	r, err := s.Store.ApplyStatus(ctx, c)
	return r, s.seen(err)
}

func (s healthStore) ClaimIdempotencyKey(ctx context.Context, key, requestHash string, now time.Time) (state.IdempotencyRecord, bool, error) {
	r, fresh, err := s.Store.ClaimIdempotencyKey(ctx, key, requestHash, now)
	return r, fresh, s.seen(err)
}

func (s healthStore) ClaimKeyAndCreatePayment(ctx context.Context, key, requestHash string, now time.Time, p state.Payment) (state.IdempotencyRecord, bool, error) {
	r, fresh, err := s.Store.ClaimKeyAndCreatePayment(ctx, key, requestHash, now, p)
	return r, fresh, s.seen(err)
}

func (s healthStore) CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error {
	return s.seen(s.Store.CompleteIdempotencyKey(ctx, key, statusCode, body, paymentID))
}

func (s healthStore) ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	d, err := s.Store.ClaimDeliveries(ctx, route, owner, now, lease, limit)
	return d, s.seen(err)
}

func (s healthStore) RecordAttempt(ctx context.Context, r state.AttemptResult) error {
	return s.seen(s.Store.RecordAttempt(ctx, r))
}

func (s healthStore) RecordAttempts(ctx context.Context, rs []state.AttemptResult, claim state.Claim) ([]error, []state.Delivery, error) {
	errs, claimed, err := s.Store.RecordAttempts(ctx, rs, claim)
	return errs, claimed, s.seen(err)
}

func (s healthStore) ReplayEvent(ctx context.Context, id string, now time.Time) error {
	return s.seen(s.Store.ReplayEvent(ctx, id, now))
}

// ClaimDuePayments claims through the store when it can (see
// state.SyncClaimer), else lists the due payments.
func (s healthStore) ClaimDuePayments(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]state.Payment, error) {
	c, ok := s.Store.(state.SyncClaimer)
	if !ok {
		return s.Store.DuePayments(ctx, now, limit)
	}
	p, err := c.ClaimDuePayments(ctx, now, lease, limit)
	return p, s.seen(err)
}
