package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
)

const paymentCols = `id, provider, reference, status, amount, currency, phone, description, mno, ipn,
	provider_reference, redirect_url, confirmation_code, message, raw, created_at, updated_at, next_sync_at, sync_attempts`

func scanPayment(row pgx.Row) (state.Payment, error) {
	var p state.Payment
	var raw []byte
	err := row.Scan(&p.ID, &p.Provider, &p.Reference, &p.Status, &p.Amount, &p.Currency, &p.Phone, &p.Description,
		&p.MNO, &p.IPN, &p.ProviderReference, &p.RedirectURL, &p.ConfirmationCode, &p.Message, &raw,
		&p.CreatedAt, &p.UpdatedAt, &p.NextSyncAt, &p.SyncAttempts)
	if err != nil {
		return p, err
	}
	p.Raw = raw
	p.CreatedAt, p.UpdatedAt, p.NextSyncAt = tm(p.CreatedAt), tm(p.UpdatedAt), tm(p.NextSyncAt)
	return p, nil
}

func queryPayments(ctx context.Context, q querier, query string, args ...any) ([]state.Payment, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.Payment, error) { return scanPayment(r) })
}

// insertPayment inserts p. With onConflictNothing a taken (provider,
// reference) inserts nothing and reports false instead of failing.
func insertPayment(ctx context.Context, q querier, p state.Payment, onConflictNothing bool) (bool, error) {
	query := `INSERT INTO payments (` + paymentCols + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`
	if onConflictNothing {
		query += ` ON CONFLICT (provider, reference) DO NOTHING`
	}
	tag, err := q.Exec(ctx, query,
		p.ID, p.Provider, p.Reference, p.Status, p.Amount, p.Currency, p.Phone, p.Description, p.MNO, p.IPN,
		p.ProviderReference, p.RedirectURL, p.ConfirmationCode, p.Message, nilIfNil(p.Raw),
		p.CreatedAt, p.UpdatedAt, p.NextSyncAt, p.SyncAttempts)
	if isUnique(err) {
		return false, fmt.Errorf("payment %s or reference %s/%s exists: %w", p.ID, p.Provider, p.Reference, state.ErrConflict)
	}
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// nilIfNil stores a nil byte slice as NULL so it reads back as nil.
func nilIfNil(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// CreatePayment inserts p; ErrConflict when its ID or (provider,
// reference) is taken. A zero CreatedAt is now, a zero UpdatedAt is
// CreatedAt, an empty Status is pending.
func (s *Store) CreatePayment(ctx context.Context, p state.Payment) error {
	if p.ID == "" || p.Provider == "" || p.Reference == "" {
		return fmt.Errorf("postgres: create payment %s/%s: ID, provider and reference are required", p.Provider, p.Reference)
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
	if _, err := insertPayment(ctx, s.pool, p, false); err != nil {
		return fmt.Errorf("postgres: create payment %s/%s: %w", p.Provider, p.Reference, err)
	}
	return nil
}

// Payment returns a payment by ID or ErrNotFound.
func (s *Store) Payment(ctx context.Context, id string) (state.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("postgres: payment %s: %w", id, err)
	}
	return p, nil
}

// PaymentByReference returns a payment by provider and merchant reference
// or ErrNotFound.
func (s *Store) PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = $1 AND reference = $2`, provider, reference))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("postgres: payment %s/%s: %w", provider, reference, err)
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
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := `SELECT ` + paymentCols + ` FROM payments`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limitOr(f.Limit))
	q += fmt.Sprintf(` ORDER BY created_at DESC, seq DESC LIMIT $%d`, len(args))
	out, err := queryPayments(ctx, s.pool, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list payments: %w", err)
	}
	return out, nil
}

// RecordInitiation stores the provider's answer to an initiation.
func (s *Store) RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	if now.IsZero() {
		now = s.now()
	}
	p, err := scanPayment(s.pool.QueryRow(ctx, `UPDATE payments SET status = $1, provider_reference = $2, redirect_url = $3,
	message = $4, raw = $5, next_sync_at = $6, updated_at = $7 WHERE id = $8 RETURNING `+paymentCols,
		in.Status, in.ProviderReference, in.RedirectURL, in.Message, nilIfNil(in.Raw), in.NextSyncAt, now, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("postgres: record initiation of payment %s: %w", id, err)
	}
	return p, nil
}

