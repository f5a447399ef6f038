// Package open picks and opens the state.Store a configuration names:
// SQLite (the default) or PostgreSQL. It is the only place that knows every
// backend, so the CLI and the daemon depend on one function rather than on
// each implementation. It must not print the DSN (it can carry a password).
package open

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/postgres"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
)

// Options say which store to open.
type Options struct {
	// Backend is "sqlite" (also when empty) or "postgres".
	Backend string
	// Path is the SQLite file (its directory must exist).
	Path string
	// DSN is the PostgreSQL connection string.
	DSN secret.Value
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the store's warnings (default: discard).
	Logger *slog.Logger
}

// Open opens the store o names. The caller closes it.
func Open(ctx context.Context, o Options) (state.Store, error) {
	switch o.Backend {
	case "", "sqlite":
		s, err := sqlite.Open(ctx, o.Path, sqlite.Options{Now: o.Now, Logger: o.Logger})
		if err != nil {
			return nil, err // says "sqlite: open state store PATH: ..."
		}
		return s, nil
	case "postgres":
		s, err := postgres.Open(ctx, o.DSN, postgres.Options{Now: o.Now, Logger: o.Logger})
		if err != nil {
			return nil, err // says "postgres: open state store: ...", never the DSN
		}
		return s, nil
	default:
		return nil, fmt.Errorf("open state store: unknown backend %q (want sqlite or postgres)", o.Backend)
	}
}
