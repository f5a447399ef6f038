package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// schedulesSchema is the migration adding the latest runs of each schedule.
const schedulesSchema = `
CREATE TABLE schedule_runs (
	id          TEXT PRIMARY KEY,
	seq         BIGINT GENERATED ALWAYS AS IDENTITY,
	schedule    TEXT        NOT NULL,
	owner       TEXT        NOT NULL,
	started_at  TIMESTAMPTZ NOT NULL,
	finished_at TIMESTAMPTZ NOT NULL,
	outcome     TEXT        NOT NULL,
	detail      TEXT        NOT NULL
);
CREATE INDEX schedule_runs_started ON schedule_runs (schedule, started_at, seq);
CREATE INDEX schedule_runs_newest ON schedule_runs (started_at, seq);
`

var _ state.ScheduleStore = (*Store)(nil)

const scheduleCols = `id, schedule, owner, started_at, finished_at, outcome, detail`

func scanScheduleRun(row pgx.Row) (state.ScheduleRun, error) {
	var r state.ScheduleRun
	if err := row.Scan(&r.ID, &r.Schedule, &r.Owner, &r.StartedAt, &r.FinishedAt, &r.Outcome, &r.Detail); err != nil {
		return r, err
	}
	r.StartedAt, r.FinishedAt = tm(r.StartedAt), tm(r.FinishedAt)
	return r, nil
}

// RecordScheduleRun stores a run and forgets the schedule's older ones.
func (s *Store) RecordScheduleRun(ctx context.Context, r state.ScheduleRun, keep int) error {
	r, keep, err := rules.CheckScheduleRun(r, keep, s.now)
	if err == nil {
		err = s.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO schedule_runs (`+scheduleCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				r.ID, r.Schedule, r.Owner, r.StartedAt, r.FinishedAt, r.Outcome, r.Detail); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM schedule_runs WHERE schedule = $1 AND seq NOT IN (
				SELECT seq FROM schedule_runs WHERE schedule = $1 ORDER BY started_at DESC, seq DESC LIMIT $2)`,
				r.Schedule, keep)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("postgres: record a run of schedule %q: %w", r.Schedule, err)
	}
	return nil
}

// ListScheduleRuns lists runs newest first (default limit 100).
func (s *Store) ListScheduleRuns(ctx context.Context, f state.ScheduleRunFilter) ([]state.ScheduleRun, error) {
	q, args := `SELECT `+scheduleCols+` FROM schedule_runs`, []any{}
	if f.Schedule != "" {
		args = append(args, f.Schedule)
		q += ` WHERE schedule = $1`
	}
	args = append(args, rules.Limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY started_at DESC, seq DESC LIMIT $%d`, len(args))
	out, err := queryAll(ctx, s.pool, scanScheduleRun, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list schedule runs: %w", err)
	}
	return out, nil
}
