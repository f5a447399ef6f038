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
		p.ProviderReference, p.RedirectURL, p.ConfirmationCode, p.Message, rules.Blob(p.Raw),
		p.CreatedAt, p.UpdatedAt, p.NextSyncAt, p.SyncAttempts)
	if isUnique(err) {
		return false, rules.PaymentExists(p)
	}
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// CreatePayment inserts p; ErrConflict when its ID or (provider,
// reference) is taken. A zero CreatedAt is now, a zero UpdatedAt is
// CreatedAt, an empty Status is pending.
func (s *Store) CreatePayment(ctx context.Context, p state.Payment) error {
	p, err := rules.NewPayment(p, s.now)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	start := time.Now()
	_, err = insertPayment(ctx, s.pool, p, false)
	s.autocommitted(start, err)
	if err != nil {
		return fmt.Errorf("postgres: create payment %s/%s: %w", p.Provider, p.Reference, err)
	}
	return nil
}

// onePayment returns the payment the query (from WHERE on) selects, and
// whether there is one.
func onePayment(ctx context.Context, q querier, where string, args ...any) (state.Payment, bool, error) {
	p, err := scanPayment(q.QueryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return state.Payment{}, false, nil
	}
	return p, err == nil, err
}

// Payment returns a payment by ID or ErrNotFound.
func (s *Store) Payment(ctx context.Context, id string) (state.Payment, error) {
	return s.payment(ctx, id, `id = $1`, id)
}

// PaymentByReference returns a payment by provider and merchant reference
// or ErrNotFound.
func (s *Store) PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error) {
	return s.payment(ctx, provider+"/"+reference, `provider = $1 AND reference = $2`, provider, reference)
}

// payment returns the one payment where selects, or ErrNotFound; name
// says which in errors.
func (s *Store) payment(ctx context.Context, name, where string, args ...any) (state.Payment, error) {
	p, found, err := onePayment(ctx, s.pool, where, args...)
	if err == nil && !found {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("postgres: payment %s: %w", name, err)
	}
	return p, nil
}

// ListPayments returns payments newest first (default limit 100).
func (s *Store) ListPayments(ctx context.Context, f state.PaymentFilter) ([]state.Payment, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"provider", f.Provider}, {"reference", f.Reference}, {"status", string(f.Status)}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "payments", f.After); err != nil {
			return nil, fmt.Errorf("postgres: list payments after %s: %w", f.After, err)
		}
		args = append(args, f.After)
		where = append(where, fmt.Sprintf("(created_at, seq) < (SELECT created_at, seq FROM payments WHERE id = $%d)", len(args)))
	}
	q := `SELECT ` + paymentCols + ` FROM payments`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, rules.Limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY created_at DESC, seq DESC LIMIT $%d`, len(args))
	out, err := queryAll(ctx, s.pool, scanPayment, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list payments: %w", err)
	}
	return out, nil
}

// RecordInitiation stores the provider's answer to an initiation through
// rules.RecordInitiation (state.Transition with SourceInitiation), the
// payment row locked FOR UPDATE: an answer arriving after a notification
// or a sync settled the payment keeps the settled status.
func (s *Store) RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	now = rules.NowIfZero(now, s.now)
	var p state.Payment
	err := rules.CheckInitiation(id, in)
	if err == nil {
		err = s.write(ctx, func(tx pgx.Tx) error {
			var err error
			p, err = rules.RecordInitiation(ctx, statusTx{tx}, id, in, now)
			if err != nil || in.IdempotencyKey == "" || in.Answer == nil {
				return err
			}
			code, body := in.Answer(p)
			_, err = tx.Exec(ctx, `UPDATE idempotency SET done = true, status_code = $1, body = $2, payment_id = $3 WHERE key = $4`,
				code, rules.Blob(body), id, in.IdempotencyKey)
			if err != nil {
				return fmt.Errorf("complete idempotency key: %w", err)
			}
			return nil
		})
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("postgres: record initiation of payment %s: %w", id, err)
	}
	return p, nil
}

// DuePayments returns pending and unknown payments whose NextSyncAt <= now,
// earliest first (default limit 100).
func (s *Store) DuePayments(ctx context.Context, now time.Time, limit int) ([]state.Payment, error) {
	out, err := queryAll(ctx, s.pool, scanPayment, `SELECT `+paymentCols+` FROM payments
