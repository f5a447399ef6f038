package open_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state/open"
)

func TestOpenSQLite(t *testing.T) {
	for _, backend := range []string{"", "sqlite"} {
		t.Run("backend "+backend, func(t *testing.T) {
			s, err := open.Open(t.Context(), open.Options{Backend: backend, Path: filepath.Join(t.TempDir(), "state.db")})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("ping: %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		o    open.Options
		want string
	}{
		{"unknown backend", open.Options{Backend: "mysql"}, `unknown backend "mysql"`},
		{"missing directory", open.Options{Path: filepath.Join(t.TempDir(), "nope", "state.db")}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := open.Open(t.Context(), tt.o)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestOpenNeverPrintsDSN(t *testing.T) {
	const canary = "hunter2-canary"
	dsn := secret.New("postgres://u:" + canary + "@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	s, err := open.Open(t.Context(), open.Options{Backend: "postgres", DSN: dsn})
	if err == nil {
		s.Close()
		t.Fatal("opened a postgres store at port 1")
	}
	if strings.Contains(err.Error(), canary) {
		t.Fatalf("error leaks the DSN: %v", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	base := os.Getenv("FINCONNECTD_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=5"
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Skip("PostgreSQL test server not reachable (default 127.0.0.1:5432 database test, or $FINCONNECTD_TEST_POSTGRES_DSN)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "fc_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	s, err := open.Open(ctx, open.Options{Backend: "postgres", DSN: secret.New(base + sep + "search_path=" + schema)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	m, err := s.Meta(ctx)
	if err != nil || m.Lineage == "" {
		t.Fatalf("meta = %+v, %v", m, err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".meta").Scan(&n); err != nil || n != 1 {
		t.Errorf("the store's tables are not in the DSN's search_path schema: %d rows, %v", n, err)
	}
}
