package postgres_test

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func TestSyncClaimConformance(t *testing.T) {
	statetest.RunSyncClaim(t, func(t *testing.T) state.Store { return openTest(t) })
}

func TestInitiationAfterSettleConformance(t *testing.T) {
	statetest.RunInitiationAfterSettle(t, func(t *testing.T) state.Store { return openTest(t) })
}
