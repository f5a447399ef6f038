package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

const deliveryCols = `d.id, d.event_id, d.route, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error,
	d.created_at, d.updated_at, e.id, e.type, e.payment_id, e.provider, e.payload, e.created_at`

const deliveryFrom = ` FROM deliveries d JOIN events e ON e.id = d.event_id`

func scanDelivery(sc scanner) (state.Delivery, error) {
	var (
		d                            state.Delivery
		next, created, upd, evCreate int64
	)
	err := sc.Scan(&d.ID, &d.EventID, &d.Route, &d.Status, &d.Attempts, &next, &d.LastStatusCode, &d.LastError,
		&created, &upd, &d.Event.ID, &d.Event.Type, &d.Event.PaymentID, &d.Event.Provider, &d.Event.Payload, &evCreate)
	if err != nil {
		return d, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.Event.CreatedAt = tm(next), tm(created), tm(upd), tm(evCreate)
	return d, nil
}

// planFreeLimit is LIMIT's argument written so that the planner does not
// read its value: SQLite plans with the value of a plain "LIMIT ?" and so
// prepares the statement again whenever it changes, which for the claim
// (a different batch size from one call to the next) cost as much as
// running it.
const planFreeLimit = `CAST(? AS INTEGER)`

// ClaimDeliveries leases up to limit (default 100) due pending deliveries
// of route to owner until now+lease, earliest due first. While other
// writes come in it may wait a few milliseconds to share their commit
// (writeDeferrable).
func (s *Store) ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	if err := rules.CheckClaim(route, owner, lease); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var out []state.Delivery
	err := s.writeDeferrable(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = claimTx(keyed(ctx), tx, route, owner, now, lease, rules.Limit(limit))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries of route %s: %w", route, err)
	}
	return out, nil
}

