package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// defaultLimit is used when a filter or batch says 0.
const defaultLimit = 100

const paymentCols = `id, provider, reference, status, amount, currency, phone, description, mno, ipn,
	provider_reference, redirect_url, confirmation_code, message, raw, created_at, updated_at, next_sync_at, sync_attempts`

func scanPayment(sc scanner) (state.Payment, error) {
	var (
		p                     state.Payment
		raw                   []byte
		created, upd, nextSyn int64
	)
	err := sc.Scan(&p.ID, &p.Provider, &p.Reference, &p.Status, &p.Amount, &p.Currency, &p.Phone, &p.Description,
		&p.MNO, &p.IPN, &p.ProviderReference, &p.RedirectURL, &p.ConfirmationCode, &p.Message, &raw,
		&created, &upd, &nextSyn, &p.SyncAttempts)
	if err != nil {
		return p, err
	}
	p.Raw = raw
	p.CreatedAt, p.UpdatedAt, p.NextSyncAt = tm(created), tm(upd), tm(nextSyn)
	return p, nil
}

func queryPayments(ctx context.Context, q queryer, query string, args ...any) ([]state.Payment, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []state.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func insertPayment(ctx context.Context, q queryer, p state.Payment) error {
	_, err := q.ExecContext(ctx, `INSERT INTO payments (`+paymentCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Provider, p.Reference, p.Status, p.Amount, p.Currency, p.Phone, p.Description, p.MNO, p.IPN,
		p.ProviderReference, p.RedirectURL, p.ConfirmationCode, p.Message, blob(p.Raw),
		ts(p.CreatedAt), ts(p.UpdatedAt), ts(p.NextSyncAt), p.SyncAttempts)
	if isUnique(err) {
		return fmt.Errorf("payment %s or reference %s/%s exists: %w", p.ID, p.Provider, p.Reference, state.ErrConflict)
	}
	return err
}

// CreatePayment inserts p; ErrConflict when its ID or (provider,
// reference) is taken. A zero CreatedAt is now, a zero UpdatedAt is
// CreatedAt, an empty Status is pending.
func (s *Store) CreatePayment(ctx context.Context, p state.Payment) error {
	if p.ID == "" || p.Provider == "" || p.Reference == "" {
		return fmt.Errorf("sqlite: create payment %s/%s: ID, provider and reference are required", p.Provider, p.Reference)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	if p.Status == "" {
		p.Status = "pending"
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return insertPayment(ctx, tx, p) }); err != nil {
		return fmt.Errorf("sqlite: create payment %s/%s: %w", p.Provider, p.Reference, err)
	}
	return nil
}

// Payment returns a payment by ID or ErrNotFound.
func (s *Store) Payment(ctx context.Context, id string) (state.Payment, error) {
	p, err := scanPayment(s.r.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("sqlite: payment %s: %w", id, err)
	}
	return p, nil
}

// PaymentByReference returns a payment by provider and merchant reference
// or ErrNotFound.
func (s *Store) PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error) {
	p, err := scanPayment(s.r.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = ? AND reference = ?`, provider, reference))
	if errors.Is(err, sql.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("sqlite: payment %s/%s: %w", provider, reference, err)
	}
	return p, nil
}

// ListPayments returns payments newest first (default limit 100).
func (s *Store) ListPayments(ctx context.Context, f state.PaymentFilter) ([]state.Payment, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"provider", f.Provider}, {"reference", f.Reference}, {"status", f.Status}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + paymentCols + ` FROM payments`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, rowid DESC LIMIT ?`
	args = append(args, limitOr(f.Limit))
	out, err := queryPayments(ctx, s.r, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list payments: %w", err)
	}
	return out, nil
}

func limitOr(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return n
}

// RecordInitiation stores the provider's answer to an initiation.
func (s *Store) RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	if now.IsZero() {
		now = s.now()
	}
	var p state.Payment
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payments SET status = ?, provider_reference = ?, redirect_url = ?, message = ?,
	raw = ?, next_sync_at = ?, updated_at = ? WHERE id = ?`,
			in.Status, in.ProviderReference, in.RedirectURL, in.Message, blob(in.Raw), ts(in.NextSyncAt), ts(now), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return state.ErrNotFound
		}
		p, err = scanPayment(tx.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return state.Payment{}, fmt.Errorf("sqlite: record initiation of payment %s: %w", id, err)
	}
	return p, nil
}

// DuePayments returns pending and unknown payments whose NextSyncAt <= now,
// earliest first (default limit 100).
func (s *Store) DuePayments(ctx context.Context, now time.Time, limit int) ([]state.Payment, error) {
	out, err := queryPayments(ctx, s.r, `SELECT `+paymentCols+` FROM payments
WHERE status IN ('pending', 'unknown') AND next_sync_at <= ? ORDER BY next_sync_at, rowid LIMIT ?`, ts(now), limitOr(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due payments: %w", err)
	}
	return out, nil
}

// ScheduleSync sets when to ask the provider about a payment next.
func (s *Store) ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payments SET next_sync_at = ?, sync_attempts = ? WHERE id = ?`, ts(next), attempts, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return state.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: schedule sync of payment %s: %w", id, err)
	}
	return nil
}

