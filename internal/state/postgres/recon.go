package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// reconPayoutsSchema is the migration that lets runs match payouts:
// differences name the payout they are about, what a run saw at the
// provider is kept per kind (payment or payout: references and
// transaction IDs of the two may coincide), and our payouts of a window
// are read in (created_at, id) order.
const reconPayoutsSchema = `
ALTER TABLE recon_differences ADD COLUMN payout_id TEXT NOT NULL DEFAULT '';
ALTER TABLE recon_seen ADD COLUMN kind TEXT NOT NULL DEFAULT 'payment';
ALTER TABLE recon_seen DROP CONSTRAINT recon_seen_pkey;
ALTER TABLE recon_seen ADD PRIMARY KEY (run_id, kind, provider_txn);
DROP INDEX recon_seen_reference;
CREATE INDEX recon_seen_reference ON recon_seen (run_id, kind, reference);
CREATE INDEX payouts_provider_created ON payouts (provider, created_at, id);
`

// reconSchema is the migration adding reconciliation runs, the provider
// transactions a run has seen, and differences. At most one run per
// provider is running (a partial unique index).
const reconSchema = `
CREATE TABLE recon_runs (
	id          TEXT PRIMARY KEY,
	seq         BIGINT GENERATED ALWAYS AS IDENTITY,
	provider    TEXT        NOT NULL,
	from_at     TIMESTAMPTZ NOT NULL,
	to_at       TIMESTAMPTZ NOT NULL,
	status      TEXT        NOT NULL,
	phase       TEXT        NOT NULL,
	cursor      TEXT        NOT NULL,
	counters    TEXT        NOT NULL,
	owner       TEXT        NOT NULL,
	lease_until TIMESTAMPTZ NOT NULL,
	error       TEXT        NOT NULL,
	started_at  TIMESTAMPTZ NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL,
	finished_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX recon_runs_one_running ON recon_runs (provider) WHERE status = 'running';
CREATE INDEX recon_runs_started ON recon_runs (started_at, seq);

CREATE TABLE recon_seen (
	run_id       TEXT NOT NULL,
	provider_txn TEXT NOT NULL,
	reference    TEXT NOT NULL,
	PRIMARY KEY (run_id, provider_txn)
);
CREATE INDEX recon_seen_reference ON recon_seen (run_id, reference);

CREATE TABLE recon_differences (
	id           TEXT PRIMARY KEY,
	seq          BIGINT GENERATED ALWAYS AS IDENTITY,
	run_id       TEXT        NOT NULL,
	provider     TEXT        NOT NULL,
	class        TEXT        NOT NULL,
	key          TEXT        NOT NULL,
	reference    TEXT        NOT NULL,
	payment_id   TEXT        NOT NULL,
	provider_txn TEXT        NOT NULL,
	detail       TEXT        NOT NULL,
	ours         BYTEA,
	theirs       BYTEA,
	state        TEXT        NOT NULL,
	by_whom      TEXT        NOT NULL,
	note         TEXT        NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	UNIQUE (provider, key)
);
CREATE INDEX recon_differences_state ON recon_differences (state, class);
CREATE INDEX recon_differences_created ON recon_differences (created_at, seq);

CREATE INDEX payments_provider_created ON payments (provider, created_at, id);
`

var _ state.ReconStore = (*Store)(nil)

const runCols = `id, provider, from_at, to_at, status, phase, cursor, counters, owner, lease_until, error, started_at, updated_at, finished_at`

func scanRun(row pgx.Row) (state.ReconRun, error) {
	var (
		r        state.ReconRun
		counters string
	)
	if err := row.Scan(&r.ID, &r.Provider, &r.From, &r.To, &r.Status, &r.Phase, &r.Cursor, &counters, &r.Owner, &r.LeaseUntil,
		&r.Error, &r.StartedAt, &r.UpdatedAt, &r.FinishedAt); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(counters), &r.Counters); err != nil {
		return r, fmt.Errorf("decode counters of run %s: %w", r.ID, err)
	}
	r.From, r.To, r.LeaseUntil, r.StartedAt, r.UpdatedAt, r.FinishedAt = tz(r.From), tz(r.To), tz(r.LeaseUntil), tz(r.StartedAt), tz(r.UpdatedAt), tz(r.FinishedAt)
	return r, nil
}

