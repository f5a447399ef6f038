package postgres_test

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func TestPaymentEventsConformance(t *testing.T) {
	statetest.RunPaymentEvents(t, func(t *testing.T) state.Store { return openTest(t) })
}