// terminal reports whether a payment status is final (no more syncing).
func terminal(status string) bool {
	switch status {
	case "succeeded", "failed", "reversed":
		return true
	}
	return false
}

// ApplyStatus carries out c in one transaction; see state.StatusChange.
//
// Details this implementation fixes: a notification with an empty DedupKey
// is stored but never counts as a duplicate; a change without Reference
// finds the payment by ProviderReference (the oldest, should there be
// several) and cannot create one (ErrNotFound). Amount, Currency, Phone and
// ProviderReference are filled only when the payment has none;
// ConfirmationCode, Message and Raw replace the stored ones when given.
// Changed is true when the status differs (a created payment changed from
// ""). Sync bookkeeping: a payment entering a terminal status is no longer
// scheduled (NextSyncAt zero); one created, or leaving a terminal status,
// in a non-terminal status is due at once.
func (s *Store) ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	key := c.Reference
	if key == "" {
		key = "provider-reference " + c.ProviderReference
	}
	res, err := s.applyStatus(ctx, c)
	if err != nil {
		return state.StatusResult{}, fmt.Errorf("sqlite: apply status for %s/%s: %w", c.Provider, key, err)
	}
	return res, nil
}

// errDuplicate rolls back a duplicate's transaction.
var errDuplicate = errors.New("duplicate notification")

func (s *Store) applyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	if c.Provider == "" || c.Status == "" {
		return state.StatusResult{}, errors.New("provider and status are required")
	}
	if c.Now.IsZero() {
		c.Now = s.now()
	}
	var res state.StatusResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		if n := c.Notification; n != nil {
			dup, err := insertNotification(ctx, tx, c.Provider, n, c.Now)
			if err != nil {
				return err
			}
			if dup {
				res.Duplicate = true
				p, found, err := findPayment(ctx, tx, c)
				if err != nil {
					return err
				}
				if found {
					res.Payment = p
				}
				return errDuplicate
			}
		}
		p, found, err := findPayment(ctx, tx, c)
		if err != nil {
			return err
		}
		old := p.Status
		if !found {
			if !c.CreateIfMissing {
				return state.ErrNotFound
			}
			if c.Reference == "" {
				return fmt.Errorf("no reference to create the payment with: %w", state.ErrNotFound)
			}
			p = state.Payment{ID: newID("pay_"), Provider: c.Provider, Reference: c.Reference, CreatedAt: c.Now}
			old = ""
		}
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&p.ProviderReference, c.ProviderReference)
		fill(&p.Amount, c.Amount)
		fill(&p.Currency, c.Currency)
		fill(&p.Phone, c.Phone)
		if c.ConfirmationCode != "" {
			p.ConfirmationCode = c.ConfirmationCode
		}
		if c.Message != "" {
			p.Message = c.Message
		}
		if len(c.Raw) > 0 {
			p.Raw = append([]byte(nil), c.Raw...)
		}
		p.Status = c.Status
		p.UpdatedAt = c.Now
		res.Changed = old != c.Status
		if res.Changed {
			switch {
			case terminal(c.Status):
				p.NextSyncAt = time.Time{}
			case !found || terminal(old) || p.NextSyncAt.IsZero():
				p.NextSyncAt = c.Now
			}
		}
		if found {
			if err := updatePaymentStatus(ctx, tx, p); err != nil {
				return err
			}
		} else if err := insertPayment(ctx, tx, p); err != nil {
			return err
		}
		res.Payment = p
		if res.Changed && c.EventType != "" {
			id, err := emitEvent(ctx, tx, c, p)
			if err != nil {
				return err
			}
			res.EventID = id
		}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		return res, nil
	}
	if err != nil {
		return state.StatusResult{}, err
	}
	return res, nil
}

