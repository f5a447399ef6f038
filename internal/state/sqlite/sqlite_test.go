package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func openTemp(t testing.TB) *sqlite.Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "state.db"))
}

// openPath opens the store at path and closes it when the test ends (a
// test may close it earlier: Close is idempotent).
func openPath(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store { return openTemp(t) })
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openPath(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode = %o, want 600", perm)
	}
	if _, err := s.PutResource(t.Context(), state.Resource{Address: "ipn.a", Type: "ipn"}); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatalf("WAL mode: %v", err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %o, want 600 (as the database)", suffix, perm)
		}
	}
}

func TestOpenAwkwardPaths(t *testing.T) {
	tests := []struct {
		name, dir, file string
	}{
		{"URI characters", "a?b#c%d e", "state?x=1#y%20.db"},
		{"relative", "", "state.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			t.Chdir(base)
			dir := tt.dir
			if dir != "" {
				if err := os.Mkdir(filepath.Join(base, dir), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, tt.file) // relative to base
			s := openPath(t, path)
			if _, err := s.PutResource(t.Context(), state.Resource{Address: "ipn.a", Type: "ipn"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Resource(t.Context(), "ipn.a"); err != nil {
				t.Fatalf("read back through the read pool: %v", err)
			}
			s.Close()
			if _, err := os.Stat(filepath.Join(base, dir, tt.file)); err != nil {
				t.Errorf("the database is not at %q: %v", path, err)
			}
			entries, _ := os.ReadDir(filepath.Join(base, dir))
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), tt.file) {
					t.Errorf("stray file %q next to %q", e.Name(), tt.file)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	// SQLite cannot create the write-ahead log beside the file (as in a
	// directory this user may not write to).
	noWAL := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(noWAL, "state.db-wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"no write-ahead log", filepath.Join(noWAL, "state.db"), []string{filepath.Join(noWAL, "state.db"),
			"the state directory " + noWAL + " must be writable", "state.db-wal", "permissions", "disk is not full"}},
		{"no path", "", []string{"no path"}},
		{"missing directory", filepath.Join(dir, "missing", "state.db"), []string{filepath.Join(dir, "missing", "state.db"), "directory " + filepath.Join(dir, "missing") + " does not exist"}},
		{"parent is a file", filepath.Join(file, "state.db"), []string{"not a directory"}},
		{"not a database", notDB, []string{notDB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tt.path, sqlite.Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openPath(t, path)
	if _, err := s.PutResource(t.Context(), state.Resource{Address: "ipn.a", Type: "ipn", Attributes: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	m1, err := s.Meta(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPath(t, path)
	m2, err := s.Meta(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 || m2.Serial != 1 {
		t.Errorf("meta after reopen = %+v, want %+v", m2, m1)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openPath(t, path)
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	future := sqlite.SchemaVersion() + 1
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, future); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = sqlite.Open(t.Context(), path, sqlite.Options{})
	if err == nil {
		s.Close()
		t.Fatal("opened a file from a newer schema")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d is newer", future)) {
		t.Errorf("error %q does not name the newer version", err)
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	db, err := sql.Open("sqlite", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %s, want wal (persistent in the file)", mode)
	}
}

// TestTwoStoresOneFile: two Stores on one file (as two processes would
// be) write concurrently; busy_timeout and BEGIN IMMEDIATE serialise them.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var stores []*sqlite.Store
	for range 2 {
		s := openPath(t, path)
		stores = append(stores, s)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	var events sync.Map
	for i := range n {
		for j, s := range stores {
			wg.Go(func() {
				res, err := s.ApplyStatus(context.Background(), state.StatusChange{
					Provider: "pesapal.ke", Reference: fmt.Sprintf("R%d", i), Status: "succeeded", CreateIfMissing: true,
					Notification: &state.Notification{DedupKey: fmt.Sprintf("R%d", i), Body: []byte("{}")},
					EventType:    "payment.succeeded", Routes: []string{"erp"},
				})
				if err != nil {
					errs <- fmt.Errorf("store %d: %w", j, err)
					return
				}
				if res.EventID != "" {
					events.Store(res.EventID, true)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	count := 0
	events.Range(func(any, any) bool { count++; return true })
	if count != n {
		t.Errorf("%d events, want %d (one per notification)", count, n)
	}
	ps, err := stores[1].ListPayments(t.Context(), state.PaymentFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != n {
		t.Errorf("%d payments, want %d", len(ps), n)
	}
}

// TestMigratesLockScope: a file from before the lock had a scope (schema
// version 1) is migrated at open; its lock row reads back with no scope
// and is never taken over by PID (it is force-unlocked instead).
func TestMigratesLockScope(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openPath(t, path)
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// Back to version 1: what later migrations added goes.
	for _, table := range []string{"payouts", "audit", "recon_runs", "recon_seen", "recon_differences", "payment_history", "schedule_runs"} {
		if _, err := db.Exec(`DROP TABLE IF EXISTS ` + table); err != nil {
			t.Fatal(err)
		}
	}
	for _, index := range []string{"payments_provider_created", "payments_reference", "payments_status_created"} {
		if _, err := db.Exec(`DROP INDEX IF EXISTS ` + index); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`ALTER TABLE lock DROP COLUMN scope`,
		`DROP INDEX IF EXISTS notifications_payment`,
		`ALTER TABLE notifications DROP COLUMN payment_id`,
		// The due indexes as version 1 made them, over every row.
		`DROP INDEX payments_due`,
		`CREATE INDEX payments_due ON payments (status, next_sync_at)`,
		`DROP INDEX deliveries_due`,
		`CREATE INDEX deliveries_due ON deliveries (route, status, next_attempt_at)`,
		`DELETE FROM schema_migrations WHERE version > 1`,
		fmt.Sprintf(`INSERT INTO lock (id, lock_id, host, pid, operation, since) VALUES (1, 'old', '%s', %d, 'apply', 0)`, host, dead.Process.Pid),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s = openPath(t, path)
	li, held, err := s.LockHolder(t.Context())
	if err != nil || !held || li.ID != "old" || li.Host != host || li.Scope != "" {
		t.Fatalf("lock holder after migration = %+v, %v, %v; want the old row with no scope", li, held, err)
	}
	var le *state.LockedError
	if err := s.Lock(t.Context(), state.LockInfo{ID: "new", Host: host, PID: os.Getpid(), Operation: "apply"}); !errors.As(err, &le) {
		t.Errorf("lock over an old row of a dead PID: %v, want *state.LockedError", err)
	}
	// Version 9 made the due indexes partial.
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, index := range []string{"payments_due", "deliveries_due"} {
		var ddl string
		if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, index).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, " WHERE status") {
			t.Errorf("%s after migration: %s, want a partial index", index, ddl)
		}
	}
}

func TestReconConformance(t *testing.T) {
	statetest.RunRecon(t, func(t *testing.T) state.Store { return openTemp(t) })
}