// DuePayments returns pending and unknown payments whose NextSyncAt <= now,
// earliest first (default limit 100).
func (s *Store) DuePayments(ctx context.Context, now time.Time, limit int) ([]state.Payment, error) {
	out, err := queryPayments(ctx, s.pool, `SELECT `+paymentCols+` FROM payments
WHERE status IN ('pending', 'unknown') AND next_sync_at <= $1 ORDER BY next_sync_at, seq LIMIT $2`, now, limitOr(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: list due payments: %w", err)
	}
	return out, nil
}

// ScheduleSync sets when to ask the provider about a payment next.
func (s *Store) ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error {
	tag, err := s.pool.Exec(ctx, `UPDATE payments SET next_sync_at = $1, sync_attempts = $2 WHERE id = $3`, next, attempts, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = state.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: schedule sync of payment %s: %w", id, err)
	}
	return nil
}

func terminal(status string) bool {
	switch status {
	case "succeeded", "failed", "reversed":
		return true
	}
	return false
}

// ApplyStatus carries out c in one transaction; see state.StatusChange.
// The rules are state/sqlite's (documented on its ApplyStatus); here the
// payment row is locked FOR UPDATE so concurrent changes to one payment
// apply one after the other, and a payment created concurrently by another
// transaction is found rather than duplicated.
func (s *Store) ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	key := c.Reference
	if key == "" {
		key = "provider-reference " + c.ProviderReference
	}
	res, err := s.applyStatus(ctx, c)
	if err != nil {
		return state.StatusResult{}, fmt.Errorf("postgres: apply status for %s/%s: %w", c.Provider, key, err)
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		if n := c.Notification; n != nil {
			dup, err := insertNotification(ctx, tx, c.Provider, n, c.Now)
			if err != nil {
				return err
			}
			if dup {
				res.Duplicate = true
				if p, found, err := findPayment(ctx, tx, c, false); err != nil {
					return err
				} else if found {
					res.Payment = p
				}
				return errDuplicate
			}
		}
		p, found, err := findPayment(ctx, tx, c, true)
		if err != nil {
			return err
		}
		if !found {
			if !c.CreateIfMissing {
				return state.ErrNotFound
			}
			if c.Reference == "" {
				return fmt.Errorf("no reference to create the payment with: %w", state.ErrNotFound)
			}
			created, changed := change(state.Payment{ID: newID("pay_"), Provider: c.Provider, Reference: c.Reference, CreatedAt: c.Now}, false, c)
			inserted, err := insertPayment(ctx, tx, created, true)
			if err != nil {
				return err
			}
			if inserted {
				res.Payment, res.Changed = created, changed
				return s.emit(ctx, tx, c, &res)
			}
			// Created meanwhile by another transaction (now committed).
			if p, found, err = findPayment(ctx, tx, c, true); err != nil {
				return err
			} else if !found {
				return fmt.Errorf("payment %s/%s vanished while being created", c.Provider, c.Reference)
			}
		}
		updated, changed := change(p, true, c)
		if _, err := tx.Exec(ctx, `UPDATE payments SET status = $1, provider_reference = $2, amount = $3, currency = $4, phone = $5,
	confirmation_code = $6, message = $7, raw = $8, updated_at = $9, next_sync_at = $10 WHERE id = $11`,
			updated.Status, updated.ProviderReference, updated.Amount, updated.Currency, updated.Phone, updated.ConfirmationCode,
			updated.Message, nilIfNil(updated.Raw), updated.UpdatedAt, updated.NextSyncAt, updated.ID); err != nil {
			return fmt.Errorf("update payment %s: %w", p.ID, err)
		}
		res.Payment, res.Changed = updated, changed
		return s.emit(ctx, tx, c, &res)
	})
	if errors.Is(err, errDuplicate) {
		return res, nil
	}
	if err != nil {
		return state.StatusResult{}, err
	}
	return res, nil
}

