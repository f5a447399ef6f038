package reconcile

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// newTestStore returns the state store tests run against: the real SQLite
// store in the test's temporary directory.
func newTestStore(tb testing.TB) state.StateStore {
	tb.Helper()
	return teststore.New(tb)
}
