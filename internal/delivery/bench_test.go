package delivery

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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

// BenchmarkBaselineSQLiteForwarder is the floor BenchmarkDispatch is
// compared with in the same run: a minimal loop over an SQLite outbox
// (WAL, synchronous=FULL, one connection) that selects the oldest pending
// row, POSTs it unsigned to the same kind of 204 receiver and marks it
// delivered in its own transaction. No leases, no signatures, no retries,
// no attempt history, one at a time.
func BenchmarkBaselineSQLiteForwarder(b *testing.B) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "baseline.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE outbox (id INTEGER PRIMARY KEY, body BLOB NOT NULL, delivered INTEGER NOT NULL DEFAULT 0)`); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"type":"payment.succeeded","data":{"payment_id":"pay_x","reference":"R","status":"succeeded"}}`)
	for range b.N {
		if _, err := db.ExecContext(ctx, `INSERT INTO outbox (body) VALUES (?)`, body); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	client := srv.Client()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var (
			id  int64
			msg []byte
		)
		if err := db.QueryRowContext(ctx, `SELECT id, body FROM outbox WHERE delivered = 0 ORDER BY id LIMIT 1`).Scan(&id, &msg); err != nil {
			b.Fatal(err)
		}
		resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(msg))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if _, err := db.ExecContext(ctx, `UPDATE outbox SET delivered = 1 WHERE id = ?`, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}
