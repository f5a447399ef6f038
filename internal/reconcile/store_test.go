package reconcile

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
)

// newTestStore returns the state store tests run against.
func newTestStore(tb testing.TB) state.StateStore {
	tb.Helper()
	return newMemStore()
}
