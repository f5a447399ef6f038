package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/postgres"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

// dsnEnv overrides the test server's DSN (never printed).
const dsnEnv = "FINCONNECTD_TEST_POSTGRES_DSN"

func testDSN() string {
	if v := os.Getenv(dsnEnv); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=5"
}

// admin connects for schema housekeeping, or skips the test when the
// server is unreachable.
func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Skipf("PostgreSQL test server not reachable (default 127.0.0.1:5432 database test, or $%s): %v", dsnEnv, redact(err))
	}
	return conn
}

// redact keeps a DSN's password out of a skip message.
func redact(err error) string {
	msg := err.Error()
	if cfg, perr := pgx.ParseConfig(testDSN()); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}

func randomSchema() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "fc_test_" + hex.EncodeToString(b[:])
}

// openTest opens a store in a fresh schema, dropped when the test ends.
func openTest(t testing.TB) *postgres.Store {
	t.Helper()
	return openSchema(t, randomSchema())
}

func openSchema(t testing.TB, schema string) *postgres.Store {
	t.Helper()
	conn := admin(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = conn.Close(ctx)
	})
	s, err := postgres.Open(context.Background(), secret.New(testDSN()), postgres.Options{Schema: schema, MaxConns: 6})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store { return openTest(t) })
}

// TestTwoStoresOneSchema: two Stores on one schema (as two processes
// would be) race to create the same payment from different notifications
// and to claim the same deliveries.
func TestTwoStoresOneSchema(t *testing.T) {
	schema := randomSchema()
	a := openSchema(t, schema)
	b, err := postgres.Open(context.Background(), secret.New(testDSN()), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("open a second store: %v", err)
	}
	defer b.Close()
	stores := []*postgres.Store{a, b}

	const n = 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		evts = map[string]bool{}
	)
	for i := range n {
		for j, s := range stores {
			wg.Go(func() {
				res, err := s.ApplyStatus(context.Background(), state.StatusChange{
					Provider: "pesapal.ke", Reference: fmt.Sprintf("R%d", i), Status: "succeeded", CreateIfMissing: true,
					// Different dedup keys: both get past the inbox and race on the payment.
					Notification: &state.Notification{DedupKey: fmt.Sprintf("R%d:%d", i, j)},
					EventType:    "payment.succeeded", Routes: []string{"erp"},
				})
				if err != nil {
					t.Errorf("store %d: %v", j, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if res.EventID != "" {
					evts[res.EventID] = true
				}
			})
		}
	}
	wg.Wait()
	if len(evts) != n {
		t.Errorf("%d events for %d payments each created twice concurrently; want one per payment", len(evts), n)
	}
	ps, err := a.ListPayments(t.Context(), state.PaymentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != n {
		t.Errorf("%d payments, want %d", len(ps), n)
	}

	claimed := map[string]int{}
	now := time.Now()
	for i := range 4 {
		wg.Go(func() {
			for {
				ds, err := stores[i%2].ClaimDeliveries(context.Background(), "erp", fmt.Sprintf("w%d", i), now, time.Hour, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				claimed[ds[0].ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Errorf("claimed %d distinct deliveries, want %d", len(claimed), n)
	}
	for id, k := range claimed {
		if k != 1 {
			t.Errorf("delivery %s claimed %d times", id, k)
		}
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	schema := randomSchema()
	openSchema(t, schema) // registers the drop; opens first
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), secret.New(testDSN()), postgres.Options{Schema: schema, MaxConns: 2})
			if err != nil {
				t.Errorf("concurrent open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
}

func TestRefusesNewerSchema(t *testing.T) {
	schema := randomSchema()
	openSchema(t, schema)
	conn := admin(t)
	defer conn.Close(context.Background())
	future := postgres.SchemaVersion() + 1
	if _, err := conn.Exec(t.Context(), `INSERT INTO `+schema+`.schema_migrations (version, applied_at) VALUES ($1, now())`, future); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(t.Context(), secret.New(testDSN()), postgres.Options{Schema: schema})
	if err == nil {
		s.Close()
		t.Fatal("opened a schema from a newer build")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d is newer", future)) {
		t.Errorf("error %q does not name the newer version", err)
	}
}

func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	const canary = "s3cr3t-canary-pw"
	tests := []struct {
		name string
		dsn  string
	}{
		{"unparsable URL", "postgres://u:" + canary + "@127.0.0.1:5432/test?sslmode=bogus"},
		{"unparsable keywords", "host=127.0.0.1 password=" + canary + " port=notaport"},
		{"unreachable", "postgres://u:" + canary + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"},
		{"wrong user", "postgres://nobody_" + canary + ":" + canary + "@127.0.0.1:5432/test?sslmode=disable&connect_timeout=5"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), secret.New(tt.dsn), postgres.Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "postgres: open state store") {
				t.Errorf("error %q does not say what failed", err)
			}
		})
	}
}

func TestBadSchemaName(t *testing.T) {
	_, err := postgres.Open(t.Context(), secret.New(testDSN()), postgres.Options{Schema: "x; DROP TABLE y"})
	if err == nil || !strings.Contains(err.Error(), "schema name") {
		t.Fatalf("got %v, want a schema name error", err)
	}
}

// TestMigratesLockScope: a schema from before the lock had a scope
// (version 1) is migrated at open; its lock row reads back with no scope
// and is never taken over by PID (it is force-unlocked instead).
func TestMigratesLockScope(t *testing.T) {
	schema := randomSchema()
	openSchema(t, schema).Close()
	conn := admin(t)
	defer conn.Close(context.Background())
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		// Back to version 1: what later migrations added goes.
		`DROP TABLE IF EXISTS ` + schema + `.payouts`,
		`DROP TABLE IF EXISTS ` + schema + `.audit`,
		`DROP FUNCTION IF EXISTS ` + schema + `.audit_append_only()`,
		`DROP TABLE IF EXISTS ` + schema + `.recon_runs`,
		`DROP TABLE IF EXISTS ` + schema + `.recon_seen`,
		`DROP TABLE IF EXISTS ` + schema + `.recon_differences`,
		`DROP TABLE IF EXISTS ` + schema + `.payment_history`,
		`DROP TABLE IF EXISTS ` + schema + `.schedule_runs`,
		`ALTER TABLE ` + schema + `.notifications DROP COLUMN payment_id`,
		`DROP INDEX IF EXISTS ` + schema + `.payments_provider_created`,
		`DROP INDEX IF EXISTS ` + schema + `.payments_reference`,
		`DROP INDEX IF EXISTS ` + schema + `.payments_status_created`,
		`ALTER TABLE ` + schema + `.state_lock DROP COLUMN scope`,
		`DELETE FROM ` + schema + `.schema_migrations WHERE version > 1`,
		fmt.Sprintf(`INSERT INTO `+schema+`.state_lock (id, lock_id, host, pid, operation, since) VALUES (1, 'old', '%s', %d, 'apply', now())`, host, dead.Process.Pid),
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := postgres.Open(t.Context(), secret.New(testDSN()), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("open a version 1 schema: %v", err)
	}
	defer s.Close()
	li, held, err := s.LockHolder(t.Context())
	if err != nil || !held || li.ID != "old" || li.Host != host || li.Scope != "" {
		t.Fatalf("lock holder after migration = %+v, %v, %v; want the old row with no scope", li, held, err)
	}
	var le *state.LockedError
	if err := s.Lock(t.Context(), state.LockInfo{ID: "new", Host: host, PID: os.Getpid(), Operation: "apply"}); !errors.As(err, &le) {
		t.Errorf("lock over an old row of a dead PID: %v, want *state.LockedError", err)
	}
}

// TestSearchPathWithoutSchema: a DSN whose search_path names no existing
// schema is refused with a sentence saying how to fix it, not with
// PostgreSQL's "no schema has been selected to create in".
func TestSearchPathWithoutSchema(t *testing.T) {
	_ = admin(t).Close(context.Background()) // skips when the server is unreachable
	dsn := testDSN() + "&search_path=" + randomSchema()
	s, err := postgres.Open(context.Background(), secret.New(dsn), postgres.Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("open succeeded with a search_path naming no schema")
	}
	if !strings.Contains(err.Error(), "names no existing schema") || !strings.Contains(err.Error(), "CREATE SCHEMA") {
		t.Fatalf("error does not say how to fix it: %v", err)
	}
}

func TestReconConformance(t *testing.T) {
	statetest.RunRecon(t, func(t *testing.T) state.Store { return openTest(t) })
}
