package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

const deliveryCols = `d.id, d.event_id, d.route, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error,
	d.created_at, d.updated_at, e.id, e.type, e.payment_id, e.provider, e.payload, e.created_at`

const deliveryFrom = ` FROM deliveries d JOIN events e ON e.id = d.event_id`

func scanDelivery(row pgx.Row) (state.Delivery, error) {
	var d state.Delivery
	err := row.Scan(&d.ID, &d.EventID, &d.Route, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastStatusCode, &d.LastError,
		&d.CreatedAt, &d.UpdatedAt, &d.Event.ID, &d.Event.Type, &d.Event.PaymentID, &d.Event.Provider, &d.Event.Payload, &d.Event.CreatedAt)
	if err != nil {
		return d, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.Event.CreatedAt = tm(d.NextAttemptAt), tm(d.CreatedAt), tm(d.UpdatedAt), tm(d.Event.CreatedAt)
	return d, nil
}

// ClaimDeliveries leases up to limit (default 100) due pending deliveries
// of route to owner until now+lease, earliest due first. Rows another
// transaction is claiming are skipped (FOR UPDATE SKIP LOCKED), so workers
// in several processes never claim one delivery twice.
func (s *Store) ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	if err := rules.CheckClaim(route, owner, lease); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var out []state.Delivery
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = claimTx(ctx, tx, route, owner, now, lease, rules.Limit(limit))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim deliveries of route %s: %w", route, err)
	}
	return out, nil
}

// claimTx leases up to limit due deliveries in tx with one statement: the
// earliest due are locked (skipping rows another transaction holds),
// leased, and returned with their event.
func claimTx(ctx context.Context, tx pgx.Tx, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	return queryAll(ctx, tx, scanDelivery, `WITH due AS (
	SELECT id FROM deliveries
	WHERE route = $1 AND status = 'pending' AND next_attempt_at <= $2 AND lease_until <= $2
	ORDER BY next_attempt_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED
), d AS (
	UPDATE deliveries SET lease_owner = $4, lease_until = $5 FROM due WHERE deliveries.id = due.id
	RETURNING deliveries.*
)
SELECT `+deliveryCols+` FROM d JOIN events e ON e.id = d.event_id ORDER BY d.next_attempt_at, d.seq`,
		route, now, limit, owner, now.Add(lease))
}

// RecordAttempt stores an attempt and the delivery's new status and
// releases the lease. The attempt's N is the delivery's attempt count plus
// one (r.Attempt.N is ignored); a zero At is now. It fails, changing
// nothing, unless r.Owner still holds the lease (the error wraps
// state.ErrConflict).
func (s *Store) RecordAttempt(ctx context.Context, r state.AttemptResult) error {
	errs, _, err := s.RecordAttempts(ctx, []state.AttemptResult{r}, state.Claim{})
	if err != nil {
		return err
	}
	return errs[0]
}

// RecordAttempts records each attempt as RecordAttempt does and claims
// as ClaimDeliveries does, all in one transaction (see
// state.OutboxStore): the deliveries are read and locked (in ID order, so
// that two batches cannot deadlock), then one INSERT of every attempt, one
// UPDATE of every delivery, and the claim.
func (s *Store) RecordAttempts(ctx context.Context, rs []state.AttemptResult, claim state.Claim) ([]error, []state.Delivery, error) {
	if claim.Limit > 0 {
		if err := rules.CheckClaim(claim.Route, claim.Owner, claim.Lease); err != nil {
			return nil, nil, fmt.Errorf("postgres: %w", err)
		}
	}
	now := s.now()
	var (
		errs    []error
		claimed []state.Delivery
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		failed, err := recordTx(ctx, tx, rs, now)
		if err != nil {
			return err
		}
		var got []state.Delivery
		if claim.Limit > 0 {
			if got, err = claimTx(ctx, tx, claim.Route, claim.Owner, claim.Now, claim.Lease, claim.Limit); err != nil {
				return fmt.Errorf("claim deliveries of route %s: %w", claim.Route, err)
			}
		}
		errs, claimed = failed, got
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: record attempts: %w", err)
	}
	for i, e := range errs {
		if e != nil {
			errs[i] = fmt.Errorf("postgres: %w", e)
		}
	}
	return errs, claimed, nil
}