// insertNotification records n and reports whether its DedupKey was
// already recorded for the provider.
func insertNotification(ctx context.Context, tx *sql.Tx, provider string, n *state.Notification, now time.Time) (bool, error) {
	id := n.ID
	if id == "" {
		id = newID("ntf_")
	}
	if n.Provider != "" {
		provider = n.Provider
	}
	var dedup any
	if n.DedupKey != "" {
		dedup = n.DedupKey
	}
	at := n.ReceivedAt
	if at.IsZero() {
		at = now
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, provider, dedup_key, route, body, received_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, dedup_key) DO NOTHING`,
		id, provider, dedup, n.Route, blob(n.Body), ts(at))
	if isUnique(err) {
		return false, fmt.Errorf("record notification %s: %w", id, state.ErrConflict)
	}
	if err != nil {
		return false, fmt.Errorf("record notification %s: %w", id, err)
	}
	k, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record notification %s: %w", id, err)
	}
	return k == 0, nil
}

func findPayment(ctx context.Context, tx *sql.Tx, c state.StatusChange) (state.Payment, bool, error) {
	var row *sql.Row
	switch {
	case c.Reference != "":
		row = tx.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = ? AND reference = ?`, c.Provider, c.Reference)
	case c.ProviderReference != "":
		row = tx.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = ? AND provider_reference = ?
ORDER BY created_at, rowid LIMIT 1`, c.Provider, c.ProviderReference)
	default:
		return state.Payment{}, false, nil
	}
	p, err := scanPayment(row)
	if errors.Is(err, sql.ErrNoRows) {
		return state.Payment{}, false, nil
	}
	if err != nil {
		return state.Payment{}, false, fmt.Errorf("find payment: %w", err)
	}
	return p, true, nil
}

func updatePaymentStatus(ctx context.Context, tx *sql.Tx, p state.Payment) error {
	_, err := tx.ExecContext(ctx, `UPDATE payments SET status = ?, provider_reference = ?, amount = ?, currency = ?, phone = ?,
	confirmation_code = ?, message = ?, raw = ?, updated_at = ?, next_sync_at = ? WHERE id = ?`,
		p.Status, p.ProviderReference, p.Amount, p.Currency, p.Phone, p.ConfirmationCode, p.Message, blob(p.Raw),
		ts(p.UpdatedAt), ts(p.NextSyncAt), p.ID)
	if err != nil {
		return fmt.Errorf("update payment %s: %w", p.ID, err)
	}
	return nil
}

// emitEvent inserts the event for p and one pending delivery per route.
func emitEvent(ctx context.Context, tx *sql.Tx, c state.StatusChange, p state.Payment) (string, error) {
	id := newID("evt_")
	var payload []byte
	if c.EventPayload != nil {
		var err error
		if payload, err = c.EventPayload(p, id, c.Now); err != nil {
			return "", fmt.Errorf("build event %s: %w", id, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, payment_id, provider, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id, c.EventType, p.ID, p.Provider, blob(payload), ts(c.Now)); err != nil {
		return "", fmt.Errorf("insert event %s: %w", id, err)
	}
	for _, route := range c.Routes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at,
	lease_owner, lease_until, last_status_code, last_error, created_at, updated_at)
VALUES (?, ?, ?, 'pending', 0, ?, '', 0, 0, '', ?, ?)`,
			newID("dlv_"), id, route, ts(c.Now), ts(c.Now), ts(c.Now)); err != nil {
			return "", fmt.Errorf("insert delivery of event %s to route %s: %w", id, route, err)
		}
	}
	return id, nil
}

// ---------------------------------------------------------------------------
// Idempotency keys

const idemCols = `key, request_hash, done, status_code, body, payment_id, created_at`

func scanIdem(sc scanner) (state.IdempotencyRecord, error) {
	var (
		r       state.IdempotencyRecord
		created int64
	)
	if err := sc.Scan(&r.Key, &r.RequestHash, &r.Done, &r.StatusCode, &r.Body, &r.PaymentID, &created); err != nil {
		return r, err
	}
	r.CreatedAt = tm(created)
	return r, nil
}

// ClaimIdempotencyKey stores key as in flight and returns (rec, true), or
// returns the existing record and false.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, key, requestHash string, now time.Time) (state.IdempotencyRecord, bool, error) {
	if now.IsZero() {
		now = s.now()
	}
	var (
		rec     state.IdempotencyRecord
		claimed bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES (?, ?, 0, 0, NULL, '', ?)
ON CONFLICT (key) DO NOTHING`, key, requestHash, ts(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		claimed = n == 1
		rec, err = scanIdem(tx.QueryRowContext(ctx, `SELECT `+idemCols+` FROM idempotency WHERE key = ?`, key))
		return err
	})
	if err != nil {
		return state.IdempotencyRecord{}, false, fmt.Errorf("sqlite: claim idempotency key: %w", err)
	}
	return rec, claimed, nil
}

// CompleteIdempotencyKey stores the answer to the first request
// (ErrNotFound when the key is not claimed).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idempotency SET done = 1, status_code = ?, body = ?, payment_id = ? WHERE key = ?`,
			statusCode, blob(body), paymentID, key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return state.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a key (no error when it is unknown).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: release idempotency key: %w", err)
	}
	return nil
}