WHERE status IN ('pending', 'unknown') AND next_sync_at <= $1 ORDER BY next_sync_at, seq LIMIT $2`, now, rules.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: list due payments: %w", err)
	}
	return out, nil
}

// ScheduleSync sets when to ask the provider about a payment next.
func (s *Store) ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error {
	start := time.Now()
	err := execOne(ctx, s.pool, `UPDATE payments SET next_sync_at = $1, sync_attempts = $2 WHERE id = $3`, next, attempts, id)
	s.autocommitted(start, err)
	if err != nil {
		return fmt.Errorf("postgres: schedule sync of payment %s: %w", id, err)
	}
	return nil
}

// ApplyStatus carries out c in one transaction; see state.StatusChange.
// The rules are rules.ApplyStatus's; here the payment row is locked FOR
// UPDATE so concurrent changes to one payment apply one after the other,
// and a payment created concurrently by another transaction is found
// rather than duplicated (its insert does nothing ON CONFLICT).
func (s *Store) ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	var res state.StatusResult
	c, err := rules.CheckStatusChange(c, s.now)
	if err == nil {
		err = s.write(ctx, func(tx pgx.Tx) error {
			var err error
			res, err = rules.ApplyStatus(ctx, statusTx{tx}, c)
			return err
		})
	}
	if err != nil {
		return state.StatusResult{}, fmt.Errorf("postgres: apply status for %s: %w", rules.StatusSubject(c), err)
	}
	return res, nil
}

// statusTx is the SQL of rules.ApplyStatus.
type statusTx struct{ tx pgx.Tx }

func (t statusTx) InsertNotification(ctx context.Context, n state.Notification) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO notifications (id, provider, dedup_key, route, body, received_at, payment_id)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider, dedup_key) DO NOTHING`,
		n.ID, n.Provider, rules.NullIfEmpty(n.DedupKey), n.Route, rules.Blob(n.Body), n.ReceivedAt, rules.NullIfEmpty(n.PaymentID))
	if isUnique(err) {
		return false, state.ErrConflict
	}
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 0, nil
}

func forUpdate(lock bool) string {
	if lock {
		return ` FOR UPDATE`
	}
	return ""
}

func (t statusTx) PaymentByReference(ctx context.Context, provider, reference string, lock bool) (state.Payment, bool, error) {
	return onePayment(ctx, t.tx, `provider = $1 AND reference = $2`+forUpdate(lock), provider, reference)
}

func (t statusTx) PaymentByProviderReference(ctx context.Context, provider, providerReference string, lock bool) (state.Payment, bool, error) {
	return onePayment(ctx, t.tx, `provider = $1 AND provider_reference = $2
ORDER BY created_at, seq LIMIT 1`+forUpdate(lock), provider, providerReference)
}

func (t statusTx) PaymentByID(ctx context.Context, id string) (state.Payment, bool, error) {
	return onePayment(ctx, t.tx, `id = $1 FOR UPDATE`, id)
}

