package open_test

import (
	"path/filepath"
	"strings"
	"testing"

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
