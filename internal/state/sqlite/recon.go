package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// reconSchema is the migration adding reconciliation runs, the provider
// transactions a run has seen, and differences. At most one run per
// provider is running (a partial unique index).
const reconSchema = `
CREATE TABLE recon_runs (
	id          TEXT PRIMARY KEY,
	provider    TEXT    NOT NULL,
	from_at     INTEGER NOT NULL,
	to_at       INTEGER NOT NULL,
	status      TEXT    NOT NULL,
	phase       TEXT    NOT NULL,
	cursor      TEXT    NOT NULL,
	counters    TEXT    NOT NULL,
	owner       TEXT    NOT NULL,
	lease_until INTEGER NOT NULL,
	error       TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX recon_runs_one_running ON recon_runs (provider) WHERE status = 'running';
CREATE INDEX recon_runs_started ON recon_runs (started_at);

CREATE TABLE recon_seen (
	run_id       TEXT NOT NULL,
	provider_txn TEXT NOT NULL,
	reference    TEXT NOT NULL,
	PRIMARY KEY (run_id, provider_txn)
);
CREATE INDEX recon_seen_reference ON recon_seen (run_id, reference);

CREATE TABLE recon_differences (
	id           TEXT PRIMARY KEY,
	run_id       TEXT    NOT NULL,
	provider     TEXT    NOT NULL,
	class        TEXT    NOT NULL,
	key          TEXT    NOT NULL,
	reference    TEXT    NOT NULL,
	payment_id   TEXT    NOT NULL,
	provider_txn TEXT    NOT NULL,
	detail       TEXT    NOT NULL,
	ours         BLOB,
	theirs       BLOB,
	state        TEXT    NOT NULL,
	by_whom      TEXT    NOT NULL,
	note         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	UNIQUE (provider, key)
);
CREATE INDEX recon_differences_state ON recon_differences (state, class);
CREATE INDEX recon_differences_created ON recon_differences (created_at);

CREATE INDEX payments_provider_created ON payments (provider, created_at, id);
`

// reconPayoutsSchema is the migration that lets runs match payouts:
// differences name the payout they are about, what a run saw at the
// provider is kept per kind (payment or payout: references and
// transaction IDs of the two may coincide), and our payouts of a window
// are read in (created_at, id) order. SQLite cannot change a primary key:
// recon_seen is rebuilt with its rows.
const reconPayoutsSchema = `
ALTER TABLE recon_differences ADD COLUMN payout_id TEXT NOT NULL DEFAULT '';
CREATE TABLE recon_seen_kinds (
	run_id       TEXT NOT NULL,
	kind         TEXT NOT NULL,
	provider_txn TEXT NOT NULL,
	reference    TEXT NOT NULL,
	PRIMARY KEY (run_id, kind, provider_txn)
);
INSERT INTO recon_seen_kinds (run_id, kind, provider_txn, reference) SELECT run_id, 'payment', provider_txn, reference FROM recon_seen;
DROP TABLE recon_seen;
ALTER TABLE recon_seen_kinds RENAME TO recon_seen;
CREATE INDEX recon_seen_reference ON recon_seen (run_id, kind, reference);
CREATE INDEX payouts_provider_created ON payouts (provider, created_at, id);
`

var _ state.ReconStore = (*Store)(nil)

const runCols = `id, provider, from_at, to_at, status, phase, cursor, counters, owner, lease_until, error, started_at, updated_at, finished_at`

func scanRun(sc scanner) (state.ReconRun, error) {
	var (
		r                                       state.ReconRun
		counters                                string
		from, to, lease, started, upd, finished int64
	)
	if err := sc.Scan(&r.ID, &r.Provider, &from, &to, &r.Status, &r.Phase, &r.Cursor, &counters, &r.Owner, &lease,
		&r.Error, &started, &upd, &finished); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(counters), &r.Counters); err != nil {
		return r, fmt.Errorf("decode counters of run %s: %w", r.ID, err)
	}
	r.From, r.To, r.LeaseUntil, r.StartedAt, r.UpdatedAt, r.FinishedAt = tm(from), tm(to), tm(lease), tm(started), tm(upd), tm(finished)
	return r, nil
}