// tz is tm, but the zero time (stored as 0001-01-01) reads back as zero.
func tz(t time.Time) time.Time {
	if t.IsZero() || t.UTC().Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

func countersText(c state.ReconCounters) string {
	b, _ := json.Marshal(c) // plain ints: cannot fail
	return string(b)
}

const diffCols = `id, run_id, provider, class, key, reference, payment_id, payout_id, provider_txn, detail, ours, theirs, state, by_whom, note, created_at, updated_at`

func scanDiff(row pgx.Row) (state.Difference, error) {
	var (
		d            state.Difference
		ours, theirs []byte
	)
	if err := row.Scan(&d.ID, &d.RunID, &d.Provider, &d.Class, &d.Key, &d.Reference, &d.PaymentID, &d.PayoutID, &d.ProviderTxn, &d.Detail,
		&ours, &theirs, &d.State, &d.By, &d.Note, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return d, err
	}
	d.Ours, d.Theirs = ours, theirs
	d.CreatedAt, d.UpdatedAt = tm(d.CreatedAt), tm(d.UpdatedAt)
	return d, nil
}

// reconTx is the SQL of the reconciliation rules.
type reconTx struct{ tx pgx.Tx }

func (t reconTx) RunningRuns(ctx context.Context, provider string) ([]state.ReconRun, error) {
	return queryAll(ctx, t.tx, scanRun, `SELECT `+runCols+` FROM recon_runs WHERE provider = $1 AND status = 'running' FOR UPDATE`, provider)
}

func (t reconTx) InsertRun(ctx context.Context, r state.ReconRun) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO recon_runs (`+runCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (provider) WHERE status = 'running' DO NOTHING`,
		r.ID, r.Provider, r.From, r.To, r.Status, r.Phase, r.Cursor, countersText(r.Counters), r.Owner, r.LeaseUntil,
		r.Error, r.StartedAt, r.UpdatedAt, r.FinishedAt)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (t reconTx) UpdateRun(ctx context.Context, r state.ReconRun) error {
	return execOne(ctx, t.tx, `UPDATE recon_runs SET status = $1, phase = $2, cursor = $3, counters = $4, owner = $5, lease_until = $6,
	error = $7, updated_at = $8, finished_at = $9 WHERE id = $10`,
		r.Status, r.Phase, r.Cursor, countersText(r.Counters), r.Owner, r.LeaseUntil, r.Error, r.UpdatedAt, r.FinishedAt, r.ID)
}

func (t reconTx) DifferenceByKey(ctx context.Context, provider, key string) (state.Difference, bool, error) {
	d, err := scanDiff(t.tx.QueryRow(ctx, `SELECT `+diffCols+` FROM recon_differences WHERE provider = $1 AND key = $2 FOR UPDATE`, provider, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return state.Difference{}, false, nil
	}
	return d, err == nil, err
}

func (t reconTx) InsertDifference(ctx context.Context, d state.Difference) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO recon_differences (`+diffCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		d.ID, d.RunID, d.Provider, d.Class, d.Key, d.Reference, d.PaymentID, d.PayoutID, d.ProviderTxn, d.Detail, rules.Blob(d.Ours), rules.Blob(d.Theirs),
		d.State, d.By, d.Note, d.CreatedAt, d.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("difference %s/%s recorded meanwhile: %w", d.Provider, d.Key, state.ErrConflict)
	}
	return err
}

func (t reconTx) UpdateDifference(ctx context.Context, d state.Difference) error {
	return execOne(ctx, t.tx, `UPDATE recon_differences SET run_id = $1, class = $2, reference = $3, payment_id = $4, payout_id = $5,
	provider_txn = $6, detail = $7, ours = $8, theirs = $9, state = $10, by_whom = $11, note = $12, updated_at = $13 WHERE id = $14`,
		d.RunID, d.Class, d.Reference, d.PaymentID, d.PayoutID, d.ProviderTxn, d.Detail, rules.Blob(d.Ours), rules.Blob(d.Theirs),
		d.State, d.By, d.Note, d.UpdatedAt, d.ID)
}

func (t reconTx) InsertEvent(ctx context.Context, e state.Event) error {
	return statusTx(t).InsertEvent(ctx, e)
}

func (t reconTx) InsertDelivery(ctx context.Context, d state.Delivery) error {
	return statusTx(t).InsertDelivery(ctx, d)
}

// StartReconRun resumes or starts a run (state.ReconStore).
func (s *Store) StartReconRun(ctx context.Context, st state.ReconStart) (state.ReconRun, bool, error) {
	st, err := rules.CheckReconStart(st, s.now)
	if err != nil {
		return state.ReconRun{}, false, fmt.Errorf("postgres: %w", err)
	}
	var (
		run     state.ReconRun
		resumed bool
	)
	err = s.write(ctx, func(tx pgx.Tx) error {
		var err error
		run, resumed, err = rules.StartReconRun(ctx, reconTx{tx}, st)
		return err
	})
	if err != nil {
		return state.ReconRun{}, false, fmt.Errorf("postgres: start reconciliation of %s: %w", st.Provider, err)
	}
	return run, resumed, nil
}

// CheckpointReconRun stores a run's progress and renews its lease.
func (s *Store) CheckpointReconRun(ctx context.Context, r state.ReconRun, lease time.Duration, now time.Time) error {
	now = rules.NowIfZero(now, s.now)
	start := time.Now()
	err := execOne(ctx, s.pool, `UPDATE recon_runs SET phase = $1, cursor = $2, counters = $3, lease_until = $4, updated_at = $5
WHERE id = $6 AND owner = $7 AND status = 'running'`, r.Phase, r.Cursor, countersText(r.Counters), now.Add(lease), now, r.ID, r.Owner)
	s.autocommitted(start, err)
	if errors.Is(err, state.ErrNotFound) {
		err = fmt.Errorf("the run is no longer held by %s: %w", r.Owner, state.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: checkpoint reconciliation run %s: %w", r.ID, err)
	}
	return nil
}

// FinishReconRun ends a run and forgets what it saw.
func (s *Store) FinishReconRun(ctx context.Context, r state.ReconRun, status, errText string, now time.Time) (state.ReconRun, error) {
	now = rules.NowIfZero(now, s.now)
	if status != state.RunDone && status != state.RunFailed {
		return state.ReconRun{}, fmt.Errorf("postgres: finish reconciliation run %s: status %q: %w", r.ID, status, state.ErrInvalid)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		err := execOne(ctx, tx, `UPDATE recon_runs SET status = $1, error = $2, phase = $3, cursor = $4, counters = $5,
	lease_until = $6, updated_at = $7, finished_at = $7 WHERE id = $8 AND owner = $9 AND status = 'running'`,
			status, errText, r.Phase, r.Cursor, countersText(r.Counters), time.Time{}, now, r.ID, r.Owner)
		if errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("the run is no longer held by %s: %w", r.Owner, state.ErrConflict)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM recon_seen WHERE run_id = $1`, r.ID)
		return err
	})
	if err != nil {
		return state.ReconRun{}, fmt.Errorf("postgres: finish reconciliation run %s: %w", r.ID, err)
	}
	return s.ReconRun(ctx, r.ID)
}

