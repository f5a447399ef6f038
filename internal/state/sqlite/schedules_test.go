package sqlite_test

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func TestSchedulesConformance(t *testing.T) {
	statetest.RunSchedules(t, func(t *testing.T) state.Store { return openTemp(t) })
}
