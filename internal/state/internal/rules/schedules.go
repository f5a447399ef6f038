package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// maxScheduleDetail bounds what a schedule run's Detail keeps.
const maxScheduleDetail = 1000

// CheckScheduleRun validates r, gives it an ID and bounds its detail.
func CheckScheduleRun(r state.ScheduleRun, keep int, now func() time.Time) (state.ScheduleRun, int, error) {
	switch {
	case r.Schedule == "":
		return r, 0, fmt.Errorf("record schedule run: no schedule: %w", state.ErrInvalid)
	case r.Outcome != state.ScheduleOK && r.Outcome != state.ScheduleFailed && r.Outcome != state.ScheduleSkipped:
		return r, 0, fmt.Errorf("record schedule run: outcome %q is not one: %w", r.Outcome, state.ErrInvalid)
	}
	if r.ID == "" {
		r.ID = state.NewID("sch_")
	}
	r.StartedAt = NowIfZero(r.StartedAt, now)
	if r.FinishedAt.IsZero() {
		r.FinishedAt = r.StartedAt
	}
	if len(r.Detail) > maxScheduleDetail {
		r.Detail = r.Detail[:maxScheduleDetail]
	}
	r.Detail = strings.ToValidUTF8(r.Detail, "")
	if keep <= 0 {
		keep = state.ScheduleRunsKept
	}
	return r, keep, nil
}
