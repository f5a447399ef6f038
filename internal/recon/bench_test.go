package recon_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/recon"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// BenchmarkReconcileClickPesa100k reconciles a window of 100,000 ClickPesa
// payments (created in the emulator in bulk, and in our SQLite store as
// succeeded) and reports the provider calls (list pages), and the
// process's peak RSS (VmHWM: emulator and seeding included, an upper
// bound for the run). Run it alone: go test -run - -bench ReconcileClickPesa100k -benchtime 1x ./internal/recon
func BenchmarkReconcileClickPesa100k(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	emu, err := sandbox.New(sandbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = emu.Stop(context.Background()) })
	from := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	if err := emu.Bulk(sandbox.BulkPayments{Count: n, Prefix: "BENCH", Amount: "1000", From: from, To: to}); err != nil {
		b.Fatal(err)
	}
	st := teststore.New(b)
	step := to.Sub(from) / n
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				at := from.Add(time.Duration(i-1) * step)
				err := st.CreatePayment(ctx, state.Payment{ID: fmt.Sprintf("pay_bench%07d", i), Provider: "clickpesa.tz",
					Reference: fmt.Sprintf("BENCH%d", i), Status: state.StatusSucceeded, Amount: "1000", Currency: "TZS",
					ProviderReference: fmt.Sprintf("BENCH%dLCP%s", i, strconv.FormatInt(int64(i), 36)), CreatedAt: at})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	cp, err := clickpesa.New(clickpesa.Options{BaseURL: emu.URL() + "/clickpesa", ClientID: secret.New("bench"), APIKey: secret.New("bench")})
	if err != nil {
		b.Fatal(err)
	}
	eng := recon.New(recon.Options{
		Store: st, Settler: settle.New(settle.Options{Store: st}),
		Payer:     func(string) (providers.Payer, bool) { return cp, true },
		ClickPesa: func(string) *clickpesa.Client { return cp },
	})
	b.ResetTimer()
	for b.Loop() {
		before := len(emu.Requests())
		start := time.Now()
		sum, err := eng.Run(ctx, "clickpesa.tz", from, to)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/run")
		b.ReportMetric(float64(sum.Run.Counters.ProviderCalls), "provider_calls")
		b.ReportMetric(float64(len(emu.Requests())-before), "http_requests")
		if sum.Run.Counters.Matched != n || sum.OpenTotal() != 0 {
			b.Fatalf("matched %d open %d, want %d and 0", sum.Run.Counters.Matched, sum.OpenTotal(), n)
		}
	}
	b.StopTimer()
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/1024, "peak_rss_MB")
	}
}

// vmHWM is the process's peak resident set in KiB (Linux), or 0.
func vmHWM() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}
