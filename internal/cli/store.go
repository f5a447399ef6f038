package cli

import (
	"context"
	"fmt"
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

// configAndStore loads the configuration at path and opens its store, the
// first steps of every command that reads or writes state. On failure it
// has printed the diagnostics or the error and returns ok == false; the
// caller exits 1. Otherwise the caller closes the store.
func configAndStore(ctx context.Context, io IO, path string, open storeOpener) (*config.Config, state.Store, bool) {
	cfg := loadConfig(io, path)
	if cfg == nil {
		return nil, nil, false
	}
	st, err := open(ctx, io, cfg)
	if err != nil {
		fmt.Fprintf(io.Stderr, "\nError: %s\n", err)
		return nil, nil, false
	}
	return cfg, st, true
}