// ReconRun returns a run by ID or ErrNotFound.
func (s *Store) ReconRun(ctx context.Context, id string) (state.ReconRun, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM recon_runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.ReconRun{}, fmt.Errorf("postgres: reconciliation run %s: %w", id, err)
	}
	return r, nil
}

// ListReconRuns lists runs newest first.
func (s *Store) ListReconRuns(ctx context.Context, f state.ReconRunFilter) ([]state.ReconRun, error) {
	var (
		a     args
		where []string
	)
	if f.Provider != "" {
		where = append(where, `provider = `+a.add(f.Provider))
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "recon_runs", f.After); err != nil {
			return nil, fmt.Errorf("postgres: list reconciliation runs after %s: %w", f.After, err)
		}
		where = append(where, `(started_at, seq) < (SELECT started_at, seq FROM recon_runs WHERE id = `+a.add(f.After)+`)`)
	}
	q := `SELECT ` + runCols + ` FROM recon_runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY started_at DESC, seq DESC LIMIT ` + a.add(rules.Limit(f.Limit))
	out, err := queryAll(ctx, s.pool, scanRun, q, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list reconciliation runs: %w", err)
	}
	return out, nil
}

// args collects query arguments and names their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// RecordSeen remembers provider transactions a run has read and returns
// the references among them with more than one.
func (s *Store) RecordSeen(ctx context.Context, runID string, txns []state.SeenTxn) ([]string, error) {
	if len(txns) == 0 {
		return nil, nil
	}
	ids := make([]string, len(txns))
	refs := make([]string, len(txns))
	for i, t := range txns {
		ids[i], refs[i] = t.ProviderTxn, t.Reference
	}
	kind := txns[0].SeenKind()
	var dups []string
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO recon_seen (run_id, kind, provider_txn, reference)
SELECT $1, $4, t.id, t.ref FROM unnest($2::text[], $3::text[]) AS t(id, ref) ON CONFLICT DO NOTHING`, runID, ids, refs, kind); err != nil {
			return err
		}
		var err error
		dups, err = queryAll(ctx, tx, func(r pgx.Row) (string, error) {
			var v string
			err := r.Scan(&v)
			return v, err
		}, `SELECT reference FROM recon_seen WHERE run_id = $1 AND kind = $3 AND reference = ANY($2::text[])
GROUP BY reference HAVING count(*) > 1 ORDER BY reference`, runID, refs, kind)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: record what reconciliation run %s saw: %w", runID, err)
	}
	return dups, nil
}

// WindowPayments lists the payments of a window in (created_at, id) order.
func (s *Store) WindowPayments(ctx context.Context, f state.WindowFilter) ([]state.Payment, error) {
	var notNotified string
	if f.SkipNotified {
		notNotified = ` AND NOT (status IN ('succeeded', 'failed') AND EXISTS (SELECT 1 FROM notifications n
	WHERE n.provider = p.provider AND n.dedup_key IN (p.provider_reference || ':' || p.status, p.reference || ':' || p.status)))`
	}
	return listWindow(ctx, s.pool, scanPayment, "payments", "payment", paymentCols, f, notNotified)
}

// PaymentsByReferences returns the provider's payments with these references.
func (s *Store) PaymentsByReferences(ctx context.Context, provider string, refs []string) ([]state.Payment, error) {
	return byReferences(ctx, s.pool, scanPayment, "payments", paymentCols, provider, refs)
}

// WindowPayouts lists the payouts of a window in (created_at, id) order.
func (s *Store) WindowPayouts(ctx context.Context, f state.WindowFilter) ([]state.Payout, error) {
	return listWindow(ctx, s.pool, scanPayout, "payouts", "payout", payoutCols, f, "")
}

// PayoutsByReferences returns the provider's payouts with these references.
func (s *Store) PayoutsByReferences(ctx context.Context, provider string, refs []string) ([]state.Payout, error) {
	return byReferences(ctx, s.pool, scanPayout, "payouts", payoutCols, provider, refs)
}

// listWindow lists the rows of table (payments or payouts; kind is its
// recon_seen kind) of a window in (created_at, id) order; extra is an
// SQL condition, without parameters, added to the window's.
func listWindow[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), table, kind, cols string, f state.WindowFilter, extra string) ([]T, error) {
	var a args
	sql := `SELECT ` + cols + ` FROM ` + table + ` p WHERE provider = ` + a.add(f.Provider) +
		` AND created_at >= ` + a.add(f.From) + ` AND created_at < ` + a.add(f.To)
	if !f.AfterCreated.IsZero() || f.AfterID != "" {
		sql += ` AND (created_at, id) > (` + a.add(f.AfterCreated) + `, ` + a.add(f.AfterID) + `)`
	}
	if f.UnseenIn != "" {
		sql += ` AND NOT EXISTS (SELECT 1 FROM recon_seen s WHERE s.run_id = ` + a.add(f.UnseenIn) + ` AND s.kind = '` + kind + `' AND s.reference = p.reference)`
	}
	sql += extra + ` ORDER BY created_at, id LIMIT ` + a.add(rules.Limit(f.Limit))
	out, err := queryAll(ctx, q, scan, sql, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s of %s from %s to %s: %w", table, f.Provider, f.From, f.To, err)
	}
	return out, nil
}

// byReferences returns the provider's rows of table with these references.
func byReferences[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), table, cols, provider string, refs []string) ([]T, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	out, err := queryAll(ctx, q, scan, `SELECT `+cols+` FROM `+table+` WHERE provider = $1 AND reference = ANY($2::text[])`, provider, refs)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s of %s by reference: %w", table, provider, err)
	}
	return out, nil
}

// RecordDifference stores a difference found (state.ReconStore).
func (s *Store) RecordDifference(ctx context.Context, d state.Difference, ev *state.DifferenceEvent) (state.Difference, bool, error) {
	d, err := rules.CheckDifference(d, s.now)
	if err != nil {
		return state.Difference{}, false, fmt.Errorf("postgres: %w", err)
	}
	var created bool
	for attempt := 0; ; attempt++ {
		err = s.write(ctx, func(tx pgx.Tx) error {
			var err error
			d, created, err = rules.RecordDifference(ctx, reconTx{tx}, d, ev)
			return err
		})
		// Two runs may insert one key at once: the second finds it next time.
		if errors.Is(err, state.ErrConflict) && attempt == 0 {
			continue
		}
		break
	}
	if err != nil {
		return state.Difference{}, false, fmt.Errorf("postgres: record difference: %w", err)
	}
	return d, created, nil
}

// Difference returns a difference by ID or ErrNotFound.
func (s *Store) Difference(ctx context.Context, id string) (state.Difference, error) {
	d, err := scanDiff(s.pool.QueryRow(ctx, `SELECT `+diffCols+` FROM recon_differences WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Difference{}, fmt.Errorf("postgres: difference %s: %w", id, err)
	}
	return d, nil
}

