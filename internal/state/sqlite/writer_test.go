package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// openWriterTest opens a store with a scratch table t(k TEXT UNIQUE) and
// its log in buf.
func openWriterTest(t *testing.T, buf *testkit.SyncBuffer) *Store {
	t.Helper()
	return openWriterTestWith(t, Options{Logger: slog.New(slog.NewTextHandler(buf, nil))})
}

func openWriterTestWith(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("CREATE TABLE t (k TEXT NOT NULL UNIQUE)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func insert(k string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO t (k) VALUES (?)", k)
		return err
	}
}

func keys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.r.Query("SELECT k FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	return out
}

// holdWriter makes the writer busy until the returned func is called, so
// that writes queued meanwhile run as one batch.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	gate, started := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.write(context.Background(), func(*sql.Tx) error {
			close(started)
			<-gate
			return nil
		})
	}()
	<-started
	return func() { close(gate) }
}

// queue starts a write and waits until it is queued for the writer.
func queue(t *testing.T, s *Store, ctx context.Context, fn func(*sql.Tx) error) <-chan error {
	t.Helper()
	before := len(s.writes)
	out := make(chan error, 1)
	go func() { out <- s.write(ctx, fn) }()
	testkit.Eventually(t, "the write is queued", func() bool { return len(s.writes) > before })
	return out
}

// TestGroupCommitIsolatesFailures: writes that run in one transaction
// succeed or fail each on its own: a failing write (a unique key taken by
// an earlier write of the same batch) leaves no trace and the others
// commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	var logs testkit.SyncBuffer
	s := openWriterTest(t, &logs)
	release := holdWriter(t, s)
	a := queue(t, s, context.Background(), insert("a"))
	dup := queue(t, s, context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec("INSERT INTO t (k) VALUES ('partial')"); err != nil {
			return err
		}
		_, err := tx.Exec("INSERT INTO t (k) VALUES ('a')") // taken by the first write
		return err
	})
	c := queue(t, s, context.Background(), insert("c"))
	release()
	for name, ch := range map[string]<-chan error{"a": a, "c": c} {
		if err := <-ch; err != nil {
			t.Errorf("write %s: %v", name, err)
		}
	}
	if err := <-dup; err == nil || !isUnique(err) {
		t.Errorf("the duplicate write: got %v, want a UNIQUE violation", err)
	}
	got := keys(t, s)
	if !got["a"] || !got["c"] || got["partial"] || len(got) != 2 {
		t.Errorf("stored %v, want exactly a and c (nothing of the failed write)", got)
	}
}

