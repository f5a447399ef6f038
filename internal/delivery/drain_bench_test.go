package delivery

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/postgres"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
)

// drainWindow is how many deliveries BenchmarkDrain times: all of a
// backlog of that size, the first ones of a bigger backlog.
const drainWindow = 1000

// BenchmarkDrain measures how fast a backlog of due deliveries drains to
// a local receiver that answers 204 at once (claim, signed POST, record),
// with 4 POSTs in flight (the figures in docs/benchmarks.md were measured so), on SQLite and on PostgreSQL
// ($FINCONNECTD_TEST_POSTGRES_DSN, default the local test server; skipped
// when unreachable). The backlog (one route, every delivery due) is
// written straight into the outbox before the timer starts; the rate is
// that of the first 1,000 deliveries, so a backlog of 50,000 is timed
// while it is still 49,000 or more deep. A claim that reads every due
// row shows as a rate that falls with the backlog.
func BenchmarkDrain(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, backlog := range []int{1000, 50000} {
			b.Run(fmt.Sprintf("%s/backlog=%d", backend, backlog), func(b *testing.B) {
				var (
					rate float64
					cpu  time.Duration
				)
				for range b.N {
					b.StopTimer()
					st, seed := openDrainStore(b, backend)
					seedBacklog(b, st, seed, backend, backlog)
					rate, cpu = drain(b, st, min(backlog, drainWindow))
				}
				b.ReportMetric(rate, "deliveries/s")
				b.ReportMetric(float64(cpu.Microseconds()), "cpu-µs/delivery")
			})
		}
	}
}

// drainStore is a store plus a raw connection to seed it.
type drainStore struct {
	state.Store
	exec func(ctx context.Context, q string, args ...any) error
	plan func(ctx context.Context) string
}

func openDrainStore(b *testing.B, backend string) (*drainStore, string) {
	b.Helper()
	ctx := context.Background()
	switch backend {
	case "sqlite":
		path := filepath.Join(b.TempDir(), "state.db")
		st, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		db, err := sql.Open("sqlite", sqlite.FileURI(path)+"?_pragma=busy_timeout(10000)")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = db.Close() })
		ds := &drainStore{Store: st, exec: func(ctx context.Context, q string, args ...any) error {
			_, err := db.ExecContext(ctx, q, args...)
			return err
		}}
		ds.plan = func(ctx context.Context) string {
			rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN UPDATE deliveries SET lease_owner = 'plan', lease_until = 0
WHERE rowid IN (SELECT rowid FROM deliveries
	WHERE route = 'bench' AND status = 'pending' AND next_attempt_at <= 0 AND lease_until <= 0
	ORDER BY next_attempt_at, rowid LIMIT 4)
RETURNING rowid, id, (SELECT payload FROM events WHERE events.id = event_id)`)
			if err != nil {
				return err.Error()
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if rows.Scan(&id, &parent, &notused, &detail) == nil {
					out = append(out, detail)
				}
			}
			return strings.Join(out, "; ")
		}
		return ds, enqueueSeed(b, st)
	case "postgres":
		dsn := os.Getenv("FINCONNECTD_TEST_POSTGRES_DSN")
		if dsn == "" {
			dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=5"
		}
		var r [6]byte
		_, _ = rand.Read(r[:])
		schema := "fc_bench_" + hex.EncodeToString(r[:])
		st, err := postgres.Open(ctx, secret.New(dsn), postgres.Options{Schema: schema})
		if err != nil {
			b.Skipf("PostgreSQL not reachable: %v", err)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			_ = st.Close()
			b.Skipf("PostgreSQL not reachable: %v", err)
		}
		b.Cleanup(func() {
			_ = st.Close()
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			_ = conn.Close(context.Background())
		})
		if _, err := conn.Exec(ctx, "SET search_path = "+schema); err != nil {
			b.Fatal(err)
		}
		ds := &drainStore{Store: st, exec: func(ctx context.Context, q string, args ...any) error {
			_, err := conn.Exec(ctx, q, args...)
			return err
		}}
		ds.plan = func(ctx context.Context) string {
			rows, err := conn.Query(ctx, `EXPLAIN WITH due AS (
	SELECT id FROM deliveries
	WHERE route = 'bench' AND status = 'pending' AND next_attempt_at <= now() AND lease_until <= now()
	ORDER BY next_attempt_at, seq LIMIT 4 FOR UPDATE SKIP LOCKED
), d AS (
	UPDATE deliveries SET lease_owner = 'plan', lease_until = now() FROM due WHERE deliveries.id = due.id
	RETURNING deliveries.*
)
SELECT d.id, e.payload FROM d JOIN events e ON e.id = d.event_id ORDER BY d.next_attempt_at, d.seq`)
			if err != nil {
				return err.Error()
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err.Error()
			}
			return strings.Join(lines, "\n")
		}
		return ds, enqueueSeed(b, st)
	}
	b.Fatalf("unknown backend %s", backend)
	return nil, ""
}

// enqueueSeed queues the one event the backlog is cloned from.
func enqueueSeed(b *testing.B, st state.Store) string {
	b.Helper()
	res, err := st.ApplyStatus(context.Background(), state.StatusChange{
		Provider: "clickpesa.tz", Reference: "DRAIN-SEED", Status: "succeeded",
		Amount: "1000", Currency: "TZS", CreateIfMissing: true,
		EventType: "payment.succeeded", Routes: []string{"bench"}, Now: time.Now().Add(-time.Minute),
		EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `{"type":"payment.succeeded","timestamp":%q,"data":{"payment_id":%q,"reference":%q,"status":"succeeded"}}`,
				at.UTC().Format(time.RFC3339), p.ID, p.Reference), nil
		},
	})
	if err != nil || res.EventID == "" {
		b.Fatalf("seed event: %v %+v", err, res)
	}
	return res.EventID
}

// seedBacklog clones the seed event and its delivery until backlog
// deliveries are due, in one statement each (the backlog of an outage,
// without timing the writes that made it).
func seedBacklog(b *testing.B, st *drainStore, seed, backend string, backlog int) {
	b.Helper()
	ctx := context.Background()
	p1, p2 := "?", "?"
	if backend == "postgres" {
		p1, p2 = "$1", "$2"
	}
	series := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + p1 + `) `
	for _, q := range []string{
		series + `INSERT INTO events (id, type, payment_id, provider, payload, created_at)
