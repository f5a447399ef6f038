package delivery

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
)

// BenchmarkDispatch measures delivery throughput of one route to a local
// receiver that answers 204 at once, through the real SQLite store
// (claim, POST, record). b.N events are queued first, then delivered.
func BenchmarkDispatch(b *testing.B) {
	for _, conc := range []int{1, 4, 16} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			e := newEnv(b)
			var got atomic.Int64
			rv := newReceiver(b, time.Now, func(w http.ResponseWriter, _ *http.Request, _ int) {
				got.Add(1)
				w.WriteHeader(http.StatusNoContent)
			})
			for range b.N {
				e.enqueue("bench")
			}
			d, err := New(Config{Store: e.st, Routes: []*config.Route{route("bench", rv.URL())}, Concurrency: conc,
				Now: e.clk.Now, PollInterval: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			if err := d.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			for got.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			// The last RecordAttempt may still be running: wait for the queue to drain.
			for {
				s, err := e.st.Stats(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if s.Pending == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
		})
	}
}
