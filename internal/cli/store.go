package cli

import (
	"context"
	"log/slog"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/open"
)

// storeOpener opens the state store; openStore in production.
type storeOpener func(ctx context.Context, io IO, cfg *config.Config) (state.Store, error)

// openStore opens the state store that cfg's state block names (SQLite at
// state.path by default, PostgreSQL with state.dsn). The store logs warnings
// to io.Stderr. openStore prints nothing itself: callers print
// "Error: " + err and exit 1. The caller closes the store.
func openStore(ctx context.Context, io IO, cfg *config.Config) (state.Store, error) {
	log := slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// open.Open's errors already say what was being opened (and never
	// carry the DSN).
	return open.Open(ctx, open.Options{
		Backend: cfg.State.Backend,
		Path:    cfg.State.Path,
		DSN:     cfg.State.DSN,
		Logger:  log,
	})
}
