package state

import (
	"context"
	"time"
)

// ---------------------------------------------------------------------------
// Schedule runs: what each run of the daemon's schedules (reconcile,
// refresh_keys, sync_payments, reconcile_payments) came to, for the
// console. The daemon's log says the same at more length.

// Schedule run outcomes.
const (
	ScheduleOK      = "ok"
	ScheduleFailed  = "failed"
	ScheduleSkipped = "skipped" // the schedule's previous run was still going
)

// ScheduleRunsKept is how many runs of each schedule RecordScheduleRun
// keeps when asked to keep zero.
const ScheduleRunsKept = 50

// ScheduleRun is one run of one schedule in one process.
type ScheduleRun struct {
	ID         string // "sch_" + random
	Schedule   string
	Owner      string // the process that ran it (HOST/SCOPE/PID/RANDOM)
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    string // ScheduleOK, ScheduleFailed, ScheduleSkipped
	// Detail is what went wrong, as the daemon's log says it (never a
	// secret); at most 1,000 bytes are kept.
	Detail string
}

// ScheduleRunFilter selects schedule runs, newest first.
type ScheduleRunFilter struct {
	Schedule string // "" = every schedule
	Limit    int    // 0 = 100
}

// ScheduleStore keeps the latest runs of each schedule.
type ScheduleStore interface {
	// RecordScheduleRun stores r (an empty ID is a new one) and forgets
	// the runs of r.Schedule older than its newest keep (keep <= 0:
	// ScheduleRunsKept). ErrInvalid without a schedule or with an unknown
	// outcome.
	RecordScheduleRun(ctx context.Context, r ScheduleRun, keep int) error
	// ListScheduleRuns lists runs by StartedAt, newest first.
	ListScheduleRuns(ctx context.Context, f ScheduleRunFilter) ([]ScheduleRun, error)
}
