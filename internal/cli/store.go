package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/devmode"
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
	log := io.StoreLog
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
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

// existingStore opens the store of an installation for the commands that
// read it (payments, events, state): from the configuration at path, or
// with dev, the store of the running 'finconnectd serve -dev'. Unlike
// configAndStore it creates nothing (a missing SQLite file is an error:
// the daemon creates it at its first start) and prints the configuration's
// errors but not its warnings, which are validate's business. On failure it
// has printed the error and returns ok == false.
func existingStore(ctx context.Context, io IO, path string, dev bool, open storeOpener) (state.Store, bool) {
	var cfg *config.Config
	if dev {
		p, err := devmode.CurrentStore(devmode.RecordFile(io.LookupEnv))
		if err != nil {
			fmt.Fprintf(io.Stderr, "Error: %v; start it with 'finconnectd serve -dev'\n", err)
			return nil, false
		}
		cfg = &config.Config{State: config.StateConfig{Backend: "sqlite", Path: p}}
	} else {
		l := newLoader(io)
		var diags hcl.Diagnostics
		cfg, diags = l.Load(configPath(io, path))
		if diags.HasErrors() {
			var errs hcl.Diagnostics
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			_ = l.WriteDiagnostics(io.Stderr, errs, diagWidth, colorOn(io))
			return nil, false
		}
		if b := cfg.State.Backend; b == "" || b == "sqlite" {
			if _, err := os.Stat(cfg.State.Path); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(io.Stderr, "Error: no state store at %s (nothing was created): 'finconnectd serve' creates it when it first starts; check state.path or -config\n", cfg.State.Path)
				return nil, false
			}
		}
	}
	st, err := open(ctx, io, cfg)
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: %s\n", err)
		return nil, false
	}
	return st, true
}