SELECT e.id || '_' || n.i, e.type, e.payment_id, e.provider, e.payload, e.created_at FROM events e, n WHERE e.id = ` + p2,
		series + `INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at, lease_owner, lease_until,
	last_status_code, last_error, created_at, updated_at)
SELECT d.id || '_' || n.i, d.event_id || '_' || n.i, d.route, d.status, d.attempts, d.next_attempt_at, d.lease_owner, d.lease_until,
	d.last_status_code, d.last_error, d.created_at, d.updated_at FROM deliveries d, n WHERE d.event_id = ` + p2,
	} {
		if err := st.exec(ctx, q, backlog-1, seed); err != nil {
			b.Fatalf("seed the backlog: %v", err)
		}
	}
	if backend == "sqlite" {
		// The seed is in the WAL: checkpoint it now, or the first commits
		// of the drain would copy the whole backlog into the database.
		if err := st.exec(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatalf("checkpoint the backlog: %v", err)
		}
	}
	s, err := st.Stats(ctx)
	if err != nil || s.Pending != backlog {
		b.Fatalf("backlog: %+v %v, want %d pending", s, err, backlog)
	}
	b.Logf("%s, %d due: claim plan: %s", backend, backlog, st.plan(ctx))
}

// drain starts a dispatcher on st and times until the receiver has
// answered n deliveries; it returns the rate and the CPU time this
// process (dispatcher, store and receiver; not a PostgreSQL server) used
// per delivery meanwhile, which depends much less than the rate on what
// else the machine is doing.
func drain(b *testing.B, st *drainStore, n int) (float64, time.Duration) {
	b.Helper()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d, err := New(Config{Store: st, Routes: []*config.Route{route("bench", srv.URL+"/hook")}, Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.StartTimer()
	start, cpu0 := time.Now(), processCPU(b)
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for got.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu := time.Since(start), processCPU(b)-cpu0
	b.StopTimer()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Stop(sctx); err != nil {
		b.Fatal(err)
	}
	return float64(n) / elapsed.Seconds(), cpu / time.Duration(n)
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
