package payouts

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
)

func reportPercentiles(b *testing.B, d []time.Duration) {
	b.Helper()
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	pct := func(p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
}

// BenchmarkPayoutAPIOverhead compares one ClickPesa payout made directly
// through the provider client (preview, then create: what the API asks the
// provider) with the same payout through POST /v1/payouts (decode,
// validate, guardrails and the rolling limit, idempotency key, the payout
// row before the call and the answer after, the audit entry, loopback
// HTTP and auth). The difference is the API's overhead. The emulator
// settles nothing during the run (no webhooks compete) and holds a
// balance large enough for every iteration.
func BenchmarkPayoutAPIOverhead(b *testing.B) {
	var run atomic.Int64
	const balance = "1000000000000"
	b.Run("direct", func(b *testing.B) {
		h := newHarness(b, harnessOptions{balance: balance, quiet: true, payouts: limitsForBench()})
		prov := h.svc.providersOrFail(b, "clickpesa.tz")
		prefix := fmt.Sprintf("D%d", run.Add(1))
		send := func(ref string) error {
			o := Order{Reference: ref, Amount: "1000", Currency: "TZS", Type: "mobile_money", Phone: "255712345670"}
			if _, err := prov.Preview(context.Background(), o); err != nil {
				return err
			}
			_, err := prov.Create(context.Background(), o)
			return err
		}
		if err := send(prefix + "WARM"); err != nil {
			b.Fatal(err) // fetches the token outside the measurement
		}
		durs := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			err := send(fmt.Sprintf("%sX%d", prefix, i))
			durs = append(durs, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		reportPercentiles(b, durs)
	})
	b.Run("api", func(b *testing.B) {
		// A limit that is never reached, so that the rolling total is read
		// and checked on every payout, as in production.
		h := newHarness(b, harnessOptions{balance: balance, quiet: true, payouts: limitsForBench()})
		prefix := fmt.Sprintf("A%d", run.Add(1))
		if r := h.payout("", payoutBody(prefix+"WARM", "255712345670", "1000")); r.status != http.StatusCreated {
			b.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		durs := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			body := payoutBody(fmt.Sprintf("%sX%d", prefix, i), "255712345670", "1000")
			start := time.Now()
			r := h.payout(fmt.Sprintf("%s-key-%d", prefix, i), body)
			durs = append(durs, time.Since(start))
			if r.status != http.StatusCreated {
				b.Fatalf("%d %s", r.status, r.body)
			}
		}
		reportPercentiles(b, durs)
	})
}

func limitsForBench() config.PayoutsConfig {
	return config.PayoutsConfig{Limits: []config.PayoutLimit{{Currency: "TZS", MaxPerPayout: "1000000", MaxPer24h: "100000000000"}}}
}