// ListDifferences lists differences newest first.
func (s *Store) ListDifferences(ctx context.Context, f state.DifferenceFilter) ([]state.Difference, error) {
	var (
		a     args
		where []string
	)
	for _, c := range []struct{ col, v string }{{"d.provider", f.Provider}, {"d.class", string(f.Class)}, {"d.state", f.State}, {"d.run_id", f.RunID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+a.add(c.v))
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() {
		where = append(where, `EXISTS (SELECT 1 FROM recon_runs r WHERE r.id = d.run_id AND r.from_at < `+a.add(f.To)+` AND r.to_at > `+a.add(f.From)+`)`)
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "recon_differences", f.After); err != nil {
			return nil, fmt.Errorf("postgres: list differences after %s: %w", f.After, err)
		}
		where = append(where, "(d.created_at, d.seq) < (SELECT created_at, seq FROM recon_differences WHERE id = "+a.add(f.After)+")")
	}
	q := `SELECT ` + prefixed("d.", diffCols) + ` FROM recon_differences d`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY d.created_at DESC, d.seq DESC LIMIT ` + a.add(rules.Limit(f.Limit))
	out, err := queryAll(ctx, s.pool, scanDiff, q, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list differences: %w", err)
	}
	return out, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// SetDifferenceState resolves or acknowledges a difference.
func (s *Store) SetDifferenceState(ctx context.Context, id, newState, by, note string, now time.Time) (state.Difference, error) {
	now = rules.NowIfZero(now, s.now)
	var d state.Difference
	err := s.write(ctx, func(tx pgx.Tx) error {
		cur, err := scanDiff(tx.QueryRow(ctx, `SELECT `+diffCols+` FROM recon_differences WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		if d, err = rules.DifferenceState(cur, newState, by, note, now); err != nil {
			return err
		}
		return reconTx{tx}.UpdateDifference(ctx, d)
	})
	if err != nil {
		return state.Difference{}, fmt.Errorf("postgres: set difference %s %s: %w", id, newState, err)
	}
	return d, nil
}

// OpenDifferenceCounts counts open differences per class.
func (s *Store) OpenDifferenceCounts(ctx context.Context) (map[state.DiffClass]int, error) {
	type row struct {
		c state.DiffClass
		n int
	}
	rows, err := queryAll(ctx, s.pool, func(r pgx.Row) (row, error) {
		var v row
		err := r.Scan(&v.c, &v.n)
		return v, err
	}, `SELECT class, count(*) FROM recon_differences WHERE state = 'open' GROUP BY class`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count open differences: %w", err)
	}
	out := map[state.DiffClass]int{}
	for _, r := range rows {
		out[r.c] = r.n
	}
	return out, nil
}