// claimTx leases up to limit due deliveries in tx with one statement: an
// UPDATE of the earliest due (the index deliveries_due gives them in
// order, the rowid last) that returns each with its event.
func claimTx(ctx context.Context, tx *sql.Tx, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET lease_owner = ?, lease_until = ?
WHERE rowid IN (`+dueDeliveries+`)
RETURNING rowid, `+claimedCols, owner, ts(now.Add(lease)), route, ts(now), ts(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type claimed struct {
		rowid int64
		d     state.Delivery
	}
	var out []claimed
	for rows.Next() {
		var (
			c                            claimed
			next, created, upd, evCreate int64
		)
		d := &c.d
		if err := rows.Scan(&c.rowid, &d.ID, &d.EventID, &d.Route, &d.Status, &d.Attempts, &next, &d.LastStatusCode, &d.LastError,
			&created, &upd, &d.Event.Type, &d.Event.PaymentID, &d.Event.Provider, &d.Event.Payload, &evCreate); err != nil {
			return nil, err
		}
		d.Event.ID = d.EventID
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.Event.CreatedAt = tm(next), tm(created), tm(upd), tm(evCreate)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives no order: earliest due first, as claimed.
	slices.SortFunc(out, func(a, b claimed) int {
		if c := a.d.NextAttemptAt.Compare(b.d.NextAttemptAt); c != 0 {
			return c
		}
		return cmp.Compare(a.rowid, b.rowid)
	})
	ds := make([]state.Delivery, len(out))
	for i, c := range out {
		ds[i] = c.d
	}
	return ds, nil
}

// dueDeliveries selects the rowids of a route's (?) pending deliveries due
// at a time (?) and not leased at that time (?), earliest due first, up to
// a limit (?): through the partial index of pending deliveries.
const dueDeliveries = `SELECT rowid FROM deliveries
	WHERE route = ? AND status = 'pending' AND next_attempt_at <= ? AND lease_until <= ?
	ORDER BY next_attempt_at, rowid LIMIT ` + planFreeLimit

// nextDue selects when a route's (?) next pending delivery is due.
const nextDue = `SELECT MIN(MAX(next_attempt_at, lease_until)) FROM deliveries WHERE route = ? AND status = 'pending'`

// claimedCols are the columns claimTx returns: the delivery's, then its
// event's (each a lookup by the event's primary key).
const claimedCols = `id, event_id, route, status, attempts, next_attempt_at, last_status_code, last_error, created_at, updated_at,
	(SELECT type FROM events WHERE events.id = event_id), (SELECT payment_id FROM events WHERE events.id = event_id),
	(SELECT provider FROM events WHERE events.id = event_id), (SELECT payload FROM events WHERE events.id = event_id),
	(SELECT created_at FROM events WHERE events.id = event_id)`

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
// as ClaimDeliveries does, all in one write (see state.OutboxStore): one
// read of the deliveries, an INSERT and an UPDATE per attempt, the claim's
// UPDATE, one commit for all. Like a claim, it may wait a few
// milliseconds to share a commit (writeDeferrable).
func (s *Store) RecordAttempts(ctx context.Context, rs []state.AttemptResult, claim state.Claim) ([]error, []state.Delivery, error) {
	if claim.Limit > 0 {
		if err := rules.CheckClaim(claim.Route, claim.Owner, claim.Lease); err != nil {
			return nil, nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	ids, err := idList(rs)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: record attempts: %w", err)
	}
	now := s.now()
	var (
		errs    []error
		claimed []state.Delivery
	)
	err = s.writeDeferrable(ctx, func(tx *sql.Tx) error {
		ctx := keyed(ctx)
		failed, err := recordTx(ctx, tx, rs, ids, now)
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
		return nil, nil, fmt.Errorf("sqlite: record attempts: %w", err)
	}
	for i, e := range errs {
		if e != nil {
			errs[i] = fmt.Errorf("sqlite: %w", e)
		}
	}
	return errs, claimed, nil
}

// recordTx records rs (their delivery IDs are ids, a JSON array) in tx
// and returns each one's own failure.
func recordTx(ctx context.Context, tx *sql.Tx, rs []state.AttemptResult, ids string, now time.Time) ([]error, error) {
	if len(rs) == 0 {
		return []error{}, nil
	}
	leases := make(map[string]rules.LeaseRow, len(rs))
	rows, err := tx.QueryContext(ctx, `SELECT id, lease_owner, attempts, next_attempt_at FROM deliveries
WHERE id IN (SELECT value FROM json_each(?))`, ids)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	for rows.Next() {
		var (
			id   string
			row  rules.LeaseRow
			next int64
		)
		if err := rows.Scan(&id, &row.Owner, &row.Attempts, &next); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
		row.Next = tm(next)
		leases[id] = row
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	recs, failed := rules.Attempts(rs, leases, now)
	for _, rec := range recs {
		a, r := rec.Attempt, rec.Result
		if _, err := tx.ExecContext(ctx, `INSERT INTO attempts (delivery_id, n, at, duration_ns, status_code, error) VALUES (?, ?, ?, ?, ?, ?)`,
			a.DeliveryID, a.N, ts(a.At), int64(a.Duration), a.StatusCode, a.Error); err != nil {
			return nil, fmt.Errorf("insert attempt on delivery %s: %w", r.DeliveryID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET attempts = ?, status = ?, next_attempt_at = ?, last_status_code = ?,
	last_error = ?, lease_owner = '', lease_until = 0, updated_at = ? WHERE id = ?`,
			a.N, r.Status, ts(rec.Next), a.StatusCode, a.Error, ts(now), r.DeliveryID); err != nil {
			return nil, fmt.Errorf("update delivery %s: %w", r.DeliveryID, err)
		}
	}
	return failed, nil
}

