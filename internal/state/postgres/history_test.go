package postgres_test

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func TestPaymentHistoryConformance(t *testing.T) {
	statetest.RunPaymentHistory(t, func(t *testing.T) state.Store { return openTest(t) })
}
