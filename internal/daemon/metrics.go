package daemon

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/finconnectd/finconnectd/internal/providers"
)

// metrics are the daemon's own series (docs/operations.md); ingest, delivery and
// payments register theirs on the same registry.
type metrics struct {
	providerCalls   *prometheus.CounterVec
	providerLatency *prometheus.HistogramVec
	tokenRefreshes  *prometheus.CounterVec
	reconcileRuns   *prometheus.CounterVec
	reconcileDrift  *prometheus.GaugeVec
	scheduleLast    *prometheus.GaugeVec
	reloads         *prometheus.CounterVec
	refused         *prometheus.CounterVec
	up              prometheus.Gauge
	storeCommits    prometheus.Histogram
	storeWrites     prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_provider_calls_total",
			Help: "Provider HTTP calls, by provider kind, operation and outcome.",
		}, []string{"provider", "operation", "outcome"}),
		providerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "finconnectd_provider_call_duration_seconds",
			Help:    "Provider HTTP call latency, by provider kind and operation.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"provider", "operation"}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_token_refreshes_total",
			Help: "Provider access token requests, by provider kind and outcome.",
		}, []string{"provider", "outcome"}),
		reconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_reconcile_runs_total",
			Help: "Scheduled reconcile runs, by schedule (reconcile, refresh_keys) and outcome (ok, error, locked).",
		}, []string{"schedule", "outcome"}),
		reconcileDrift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "finconnectd_reconcile_drift",
			Help: "Resources that differed from the configuration at the last run of the schedule.",
		}, []string{"schedule"}),
		scheduleLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "finconnectd_schedule_last_success_timestamp_seconds",
			Help: "When each schedule last completed without error.",
		}, []string{"schedule"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_config_reloads_total",
			Help: "Configuration reloads (SIGHUP), by outcome.",
		}, []string{"outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "finconnectd_http_refused_total",
			Help: "Requests answered 503 with Retry-After because the listener was at its limit of requests in flight.",
		}, []string{"listener"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "finconnectd_up",
			Help: "1 while the daemon serves.",
		}),
		storeCommits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "finconnectd_store_commit_duration_seconds",
			Help: "How long each commit of the state store's write transactions took, its flush to disk included " +
				"(SQLite commits waiting writes together, PostgreSQL each write alone). A payment waits for two commits, a webhook for one.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		storeWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "finconnectd_store_committed_writes_total",
			Help: "Writes the state store committed; over the commit count, how many writes each commit carried.",
		}),
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.providerCalls, m.providerLatency, m.tokenRefreshes, m.reconcileRuns, m.reconcileDrift,
		m.scheduleLast, m.reloads, m.refused, m.up, m.storeCommits, m.storeWrites,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe is the providers.CallObserver handed to the clients.
func (m *metrics) observe(kind providers.Kind, operation, outcome string, elapsed time.Duration) {
	op := strings.ReplaceAll(strings.TrimSpace(operation), " ", "_")
	m.providerCalls.WithLabelValues(string(kind), op, outcome).Inc()
	m.providerLatency.WithLabelValues(string(kind), op).Observe(elapsed.Seconds())
	if strings.Contains(op, "token") {
		m.tokenRefreshes.WithLabelValues(string(kind), outcome).Inc()
	}
}

// observeCommit is the state.CommitObserver's callback: it runs on the
// store's write path.
func (m *metrics) observeCommit(writes int, took time.Duration) {
	m.storeCommits.Observe(took.Seconds())
	m.storeWrites.Add(float64(writes))
}

// refusedOn counts the requests a listener's admission limiter refuses.
func (m *metrics) refusedOn(listener string) func(*http.Request) {
	c := m.refused.WithLabelValues(listener)
	return func(*http.Request) { c.Inc() }
}