// TestGroupCommitManyWriters: concurrent writers all commit, each exactly
// once.
func TestGroupCommitManyWriters(t *testing.T) {
	var logs testkit.SyncBuffer
	s := openWriterTest(t, &logs)
	var wg sync.WaitGroup
	errs := make(chan error, 500)
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.write(context.Background(), insert(fmt.Sprint(i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(keys(t, s)); n != 500 {
		t.Fatalf("%d rows, want 500", n)
	}
}

// TestGroupCommitInterruptedWrite: when a write's caller gives up while
// its statement runs, SQLite rolls back the whole shared transaction; the
// writes that had succeeded in it run again and commit, the interrupted
// one reports its error and leaves nothing.
func TestGroupCommitInterruptedWrite(t *testing.T) {
	var logs testkit.SyncBuffer
	s := openWriterTest(t, &logs)
	for attempt := range 5 {
		release := holdWriter(t, s)
		a := queue(t, s, context.Background(), insert(fmt.Sprint("a", attempt)))
		ctx, cancel := context.WithCancel(context.Background())
		slow := queue(t, s, ctx, func(tx *sql.Tx) error {
			// Cancel once the long INSERT below is (very likely) running.
			go func() { time.Sleep(50 * time.Millisecond); cancel() }()
			_, err := tx.ExecContext(ctx, `INSERT INTO t (k)
				WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000)
				SELECT 'slow' || i FROM n`)
			return err
		})
		c := queue(t, s, context.Background(), insert(fmt.Sprint("c", attempt)))
		release()
		if err := <-slow; err == nil {
			t.Fatal("the interrupted write reported success")
		}
		for name, ch := range map[string]<-chan error{"a": a, "c": c} {
			if err := <-ch; err != nil {
				t.Fatalf("write %s: %v", name, err)
			}
		}
		cancel()
		got := keys(t, s)
		if !got[fmt.Sprint("a", attempt)] || !got[fmt.Sprint("c", attempt)] || got["slow1"] {
			t.Fatalf("after attempt %d: a=%v c=%v slow1=%v; want a and c stored, nothing of the interrupted write",
				attempt, got[fmt.Sprint("a", attempt)], got[fmt.Sprint("c", attempt)], got["slow1"])
		}
		if strings.Contains(logs.String(), "running its writes again") {
			return // the rolled-back transaction's writes were run again
		}
	}
	t.Fatal("the cancel never interrupted a running statement in 5 attempts")
}

// TestWriteAfterClose: a write after Close fails at once.
func TestWriteAfterClose(t *testing.T) {
	var logs testkit.SyncBuffer
	s := openWriterTest(t, &logs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.write(context.Background(), insert("x")); !errors.Is(err, errClosed) {
		t.Fatalf("write after close: %v, want errClosed", err)
	}
}

// TestDeferrableWriteSharesCommit: while other writes come in, a batch of
// only deferrable writes waits for another write and commits with it.
func TestDeferrableWriteSharesCommit(t *testing.T) {
	s := openWriterTestWith(t, Options{deferWait: time.Hour, deferWindow: time.Hour})
	release := holdWriter(t, s) // a write that is not deferrable: others are coming in
	before := len(s.writes)
	deferred := make(chan error, 1)
	go func() { deferred <- s.writeDeferrable(context.Background(), insert("deferred")) }()
	testkit.Eventually(t, "the deferrable write is queued", func() bool { return len(s.writes) > before })
	release()
	// Taken by the writer, so the holder's transaction has committed.
	testkit.Eventually(t, "the writer takes the deferrable write", func() bool { return len(s.writes) == 0 })
	commits := s.commits.Load()
	if err := s.write(context.Background(), insert("other")); err != nil {
		t.Fatal(err)
	}
	if err := <-deferred; err != nil {
		t.Fatalf("deferrable write: %v", err)
	}
	if got := keys(t, s); !got["deferred"] || !got["other"] {
		t.Fatalf("stored %v, want both writes", got)
	}
	if n := s.commits.Load() - commits; n != 1 {
		t.Fatalf("%d commits for the two writes, want one", n)
	}
}

// TestDeferrableWriteAlone: with no other write lately (a backlog drain),
// a deferrable write commits at once: this test would wait for an hour
// otherwise.
func TestDeferrableWriteAlone(t *testing.T) {
	s := openWriterTestWith(t, Options{deferWait: time.Hour, deferWindow: time.Nanosecond})
	for i := range 3 {
		if err := s.writeDeferrable(context.Background(), insert(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(keys(t, s)); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
}

// goroutinesCreated is how many goroutines this process has started.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("runtime metric %s unsupported", s[0].Name)
	}
	return s[0].Value.Uint64()
}

// TestKeyedWritesStartNoGoroutines: a settlement (about ten statements by
// key) under a context that can end starts no goroutine per statement: the
// driver's cancel watcher is left out for keyed writes (keyed). What is
// left is database/sql's own: one per transaction and one per query's
// rows inside it (the transaction's context can always end), two per
// settlement. With the watcher, a settlement started nine.
func TestKeyedWritesStartNoGoroutines(t *testing.T) {
	s := openWriterTest(t, &testkit.SyncBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	settle := func(i int) {
		t.Helper()
		ref := fmt.Sprintf("K%04d", i)
		_, err := s.ApplyStatus(ctx, state.StatusChange{
			Provider: "clickpesa.tz", Reference: ref, Status: "succeeded", CreateIfMissing: true, Amount: "100", Currency: "TZS",
			Notification: &state.Notification{Route: "cp", DedupKey: ref + ":succeeded", Body: []byte(`{"ok":true}`)},
			EventType:    "payment.succeeded", Routes: []string{"erp"},
			EventPayload: func(p state.Payment, id string, _ time.Time) ([]byte, error) {
				return []byte(`{"event_id":"` + id + `"}`), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	settle(0) // statements prepared, pools warm
	const n = 50
	before := goroutinesCreated(t)
	for i := 1; i <= n; i++ {
		settle(i)
	}
	if created := goroutinesCreated(t) - before; created > 3*n {
		t.Fatalf("%d settlements started %d goroutines; want at most 3 each (a goroutine per statement is back?)", n, created)
	}
}
