package payments

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// quietSettings: customers never answer during a benchmark, so no
// notifications compete with the measured calls.
func quietSettings(latency time.Duration) sandbox.Settings {
	return sandbox.Settings{Delay: sandbox.Duration(time.Hour), Latency: sandbox.Duration(latency)}
}

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

// BenchmarkPayAPIOverhead compares one ClickPesa initiation made directly
// through the provider client with the same initiation through
// POST /v1/payments (decode, validate, idempotency key, payment row before
// and after, loopback HTTP and auth). The difference is the API's overhead.
func BenchmarkPayAPIOverhead(b *testing.B) {
	var run atomic.Int64
	b.Run("direct", func(b *testing.B) {
		h := newHarness(b, harnessOptions{settings: quietSettings(0)})
		payer := h.payers["clickpesa.tz"]
		prefix := fmt.Sprintf("D%d", run.Add(1))
		if _, err := payer.InitiatePayment(context.Background(), providers.PaymentRequest{
			Reference: prefix + "WARM", Amount: "1000", Currency: "TZS", Phone: "255712345670"}); err != nil {
			b.Fatal(err) // fetches the token outside the measurement
		}
		durs := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			_, err := payer.InitiatePayment(context.Background(), providers.PaymentRequest{
				Reference: fmt.Sprintf("%sX%d", prefix, i), Amount: "1000", Currency: "TZS", Phone: "255712345670"})
			durs = append(durs, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		reportPercentiles(b, durs)
	})
	b.Run("api", func(b *testing.B) {
		h := newHarness(b, harnessOptions{settings: quietSettings(0)})
		prefix := fmt.Sprintf("A%d", run.Add(1))
		if r := h.pay("", paymentBody("clickpesa.tz", prefix+"WARM", "255712345670")); r.status != http.StatusCreated {
			b.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		durs := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			body := paymentBody("clickpesa.tz", fmt.Sprintf("%sX%d", prefix, i), "255712345670")
			start := time.Now()
			r := h.pay(fmt.Sprintf("%s-key-%d", prefix, i), body)
			durs = append(durs, time.Since(start))
			if r.status != http.StatusCreated {
				b.Fatalf("%d %s", r.status, r.body)
			}
		}
		reportPercentiles(b, durs)
	})
}

// tokenPerPayment is what the seed SDK does: a new client, so a new token,
// for every payment.
type tokenPerPayment struct{ mk func() providers.Payer }

func (t tokenPerPayment) InitiatePayment(ctx context.Context, r providers.PaymentRequest) (providers.PaymentResult, error) {
	return t.mk().InitiatePayment(ctx, r)
}

func (t tokenPerPayment) QueryPayment(ctx context.Context, q providers.PaymentQuery) (providers.PaymentStatus, error) {
	return t.mk().QueryPayment(ctx, q)
}

// BenchmarkPaymentsPerSecond pushes ClickPesa payments through the pay API
// from 32 concurrent clients against the emulator with 50 ms of latency on
// every answer: once with the shared cached token, once fetching a token
// before every payment.
func BenchmarkPaymentsPerSecond(b *testing.B) {
	var run atomic.Int64
	for _, mode := range []string{"cached-token", "token-per-payment"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, harnessOptions{settings: quietSettings(50 * time.Millisecond)})
			if mode == "token-per-payment" {
				p := h.cfg.Provider("clickpesa.tz").ClickPesa
				h.payers["clickpesa.tz"] = tokenPerPayment{mk: func() providers.Payer {
					c, err := clickpesa.New(clickpesa.Options{BaseURL: p.BaseURL, ClientID: p.ClientID, APIKey: p.APIKey})
					if err != nil {
						panic(err)
					}
					return c
				}}
			}
			prefix := fmt.Sprintf("P%d", run.Add(1))
			var (
				next atomic.Int64
				wg   sync.WaitGroup
				fail atomic.Value
			)
			const workers = 32
			total := int64(b.N)
			b.ResetTimer()
			start := time.Now()
			for range workers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > total {
							return
						}
						r := h.pay("", paymentBody("clickpesa.tz", fmt.Sprintf("%sX%d", prefix, i), "255712345670"))
						if r.status != http.StatusCreated {
							fail.Store(fmt.Sprintf("%d %s", r.status, r.body))
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if f := fail.Load(); f != nil {
				b.Fatal(f)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "payments/s")
			b.ReportMetric(float64(h.countPath("/generate-token")), "token-requests")
		})
	}
}