func countersText(c state.ReconCounters) string {
	b, _ := json.Marshal(c) // plain ints: cannot fail
	return string(b)
}

const diffCols = `id, run_id, provider, class, key, reference, payment_id, payout_id, provider_txn, detail, ours, theirs, state, by_whom, note, created_at, updated_at`

func scanDiff(sc scanner) (state.Difference, error) {
	var (
		d            state.Difference
		ours, theirs []byte
		created, upd int64
	)
	if err := sc.Scan(&d.ID, &d.RunID, &d.Provider, &d.Class, &d.Key, &d.Reference, &d.PaymentID, &d.PayoutID, &d.ProviderTxn, &d.Detail,
		&ours, &theirs, &d.State, &d.By, &d.Note, &created, &upd); err != nil {
		return d, err
	}
	d.Ours, d.Theirs = ours, theirs
	d.CreatedAt, d.UpdatedAt = tm(created), tm(upd)
	return d, nil
}

// reconTx is the SQL of the reconciliation rules.
type reconTx struct{ tx *sql.Tx }

func (t reconTx) RunningRuns(ctx context.Context, provider string) ([]state.ReconRun, error) {
	return queryAll(ctx, t.tx, scanRun, `SELECT `+runCols+` FROM recon_runs WHERE provider = ? AND status = 'running'`, provider)
}

func (t reconTx) InsertRun(ctx context.Context, r state.ReconRun) (bool, error) {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO recon_runs (`+runCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Provider, ts(r.From), ts(r.To), r.Status, r.Phase, r.Cursor, countersText(r.Counters), r.Owner, ts(r.LeaseUntil),
		r.Error, ts(r.StartedAt), ts(r.UpdatedAt), ts(r.FinishedAt))
	if isUnique(err) {
		return false, nil
	}
	return err == nil, err
}

func (t reconTx) UpdateRun(ctx context.Context, r state.ReconRun) error {
	return execOne(ctx, t.tx, `UPDATE recon_runs SET status = ?, phase = ?, cursor = ?, counters = ?, owner = ?, lease_until = ?,
	error = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
		r.Status, r.Phase, r.Cursor, countersText(r.Counters), r.Owner, ts(r.LeaseUntil), r.Error, ts(r.UpdatedAt), ts(r.FinishedAt), r.ID)
}

func (t reconTx) DifferenceByKey(ctx context.Context, provider, key string) (state.Difference, bool, error) {
	d, err := scanDiff(t.tx.QueryRowContext(ctx, `SELECT `+diffCols+` FROM recon_differences WHERE provider = ? AND key = ?`, provider, key))
	if errors.Is(err, sql.ErrNoRows) {
		return state.Difference{}, false, nil
	}
	return d, err == nil, err
}