// idList is the deliveries' IDs as one JSON array, for json_each: one
// statement text and one parameter however many there are.
func idList(rs []state.AttemptResult) (string, error) {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.DeliveryID
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// ReleaseLeases clears the live leases (lease end after now; zero now is
// the store's clock) of every owner dead reports as dead, leaving the
// deliveries pending and due as they were, and returns how many it
// released per owner. One write transaction: the owners, then one UPDATE
// per dead owner.
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time, dead func(owner string) bool) (map[string]int, error) {
	if err := rules.CheckRelease(dead); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	now = rules.NowIfZero(now, s.now)
	var released map[string]int
	err := s.write(ctx, func(tx *sql.Tx) error {
		released = map[string]int{}
		owners, err := queryAll(ctx, tx, func(sc scanner) (string, error) {
			var o string
			return o, sc.Scan(&o)
		}, `SELECT DISTINCT lease_owner FROM deliveries WHERE status = 'pending' AND lease_owner != '' AND lease_until > ?`, ts(now))
		if err != nil {
			return fmt.Errorf("find lease owners: %w", err)
		}
		for _, owner := range rules.DeadOwners(owners, dead) {
			res, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_owner = '', lease_until = 0
WHERE status = 'pending' AND lease_owner = ? AND lease_until > ?`, owner, ts(now))
			if err != nil {
				return fmt.Errorf("release leases of %s: %w", owner, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("release leases of %s: %w", owner, err)
			}
			if n > 0 {
				released[owner] = int(n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: release leases: %w", err)
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
		where = append(where, "d.status = ?")
		args = append(args, f.Status)
	}
	if f.Route != "" {
		where = append(where, "d.route = ?")
		args = append(args, f.Route)
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "deliveries", f.After); err != nil {
			return nil, fmt.Errorf("sqlite: list deliveries after %s: %w", f.After, err)
		}
		where = append(where, "(d.created_at, d.rowid) < (SELECT created_at, rowid FROM deliveries WHERE id = ?)")
		args = append(args, f.After)
	}
	q := `SELECT ` + deliveryCols + deliveryFrom
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY d.created_at DESC, d.rowid DESC LIMIT ?`
	args = append(args, rules.Limit(f.Limit))
	out, err := queryAll(ctx, s.r, scanDelivery, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	return out, nil
}

// EventDetail returns an event, its deliveries (in creation order) and
// their attempts (by delivery, then in the order made).
func (s *Store) EventDetail(ctx context.Context, id string) (state.Event, []state.Delivery, []state.Attempt, error) {
	var (
		ev    state.Event
		dels  []state.Delivery
		atts  []state.Attempt
		evCre int64
	)
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, type, payment_id, provider, payload, created_at FROM events WHERE id = ?`, id).
			Scan(&ev.ID, &ev.Type, &ev.PaymentID, &ev.Provider, &ev.Payload, &evCre)
		if errors.Is(err, sql.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		ev.CreatedAt = tm(evCre)
		if dels, err = queryAll(ctx, tx, scanDelivery, `SELECT `+deliveryCols+deliveryFrom+` WHERE d.event_id = ? ORDER BY d.rowid`, id); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT a.delivery_id, a.n, a.at, a.duration_ns, a.status_code, a.error
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = ? ORDER BY d.rowid, a.id`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a      state.Attempt
				at, ns int64
			)
			if err := rows.Scan(&a.DeliveryID, &a.N, &at, &ns, &a.StatusCode, &a.Error); err != nil {
				return err
			}
			a.At, a.Duration = tm(at), time.Duration(ns)
			atts = append(atts, a)
		}
		return rows.Err()
	})
	if err != nil {
		return state.Event{}, nil, nil, fmt.Errorf("sqlite: event %s: %w", id, err)
	}
	return ev, dels, atts, nil
}

// ReplayEvent puts every delivery of the event back to pending, due at
// now, with no attempts counted and no lease (the attempt history stays).
func (s *Store) ReplayEvent(ctx context.Context, id string, now time.Time) error {
	now = rules.NowIfZero(now, s.now)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,
	lease_owner = '', lease_until = 0, updated_at = ? WHERE event_id = ?`, ts(now), ts(now), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: replay event %s: %w", id, err)
	}
	return nil
}

// NextDue returns when the route's next pending delivery can be claimed:
// the earliest over pending deliveries of max(NextAttemptAt, lease end), so
// a leased delivery counts from when its lease runs out. Zero when none.
func (s *Store) NextDue(ctx context.Context, route string) (time.Time, error) {
	var n sql.NullInt64
	err := s.r.QueryRowContext(ctx, nextDue, route).Scan(&n)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: next due delivery of route %s: %w", route, err)
	}
	if !n.Valid {
		return time.Time{}, nil
	}
	return rules.NextDue(tm(n.Int64)), nil
}

// Stats counts pending deliveries and reports the oldest one's creation.
func (s *Store) Stats(ctx context.Context) (state.QueueStats, error) {
	var (
		st     state.QueueStats
		oldest sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'`).Scan(&st.Pending, &oldest)
	if err != nil {
		return state.QueueStats{}, fmt.Errorf("sqlite: queue stats: %w", err)
	}
	if oldest.Valid {
		st.OldestPending = tm(oldest.Int64)
	}
	return st, nil
}
