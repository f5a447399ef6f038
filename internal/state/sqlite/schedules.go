package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// schedulesSchema is the migration adding the latest runs of each schedule.
const schedulesSchema = `
CREATE TABLE schedule_runs (
	id          TEXT PRIMARY KEY,
	schedule    TEXT    NOT NULL,
	owner       TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL,
	outcome     TEXT    NOT NULL,
	detail      TEXT    NOT NULL
);
CREATE INDEX schedule_runs_started ON schedule_runs (schedule, started_at);
CREATE INDEX schedule_runs_newest ON schedule_runs (started_at);
`

var _ state.ScheduleStore = (*Store)(nil)

const scheduleCols = `id, schedule, owner, started_at, finished_at, outcome, detail`

func scanScheduleRun(sc scanner) (state.ScheduleRun, error) {
	var (
		r                 state.ScheduleRun
		started, finished int64
	)
	if err := sc.Scan(&r.ID, &r.Schedule, &r.Owner, &started, &finished, &r.Outcome, &r.Detail); err != nil {
		return r, err
	}
	r.StartedAt, r.FinishedAt = tm(started), tm(finished)
	return r, nil
}

// RecordScheduleRun stores a run and forgets the schedule's older ones.
func (s *Store) RecordScheduleRun(ctx context.Context, r state.ScheduleRun, keep int) error {
	r, keep, err := rules.CheckScheduleRun(r, keep, s.now)
	if err == nil {
		err = s.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_runs (`+scheduleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				r.ID, r.Schedule, r.Owner, ts(r.StartedAt), ts(r.FinishedAt), r.Outcome, r.Detail); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM schedule_runs WHERE schedule = ? AND rowid NOT IN (
				SELECT rowid FROM schedule_runs WHERE schedule = ? ORDER BY started_at DESC, rowid DESC LIMIT ?)`,
				r.Schedule, r.Schedule, keep)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: record a run of schedule %q: %w", r.Schedule, err)
	}
	return nil
}

// ListScheduleRuns lists runs newest first (default limit 100).
func (s *Store) ListScheduleRuns(ctx context.Context, f state.ScheduleRunFilter) ([]state.ScheduleRun, error) {
	q, args := `SELECT `+scheduleCols+` FROM schedule_runs`, []any{}
	if f.Schedule != "" {
		q += ` WHERE schedule = ?`
		args = append(args, f.Schedule)
	}
	q += ` ORDER BY started_at DESC, rowid DESC LIMIT ?`
	out, err := queryAll(ctx, s.r, scanScheduleRun, q, append(args, rules.Limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list schedule runs: %w", err)
	}
	return out, nil
}