func (t reconTx) InsertDifference(ctx context.Context, d state.Difference) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO recon_differences (`+diffCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.RunID, d.Provider, d.Class, d.Key, d.Reference, d.PaymentID, d.PayoutID, d.ProviderTxn, d.Detail, rules.Blob(d.Ours), rules.Blob(d.Theirs),
		d.State, d.By, d.Note, ts(d.CreatedAt), ts(d.UpdatedAt))
	return err
}

func (t reconTx) UpdateDifference(ctx context.Context, d state.Difference) error {
	return execOne(ctx, t.tx, `UPDATE recon_differences SET run_id = ?, class = ?, reference = ?, payment_id = ?, payout_id = ?, provider_txn = ?,
	detail = ?, ours = ?, theirs = ?, state = ?, by_whom = ?, note = ?, updated_at = ? WHERE id = ?`,
		d.RunID, d.Class, d.Reference, d.PaymentID, d.PayoutID, d.ProviderTxn, d.Detail, rules.Blob(d.Ours), rules.Blob(d.Theirs),
		d.State, d.By, d.Note, ts(d.UpdatedAt), d.ID)
}

func (t reconTx) InsertEvent(ctx context.Context, e state.Event) error {
	return statusTx{tx: t.tx}.InsertEvent(ctx, e)
}

func (t reconTx) InsertDelivery(ctx context.Context, d state.Delivery) error {
	return statusTx{tx: t.tx}.InsertDelivery(ctx, d)
}

// StartReconRun resumes or starts a run (state.ReconStore).
func (s *Store) StartReconRun(ctx context.Context, st state.ReconStart) (state.ReconRun, bool, error) {
	st, err := rules.CheckReconStart(st, s.now)
	if err != nil {
		return state.ReconRun{}, false, fmt.Errorf("sqlite: %w", err)
	}
	var (
		run     state.ReconRun
		resumed bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		var err error
		run, resumed, err = rules.StartReconRun(ctx, reconTx{tx}, st)
		return err
	})
	if err != nil {
		return state.ReconRun{}, false, fmt.Errorf("sqlite: start reconciliation of %s: %w", st.Provider, err)
	}
	return run, resumed, nil
}

// CheckpointReconRun stores a run's progress and renews its lease.
func (s *Store) CheckpointReconRun(ctx context.Context, r state.ReconRun, lease time.Duration, now time.Time) error {
	now = rules.NowIfZero(now, s.now)
	err := s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `UPDATE recon_runs SET phase = ?, cursor = ?, counters = ?, lease_until = ?, updated_at = ?
WHERE id = ? AND owner = ? AND status = 'running'`, r.Phase, r.Cursor, countersText(r.Counters), ts(now.Add(lease)), ts(now), r.ID, r.Owner)
	})
	if errors.Is(err, state.ErrNotFound) {
		err = fmt.Errorf("the run is no longer held by %s: %w", r.Owner, state.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: checkpoint reconciliation run %s: %w", r.ID, err)
	}
	return nil
}

// FinishReconRun ends a run and forgets what it saw.
func (s *Store) FinishReconRun(ctx context.Context, r state.ReconRun, status, errText string, now time.Time) (state.ReconRun, error) {
	now = rules.NowIfZero(now, s.now)
	if status != state.RunDone && status != state.RunFailed {
		return state.ReconRun{}, fmt.Errorf("sqlite: finish reconciliation run %s: status %q: %w", r.ID, status, state.ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := execOne(ctx, tx, `UPDATE recon_runs SET status = ?, error = ?, phase = ?, cursor = ?, counters = ?, lease_until = 0,
	updated_at = ?, finished_at = ? WHERE id = ? AND owner = ? AND status = 'running'`,
			status, errText, r.Phase, r.Cursor, countersText(r.Counters), ts(now), ts(now), r.ID, r.Owner)
		if errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("the run is no longer held by %s: %w", r.Owner, state.ErrConflict)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recon_seen WHERE run_id = ?`, r.ID)
		return err
	})
	if err != nil {
		return state.ReconRun{}, fmt.Errorf("sqlite: finish reconciliation run %s: %w", r.ID, err)
	}
	return s.ReconRun(ctx, r.ID)
}