// recordTx records rs in tx and returns each one's own failure.
func recordTx(ctx context.Context, tx pgx.Tx, rs []state.AttemptResult, now time.Time) ([]error, error) {
	if len(rs) == 0 {
		return []error{}, nil
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.DeliveryID
	}
	leases := make(map[string]rules.LeaseRow, len(rs))
	rows, err := tx.Query(ctx, `SELECT id, lease_owner, attempts, next_attempt_at FROM deliveries
WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	var (
		id  string
		row rules.LeaseRow
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &row.Owner, &row.Attempts, &row.Next}, func() error {
		leases[id] = rules.LeaseRow{Owner: row.Owner, Attempts: row.Attempts, Next: tm(row.Next)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	recs, failed := rules.Attempts(rs, leases, now)
	if len(recs) == 0 {
		return failed, nil
	}
	var (
		dids, statuses, texts []string
		ns, codes             []int32
		ats, nexts            []time.Time
		durs                  []int64
	)
	for _, rec := range recs {
		a := rec.Attempt
		dids = append(dids, rec.Result.DeliveryID)
		statuses = append(statuses, rec.Result.Status)
		texts = append(texts, a.Error)
		ns = append(ns, int32(a.N))
		codes = append(codes, int32(a.StatusCode))
		ats = append(ats, a.At)
		nexts = append(nexts, rec.Next)
		durs = append(durs, int64(a.Duration))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO attempts (delivery_id, n, at, duration_ns, status_code, error)
SELECT id, n, at, dur, code, err FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::bigint[], $5::int[], $6::text[])
	WITH ORDINALITY AS v(id, n, at, dur, code, err, i) ORDER BY i`,
		dids, ns, ats, durs, codes, texts); err != nil {
		return nil, fmt.Errorf("insert attempts: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE deliveries d SET attempts = v.n, status = v.status, next_attempt_at = v.next,
	last_status_code = v.code, last_error = v.err, lease_owner = '', lease_until = $7, updated_at = $8
FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::int[], $6::text[]) AS v(id, n, status, next, code, err)
WHERE d.id = v.id`,
		dids, ns, statuses, nexts, codes, texts, time.Time{}, now); err != nil {
		return nil, fmt.Errorf("update deliveries: %w", err)
	}
	return failed, nil
}

// ReleaseLeases clears the live leases (lease end after now; zero now is
// the store's clock) of every owner dead reports as dead, leaving the
// deliveries pending and due as they were, and returns how many it
// released per owner. One transaction: the owners, then one UPDATE per
// dead owner; an UPDATE re-checks its rows after waiting for a concurrent
// claim, so a lease another process took meanwhile is never released.
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time, dead func(owner string) bool) (map[string]int, error) {
	if err := rules.CheckRelease(dead); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	now = rules.NowIfZero(now, s.now)
	var released map[string]int
	err := s.write(ctx, func(tx pgx.Tx) error {
		released = map[string]int{}
		rows, err := tx.Query(ctx, `SELECT DISTINCT lease_owner FROM deliveries WHERE status = 'pending' AND lease_owner <> '' AND lease_until > $1`, now)
		if err != nil {
			return fmt.Errorf("find lease owners: %w", err)
		}
		owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("find lease owners: %w", err)
		}
		for _, owner := range rules.DeadOwners(owners, dead) {
			tag, err := tx.Exec(ctx, `UPDATE deliveries SET lease_owner = '', lease_until = $1
WHERE status = 'pending' AND lease_owner = $2 AND lease_until > $3`, time.Time{}, owner, now)
			if err != nil {
				return fmt.Errorf("release leases of %s: %w", owner, err)
			}
			if n := tag.RowsAffected(); n > 0 {
				released[owner] = int(n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: release leases: %w", err)
	}
	return released, nil
}

// ListDeliveries lists deliveries with their event, newest first (default
// limit 100).
func (s *Store) ListDeliveries(ctx context.Context, f state.EventFilter) ([]state.Delivery, error) {
	var (
		where []string
		args  []any
	)
	if f.Status != "" {
		args = append(args, f.Status)
		where = append(where, fmt.Sprintf("d.status = $%d", len(args)))
	}
	if f.Route != "" {
		args = append(args, f.Route)
		where = append(where, fmt.Sprintf("d.route = $%d", len(args)))
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "deliveries", f.After); err != nil {
			return nil, fmt.Errorf("postgres: list deliveries after %s: %w", f.After, err)
		}
		args = append(args, f.After)
		where = append(where, fmt.Sprintf("(d.created_at, d.seq) < (SELECT created_at, seq FROM deliveries WHERE id = $%d)", len(args)))
	}
	q := `SELECT ` + deliveryCols + deliveryFrom
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, rules.Limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY d.created_at DESC, d.seq DESC LIMIT $%d`, len(args))
	out, err := queryAll(ctx, s.pool, scanDelivery, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	return out, nil
}

// EventDetail returns an event, its deliveries (in creation order) and
// their attempts (by delivery, then in the order made), from one snapshot.
func (s *Store) EventDetail(ctx context.Context, id string) (state.Event, []state.Delivery, []state.Attempt, error) {
	var (
		ev   state.Event
		dels []state.Delivery
		atts []state.Attempt
	)
	err := s.read(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id, type, payment_id, provider, payload, created_at FROM events WHERE id = $1`, id).
			Scan(&ev.ID, &ev.Type, &ev.PaymentID, &ev.Provider, &ev.Payload, &ev.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		ev.CreatedAt = tm(ev.CreatedAt)
		if dels, err = queryAll(ctx, tx, scanDelivery, `SELECT `+deliveryCols+deliveryFrom+` WHERE d.event_id = $1 ORDER BY d.seq`, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT a.delivery_id, a.n, a.at, a.duration_ns, a.status_code, a.error
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = $1 ORDER BY d.seq, a.id`, id)
		if err != nil {
			return err
		}
		atts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.Attempt, error) {
			var (
				a  state.Attempt
				ns int64
			)
			err := r.Scan(&a.DeliveryID, &a.N, &a.At, &ns, &a.StatusCode, &a.Error)
			a.At, a.Duration = tm(a.At), time.Duration(ns)
			return a, err
		})
		return err
	})
	if err != nil {
		return state.Event{}, nil, nil, fmt.Errorf("postgres: event %s: %w", id, err)
	}
	return ev, dels, atts, nil
}