func (t statusTx) InsertFirstEvent(ctx context.Context, e state.Event) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO events (id, type, payment_id, provider, payload, created_at)
SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM events WHERE payment_id = $3::text AND type = $2::text)`,
		e.ID, e.Type, e.PaymentID, e.Provider, rules.Blob(e.Payload), e.CreatedAt)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (t statusTx) InsertPayment(ctx context.Context, p state.Payment) (bool, error) {
	return insertPayment(ctx, t.tx, p, true)
}

func (t statusTx) UpdatePayment(ctx context.Context, p state.Payment) error {
	_, err := t.tx.Exec(ctx, `UPDATE payments SET status = $1, provider_reference = $2, amount = $3, currency = $4, phone = $5,
	confirmation_code = $6, message = $7, raw = $8, updated_at = $9, next_sync_at = $10, redirect_url = $11 WHERE id = $12`,
		p.Status, p.ProviderReference, p.Amount, p.Currency, p.Phone, p.ConfirmationCode,
		p.Message, rules.Blob(p.Raw), p.UpdatedAt, p.NextSyncAt, p.RedirectURL, p.ID)
	return err
}

func (t statusTx) InsertEvent(ctx context.Context, e state.Event) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO events (id, type, payment_id, provider, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.Type, e.PaymentID, e.Provider, rules.Blob(e.Payload), e.CreatedAt)
	return err
}

func (t statusTx) InsertDelivery(ctx context.Context, d state.Delivery) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at,
	lease_owner, lease_until, last_status_code, last_error, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		d.ID, d.EventID, d.Route, d.Status, d.Attempts, d.NextAttemptAt, d.Lease.Owner, d.Lease.Until, d.LastStatusCode, d.LastError, d.CreatedAt, d.UpdatedAt)
	return err
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
	now = rules.NowIfZero(now, s.now)
	var (
		rec     state.IdempotencyRecord
		claimed bool
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		rec, claimed, err = claimKey(ctx, tx, key, requestHash, now)
		return err
	})
	if err != nil {
		return state.IdempotencyRecord{}, false, fmt.Errorf("postgres: claim idempotency key: %w", err)
	}
	return rec, claimed, nil
}

// claimKey inserts key as in flight unless it exists, and returns its
// record and whether this call inserted it.
func claimKey(ctx context.Context, tx pgx.Tx, key, requestHash string, now time.Time) (state.IdempotencyRecord, bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES ($1, $2, false, 0, NULL, '', $3)
ON CONFLICT (key) DO NOTHING`, key, requestHash, now)
	if err != nil {
		return state.IdempotencyRecord{}, false, err
	}
	rec, err := scanIdem(tx.QueryRow(ctx, `SELECT `+idemCols+` FROM idempotency WHERE key = $1`, key))
	return rec, tag.RowsAffected() == 1, err
}

// ClaimKeyAndCreatePayment claims key and, when claimed, inserts p in the
// same transaction (one commit); see state.PaymentStore. A taken
// (provider, reference) inserts nothing (ON CONFLICT DO NOTHING keeps the
// transaction, and so the claim, alive).
func (s *Store) ClaimKeyAndCreatePayment(ctx context.Context, key, requestHash string, now time.Time, p state.Payment) (state.IdempotencyRecord, bool, error) {
	now = rules.NowIfZero(now, s.now)
	p, err := rules.NewPayment(p, s.now)
	if err != nil {
		return state.IdempotencyRecord{}, false, fmt.Errorf("postgres: %w", err)
	}
	var (
		rec      state.IdempotencyRecord
		claimed  bool
		conflict bool
	)
	err = s.write(ctx, func(tx pgx.Tx) error {
		var err error
		if rec, claimed, err = claimKey(ctx, tx, key, requestHash, now); err != nil || !claimed {
			return err
		}
		inserted, err := insertPayment(ctx, tx, p, true)
		conflict = err == nil && !inserted
		return err
	})
	switch {
	case err != nil:
		return state.IdempotencyRecord{}, false, fmt.Errorf("postgres: claim idempotency key and create payment %s/%s: %w", p.Provider, p.Reference, err)
	case conflict:
		return rec, true, fmt.Errorf("postgres: create payment %s/%s: %w", p.Provider, p.Reference, rules.PaymentExists(p))
	}
	return rec, claimed, nil
}

// CompleteIdempotencyKey stores the answer to the first request
// (ErrNotFound when the key is not claimed).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error {
	start := time.Now()
	err := execOne(ctx, s.pool, `UPDATE idempotency SET done = true, status_code = $1, body = $2, payment_id = $3 WHERE key = $4`,
		statusCode, rules.Blob(body), paymentID, key)
	s.autocommitted(start, err)
	if err != nil {
		return fmt.Errorf("postgres: complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a key (no error when it is unknown).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key string) error {
	start := time.Now()
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE key = $1`, key)
	s.autocommitted(start, err)
	if err != nil {
		return fmt.Errorf("postgres: release idempotency key: %w", err)
	}
	return nil
}