// change applies c to p (found: p was stored before) and reports whether
// the status changed.
func change(p state.Payment, found bool, c state.StatusChange) (state.Payment, bool) {
	old := p.Status
	if !found {
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
	p.Status, p.UpdatedAt = c.Status, c.Now
	changed := old != c.Status
	if changed {
		switch {
		case terminal(c.Status):
			p.NextSyncAt = time.Time{}
		case !found || terminal(old) || p.NextSyncAt.IsZero():
			p.NextSyncAt = c.Now
		}
	}
	return p, changed
}

func (s *Store) emit(ctx context.Context, tx pgx.Tx, c state.StatusChange, res *state.StatusResult) error {
	if !res.Changed || c.EventType == "" {
		return nil
	}
	id, err := emitEvent(ctx, tx, c, res.Payment)
	if err != nil {
		return err
	}
	res.EventID = id
	return nil
}

func insertNotification(ctx context.Context, tx pgx.Tx, provider string, n *state.Notification, now time.Time) (bool, error) {
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
	tag, err := tx.Exec(ctx, `INSERT INTO notifications (id, provider, dedup_key, route, body, received_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, dedup_key) DO NOTHING`,
		id, provider, dedup, n.Route, nilIfNil(n.Body), at)
	if isUnique(err) {
		return false, fmt.Errorf("record notification %s: %w", id, state.ErrConflict)
	}
	if err != nil {
		return false, fmt.Errorf("record notification %s: %w", id, err)
	}
	return tag.RowsAffected() == 0, nil
}

func findPayment(ctx context.Context, tx pgx.Tx, c state.StatusChange, forUpdate bool) (state.Payment, bool, error) {
	lock := ""
	if forUpdate {
		lock = ` FOR UPDATE`
	}
	var row pgx.Row
	switch {
	case c.Reference != "":
		row = tx.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = $1 AND reference = $2`+lock, c.Provider, c.Reference)
	case c.ProviderReference != "":
		row = tx.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE provider = $1 AND provider_reference = $2
ORDER BY created_at, seq LIMIT 1`+lock, c.Provider, c.ProviderReference)
	default:
		return state.Payment{}, false, nil
	}
	p, err := scanPayment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return state.Payment{}, false, nil
	}
	if err != nil {
		return state.Payment{}, false, fmt.Errorf("find payment: %w", err)
	}
	return p, true, nil
}

func emitEvent(ctx context.Context, tx pgx.Tx, c state.StatusChange, p state.Payment) (string, error) {
	id := newID("evt_")
	var payload []byte
	if c.EventPayload != nil {
		var err error
		if payload, err = c.EventPayload(p, id, c.Now); err != nil {
			return "", fmt.Errorf("build event %s: %w", id, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events (id, type, payment_id, provider, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, c.EventType, p.ID, p.Provider, nilIfNil(payload), c.Now); err != nil {
		return "", fmt.Errorf("insert event %s: %w", id, err)
	}
	for _, route := range c.Routes {
		if _, err := tx.Exec(ctx, `INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at,
	lease_owner, lease_until, last_status_code, last_error, created_at, updated_at)
VALUES ($1, $2, $3, 'pending', 0, $4, '', $5, 0, '', $4, $4)`,
			newID("dlv_"), id, route, c.Now, time.Time{}); err != nil {
			return "", fmt.Errorf("insert delivery of event %s to route %s: %w", id, route, err)
		}
	}
	return id, nil
}

// ---------------------------------------------------------------------------
// Idempotency keys

const idemCols = `key, request_hash, done, status_code, body, payment_id, created_at`

func scanIdem(row pgx.Row) (state.IdempotencyRecord, error) {
	var r state.IdempotencyRecord
	if err := row.Scan(&r.Key, &r.RequestHash, &r.Done, &r.StatusCode, &r.Body, &r.PaymentID, &r.CreatedAt); err != nil {
		return r, err
	}
	r.CreatedAt = tm(r.CreatedAt)
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES ($1, $2, false, 0, NULL, '', $3)
ON CONFLICT (key) DO NOTHING`, key, requestHash, now)
		if err != nil {
			return err
		}
		claimed = tag.RowsAffected() == 1
		rec, err = scanIdem(tx.QueryRow(ctx, `SELECT `+idemCols+` FROM idempotency WHERE key = $1`, key))
		return err
	})
	if err != nil {
		return state.IdempotencyRecord{}, false, fmt.Errorf("postgres: claim idempotency key: %w", err)
	}
	return rec, claimed, nil
}

// CompleteIdempotencyKey stores the answer to the first request
// (ErrNotFound when the key is not claimed).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE idempotency SET done = true, status_code = $1, body = $2, payment_id = $3 WHERE key = $4`,
		statusCode, nilIfNil(body), paymentID, key)
	if err == nil && tag.RowsAffected() == 0 {
		err = state.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a key (no error when it is unknown).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: release idempotency key: %w", err)
	}
	return nil
}