// ReconRun returns a run by ID or ErrNotFound.
func (s *Store) ReconRun(ctx context.Context, id string) (state.ReconRun, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runCols+` FROM recon_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.ReconRun{}, fmt.Errorf("sqlite: reconciliation run %s: %w", id, err)
	}
	return r, nil
}

// ListReconRuns lists runs newest first.
func (s *Store) ListReconRuns(ctx context.Context, f state.ReconRunFilter) ([]state.ReconRun, error) {
	var (
		where []string
		args  []any
	)
	if f.Provider != "" {
		where = append(where, `provider = ?`)
		args = append(args, f.Provider)
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "recon_runs", f.After); err != nil {
			return nil, fmt.Errorf("sqlite: list reconciliation runs after %s: %w", f.After, err)
		}
		where = append(where, `(started_at, rowid) < (SELECT started_at, rowid FROM recon_runs WHERE id = ?)`)
		args = append(args, f.After)
	}
	q := `SELECT ` + runCols + ` FROM recon_runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY started_at DESC, rowid DESC LIMIT ?`
	out, err := queryAll(ctx, s.r, scanRun, q, append(args, rules.Limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list reconciliation runs: %w", err)
	}
	return out, nil
}

// RecordSeen remembers provider transactions a run has read and returns
// the references among them with more than one.
func (s *Store) RecordSeen(ctx context.Context, runID string, txns []state.SeenTxn) ([]string, error) {
	if len(txns) == 0 {
		return nil, nil
	}
	kind := txns[0].SeenKind()
	var dups []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO recon_seen (run_id, kind, provider_txn, reference) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		refs := make([]any, 0, len(txns)+2)
		refs = append(refs, runID, kind)
		seen := make(map[string]bool, len(txns))
		for _, t := range txns {
			if _, err := stmt.ExecContext(ctx, runID, kind, t.ProviderTxn, t.Reference); err != nil {
				return err
			}
			if !seen[t.Reference] {
				seen[t.Reference] = true
				refs = append(refs, t.Reference)
			}
		}
		dups, err = queryAll(ctx, tx, scanString, `SELECT reference FROM recon_seen WHERE run_id = ? AND kind = ? AND reference IN (`+
			placeholders(len(refs)-2)+`) GROUP BY reference HAVING count(*) > 1 ORDER BY reference`, refs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: record what reconciliation run %s saw: %w", runID, err)
	}
	return dups, nil
}

func scanString(sc scanner) (string, error) {
	var v string
	err := sc.Scan(&v)
	return v, err
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// WindowPayments lists the payments of a window in (created_at, id) order.
func (s *Store) WindowPayments(ctx context.Context, f state.WindowFilter) ([]state.Payment, error) {
	var notNotified string
	if f.SkipNotified {
		notNotified = ` AND NOT (status IN ('succeeded', 'failed') AND EXISTS (SELECT 1 FROM notifications n
	WHERE n.provider = p.provider AND n.dedup_key IN (p.provider_reference || ':' || p.status, p.reference || ':' || p.status)))`
	}
	return listWindow(ctx, s.r, scanPayment, "payments", "payment", paymentCols, f, notNotified)
}

// PaymentsByReferences returns the provider's payments with these references.
func (s *Store) PaymentsByReferences(ctx context.Context, provider string, refs []string) ([]state.Payment, error) {
	return byReferences(ctx, s.r, scanPayment, "payments", paymentCols, provider, refs)
}

// WindowPayouts lists the payouts of a window in (created_at, id) order.
func (s *Store) WindowPayouts(ctx context.Context, f state.WindowFilter) ([]state.Payout, error) {
	return listWindow(ctx, s.r, scanPayout, "payouts", "payout", payoutCols, f, "")
}

// PayoutsByReferences returns the provider's payouts with these references.
func (s *Store) PayoutsByReferences(ctx context.Context, provider string, refs []string) ([]state.Payout, error) {
	return byReferences(ctx, s.r, scanPayout, "payouts", payoutCols, provider, refs)
}

// listWindow lists the rows of table (payments or payouts; kind is its
// recon_seen kind) of a window in (created_at, id) order; extra is an
// SQL condition added to the window's.
func listWindow[T any](ctx context.Context, r queryer, scan func(scanner) (T, error), table, kind, cols string, f state.WindowFilter, extra string) ([]T, error) {
	q := `SELECT ` + cols + ` FROM ` + table + ` p WHERE provider = ? AND created_at >= ? AND created_at < ?`
	args := []any{f.Provider, ts(f.From), ts(f.To)}
	if !f.AfterCreated.IsZero() || f.AfterID != "" {
		q += ` AND (created_at, id) > (?, ?)`
		args = append(args, ts(f.AfterCreated), f.AfterID)
	}
	if f.UnseenIn != "" {
		q += ` AND NOT EXISTS (SELECT 1 FROM recon_seen s WHERE s.run_id = ? AND s.kind = '` + kind + `' AND s.reference = p.reference)`
		args = append(args, f.UnseenIn)
	}
	q += extra + ` ORDER BY created_at, id LIMIT ?`
	out, err := queryAll(ctx, r, scan, q, append(args, rules.Limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s of %s from %s to %s: %w", table, f.Provider, f.From, f.To, err)
	}
	return out, nil
}

// byReferences returns the provider's rows of table with these references.
func byReferences[T any](ctx context.Context, r queryer, scan func(scanner) (T, error), table, cols, provider string, refs []string) ([]T, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(refs)+1)
	args = append(args, provider)
	for _, ref := range refs {
		args = append(args, ref)
	}
	out, err := queryAll(ctx, r, scan, `SELECT `+cols+` FROM `+table+` WHERE provider = ? AND reference IN (`+
		placeholders(len(refs))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s of %s by reference: %w", table, provider, err)
	}
	return out, nil
}

// RecordDifference stores a difference found (state.ReconStore).
func (s *Store) RecordDifference(ctx context.Context, d state.Difference, ev *state.DifferenceEvent) (state.Difference, bool, error) {
	d, err := rules.CheckDifference(d, s.now)
	if err != nil {
		return state.Difference{}, false, fmt.Errorf("sqlite: %w", err)
	}
	var created bool
	err = s.write(ctx, func(tx *sql.Tx) error {
		var err error
		d, created, err = rules.RecordDifference(ctx, reconTx{tx}, d, ev)
		return err
	})
	if err != nil {
		return state.Difference{}, false, fmt.Errorf("sqlite: record difference: %w", err)
	}
	return d, created, nil
}

// Difference returns a difference by ID or ErrNotFound.
func (s *Store) Difference(ctx context.Context, id string) (state.Difference, error) {
	d, err := scanDiff(s.r.QueryRowContext(ctx, `SELECT `+diffCols+` FROM recon_differences WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Difference{}, fmt.Errorf("sqlite: difference %s: %w", id, err)
	}
	return d, nil
}

