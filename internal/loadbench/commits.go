package loadbench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// commitStats is the daemon's store commit histogram
// (finconnectd_store_commit_duration_seconds) and its count of writes
// committed, as /metrics shows them: cumulative since the daemon started,
// so a step's figures are the difference of two reads.
type commitStats struct {
	commits, writes float64
	bounds          []float64 // the buckets' upper bounds, in seconds, ascending
	cum             []float64 // commits at or under each bound
}

// readCommits reads the daemon's commit statistics from its /metrics.
func (e *env) readCommits(ctx context.Context) (commitStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.apiAddr+"/metrics", nil)
	if err != nil {
		return commitStats{}, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return commitStats{}, fmt.Errorf("read the daemon's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return commitStats{}, fmt.Errorf("read the daemon's metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return commitStats{}, fmt.Errorf("parse the daemon's metrics: %w", err)
	}
	var s commitStats
	h, ok := fams["finconnectd_store_commit_duration_seconds"]
	if !ok || len(h.GetMetric()) != 1 || h.GetMetric()[0].GetHistogram() == nil {
		return commitStats{}, fmt.Errorf("the daemon's metrics lack finconnectd_store_commit_duration_seconds")
	}
	hist := h.GetMetric()[0].GetHistogram()
	s.commits = float64(hist.GetSampleCount())
	for _, b := range hist.GetBucket() {
		s.bounds = append(s.bounds, b.GetUpperBound())
		s.cum = append(s.cum, float64(b.GetCumulativeCount()))
	}
	if w, ok := fams["finconnectd_store_committed_writes_total"]; ok && len(w.GetMetric()) == 1 {
		s.writes = w.GetMetric()[0].GetCounter().GetValue()
	}
	return s, nil
}

// minus is what happened between an earlier read and s.
func (s commitStats) minus(earlier commitStats) commitStats { return s.add(earlier, -1) }

// plus adds two differences of reads.
func (s commitStats) plus(o commitStats) commitStats {
	if len(s.bounds) == 0 {
		return o
	}
	return s.add(o, 1)
}

// add is s + sign·o, bucket by bucket (s's buckets).
func (s commitStats) add(o commitStats, sign float64) commitStats {
	d := commitStats{commits: s.commits + sign*o.commits, writes: s.writes + sign*o.writes, bounds: s.bounds}
	d.cum = make([]float64, len(s.cum))
	for i := range s.cum {
		d.cum[i] = s.cum[i]
		if i < len(o.cum) {
			d.cum[i] += sign * o.cum[i]
		}
	}
	return d
}

// quantile estimates the q-quantile of the commits' durations as
// Prometheus's histogram_quantile does: linearly within the bucket that
// holds it. In the bucket without an upper bound it answers the last
// finite bound.
func (s commitStats) quantile(q float64) time.Duration {
	if s.commits <= 0 || len(s.bounds) == 0 {
		return 0
	}
	rank := q * s.commits
	lower, below := 0.0, 0.0
	for i, upper := range s.bounds {
		if s.cum[i] >= rank {
			if math.IsInf(upper, 1) {
				break // the last finite bound, below
			}
			in := s.cum[i] - below
			frac := 1.0
			if in > 0 {
				frac = (rank - below) / in
			}
			return time.Duration((lower + (upper-lower)*frac) * float64(time.Second))
		}
		lower, below = upper, s.cum[i]
	}
	return time.Duration(lower * float64(time.Second))
}

// perCommit is the writes each commit carried on average.
func (s commitStats) perCommit() float64 {
	if s.commits <= 0 {
		return 0
	}
	return s.writes / s.commits
}
