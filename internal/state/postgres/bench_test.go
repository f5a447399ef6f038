package postgres_test

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

// BenchmarkStore runs against a fresh schema per benchmark.
func BenchmarkStore(b *testing.B) {
	statetest.Bench(b, func(b *testing.B) state.Store { return openTest(b) })
}