// ReplayEvent puts every delivery of the event back to pending, due at
// now, with no attempts counted and no lease (the attempt history stays).
func (s *Store) ReplayEvent(ctx context.Context, id string, now time.Time) error {
	now = rules.NowIfZero(now, s.now)
	err := s.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM events WHERE id = $1`, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
	lease_owner = '', lease_until = $2, updated_at = $1 WHERE event_id = $3`, now, time.Time{}, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: replay event %s: %w", id, err)
	}
	return nil
}

// NextDue returns when the route's next pending delivery can be claimed:
// the earliest over pending deliveries of max(NextAttemptAt, lease end), so
// a leased delivery counts from when its lease runs out. Zero when none.
func (s *Store) NextDue(ctx context.Context, route string) (time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT MIN(GREATEST(next_attempt_at, lease_until)) FROM deliveries WHERE route = $1 AND status = 'pending'`, route).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: next due delivery of route %s: %w", route, err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return rules.NextDue(tm(*at)), nil
}

// Stats counts pending deliveries and reports the oldest one's creation.
func (s *Store) Stats(ctx context.Context) (state.QueueStats, error) {
	var (
		st     state.QueueStats
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'`).Scan(&st.Pending, &oldest)
	if err != nil {
		return state.QueueStats{}, fmt.Errorf("postgres: queue stats: %w", err)
	}
	if oldest != nil {
		st.OldestPending = tm(*oldest)
	}
	return st, nil
}