// ListDifferences lists differences newest first.
func (s *Store) ListDifferences(ctx context.Context, f state.DifferenceFilter) ([]state.Difference, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"d.provider", f.Provider}, {"d.class", string(f.Class)}, {"d.state", f.State}, {"d.run_id", f.RunID}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() {
		where = append(where, `EXISTS (SELECT 1 FROM recon_runs r WHERE r.id = d.run_id AND r.from_at < ? AND r.to_at > ?)`)
		args = append(args, ts(f.To), ts(f.From))
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "recon_differences", f.After); err != nil {
			return nil, fmt.Errorf("sqlite: list differences after %s: %w", f.After, err)
		}
		where = append(where, "(d.created_at, d.rowid) < (SELECT created_at, rowid FROM recon_differences WHERE id = ?)")
		args = append(args, f.After)
	}
	q := `SELECT ` + prefixed("d.", diffCols) + ` FROM recon_differences d`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY d.created_at DESC, d.rowid DESC LIMIT ?`
	out, err := queryAll(ctx, s.r, scanDiff, q, append(args, rules.Limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list differences: %w", err)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, err := scanDiff(tx.QueryRowContext(ctx, `SELECT `+diffCols+` FROM recon_differences WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
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
		return state.Difference{}, fmt.Errorf("sqlite: set difference %s %s: %w", id, newState, err)
	}
	return d, nil
}

// OpenDifferenceCounts counts open differences per class.
func (s *Store) OpenDifferenceCounts(ctx context.Context) (map[state.DiffClass]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT class, count(*) FROM recon_differences WHERE state = 'open' GROUP BY class`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count open differences: %w", err)
	}
	defer rows.Close()
	out := map[state.DiffClass]int{}
	for rows.Next() {
		var (
			c state.DiffClass
			n int
		)
		if err := rows.Scan(&c, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count open differences: %w", err)
		}
		out[c] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count open differences: %w", err)
	}
	return out, nil
}
