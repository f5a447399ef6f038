package payments

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	initiations *prometheus.CounterVec   // provider, outcome
	syncs       *prometheus.CounterVec   // provider, outcome
	duration    *prometheus.HistogramVec // provider, code
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		initiations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_payments_initiated_total",
			Help: "Payment initiations through the pay API, by provider and outcome (pending, failed, unknown, rejected, unavailable).",
		}, []string{"provider", "outcome"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_payment_syncs_total",
			Help: "Status queries made by payment sync and refresh, by provider and outcome (changed, unchanged, error, skipped, gave_up).",
		}, []string{"provider", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "finconnectd_pay_api_request_duration_seconds",
			Help:    "POST /v1/payments latency, provider call included, by provider and HTTP status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"provider", "code"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.initiations, err = register(reg, m.initiations); err != nil {
		return nil, err
	}
	if m.syncs, err = register(reg, m.syncs); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name (a new Service after a reload shares the counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
