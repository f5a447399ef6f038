package sqlite_test

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

// BenchmarkStore: every write commits with fsync; parallel writers
// serialise on the one writer connection.
func BenchmarkStore(b *testing.B) {
	statetest.Bench(b, func(b *testing.B) state.Store { return openTemp(b) })
}
