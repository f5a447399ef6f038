package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

// storeOpener opens the state store; openStore in production.
type storeOpener func(ctx context.Context, io IO, cfg *config.Config) (state.Store, error)

// openStore opens the state store that cfg's state block names (SQLite at
// state.path by default, PostgreSQL with state.dsn). The store logs warnings
// to io.Stderr. openStore prints nothing itself: callers print
// "Error: " + err and exit 1. The caller closes the store.
//
// TEMPORARY: internal/state/open has not landed yet; until it does this
// returns an error, and will become open.Open(ctx, open.Options{Backend,
// Path, DSN, Now, Logger}) with the same signature.
func openStore(_ context.Context, _ IO, cfg *config.Config) (state.Store, error) {
	return nil, fmt.Errorf("open state store (%s): %w", cfg.State.Path, errors.New("the state store is not built yet"))
}
