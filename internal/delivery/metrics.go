package delivery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/state"
)

// Delivery results, the "result" label of finconnectd_deliveries_total.
const (
	resultDelivered = "delivered"
	resultRetry     = "retry"
	resultDead      = "dead"
)

// metrics are delivery's series: deliveries by outcome, queue depth and
// oldest age (docs/events.md).
type metrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	queue      *queueCollector
}

func newMetrics(reg prometheus.Registerer, st state.OutboxStore, now func() time.Time) (*metrics, error) {
	var err error
	m := &metrics{}
	if m.deliveries, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "finconnectd_deliveries_total",
		Help: "Event delivery attempts, by route and result (delivered, retry, dead).",
	}, []string{"route", "result"})); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "finconnectd_delivery_duration_seconds",
		Help:    "Time from sending an event to the forward's answer (or the timeout), by route.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route"})); err != nil {
		return nil, err
	}
	if m.queue, err = register(reg, newQueueCollector()); err != nil {
		return nil, err
	}
	m.queue.set(st, now)
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same descriptors (a dispatcher rebuilt on the same registry).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// queueCollector asks the store for the queue's size at scrape time.
type queueCollector struct {
	depth, oldest *prometheus.Desc

	mu  sync.Mutex
	st  state.OutboxStore
	now func() time.Time
}

func newQueueCollector() *queueCollector {
	return &queueCollector{
		depth: prometheus.NewDesc("finconnectd_delivery_queue_depth",
			"Deliveries waiting for their first or next attempt (status pending).", nil, nil),
		oldest: prometheus.NewDesc("finconnectd_delivery_oldest_pending_age_seconds",
			"Age of the oldest pending delivery; 0 when none is pending.", nil, nil),
	}
}

func (q *queueCollector) set(st state.OutboxStore, now func() time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.st, q.now = st, now
}

// Describe implements prometheus.Collector.
func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.depth
	ch <- q.oldest
}

// Collect implements prometheus.Collector; a store error leaves the series
// out of this scrape (and is reported to the scraper).
func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	st, now := q.st, q.now
	q.mu.Unlock()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := st.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(q.depth, prometheus.GaugeValue, float64(s.Pending))
	age := 0.0
	if !s.OldestPending.IsZero() {
		age = max(now().Sub(s.OldestPending).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(q.oldest, prometheus.GaugeValue, age)
}
