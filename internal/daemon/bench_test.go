package daemon

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the baseline receiver's database
)

// latencies collects request durations from parallel clients.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(l.d[len(l.d)/2].Microseconds())/1000, "p50-ms")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPost sends bodies[i] for i in 0..b.N from parallel clients (clients
// per GOMAXPROCS; RunParallel's default when 0) and checks 200. Besides
// the rate and latencies it reports the CPU time the whole process (clients,
// daemon, store, delivery and its endpoint) used per notification.
func benchPost(b *testing.B, url string, bodies [][]byte, clients int) {
	b.Helper()
	var (
		next atomic.Int64
		lat  latencies
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	if clients > 0 {
		b.SetParallelism(clients)
	}
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			start := time.Now()
			resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[int(i)%len(bodies)]))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			lat.add(time.Since(start))
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/notification")
	lat.report(b)
}

// benchBodies builds b.N signed webhooks; with r, each is about a payment
// r's store holds (a signed webhook is proof only about a payment we hold).
func benchBodies(b *testing.B, r *running, prefix string) [][]byte {
	b.Helper()
	out := make([][]byte, b.N)
	for i := range out {
		ref := fmt.Sprintf("%s-%d-%d", prefix, b.N, i)
		if r != nil {
			r.seed("1000", ref)
		}
		out[i] = signedWebhook(b, ref, "SUCCESS", "1000")
	}
	return out
}

// BenchmarkIngest: signed ClickPesa webhooks against the in-process
// daemon, each acknowledged after the settle transaction (inbox row,
// payment, event, delivery) is committed to the SQLite store with
// synchronous=FULL, exactly as in production.
// With clients=16 per core, many webhooks wait for the store at once, as
// under a provider's burst: they share commits (group commit).
func BenchmarkIngest(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			r := startDaemon(b, runOptions{})
			bodies := benchBodies(b, r, "B")
			benchPost(b, r.public("/hooks/clickpesa"), bodies, clients)
		})
	}
}

// BenchmarkBaselineSQLiteReceiver is the floor to compare against: a
// minimal net/http handler that inserts the body into SQLite (WAL, one
// connection) and commits before answering 200. No parsing, no checksum.
func BenchmarkBaselineSQLiteReceiver(b *testing.B) {
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "baseline.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
		"CREATE TABLE inbox (id INTEGER PRIMARY KEY, body BLOB NOT NULL, received_at INTEGER NOT NULL)",
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		tx, err := db.BeginTx(r.Context(), nil)
		if err != nil {
			http.Error(w, "store", http.StatusInternalServerError)
			return
		}
		if _, err := tx.Exec("INSERT INTO inbox (body, received_at) VALUES (?, ?)", body, time.Now().UnixNano()); err != nil {
			_ = tx.Rollback()
			http.Error(w, "store", http.StatusInternalServerError)
			return
		}
		if err := tx.Commit(); err != nil {
			http.Error(w, "store", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	bodies := benchBodies(b, nil, "S")
	benchPost(b, srv.URL, bodies, 0)
}
