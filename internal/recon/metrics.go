package recon

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/state"
)

// OpenDifferences is a Prometheus collector of the open differences per
// class, read from the store at each scrape (so runs made by the CLI or
// another replica count too), bounded by a 2 s timeout.
type OpenDifferences struct {
	store state.ReconStore
	desc  *prometheus.Desc
}

// NewOpenDifferences returns the collector of finconnectd_reconciliation_open_differences.
func NewOpenDifferences(store state.ReconStore) *OpenDifferences {
	return &OpenDifferences{store: store, desc: prometheus.NewDesc("finconnectd_reconciliation_open_differences",
		"Open reconciliation differences (found by a run, not yet resolved or acknowledged), by class.", []string{"class"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *OpenDifferences) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A store that does not answer
// yields no sample rather than a wrong zero.
func (c *OpenDifferences) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.OpenDifferenceCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, class := range state.DiffClasses() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[class]), string(class))
	}
}
