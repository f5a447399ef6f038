package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

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

func insertPayment(ctx context.Context, q queryer, p state.Payment) error {
	_, err := q.ExecContext(ctx, `INSERT INTO payments (`+paymentCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Provider, p.Reference, p.Status, p.Amount, p.Currency, p.Phone, p.Description, p.MNO, p.IPN,
		p.ProviderReference, p.RedirectURL, p.ConfirmationCode, p.Message, rules.Blob(p.Raw),
		ts(p.CreatedAt), ts(p.UpdatedAt), ts(p.NextSyncAt), p.SyncAttempts)
	if isUnique(err) {
		return rules.PaymentExists(p)
	}
	return err
}

// CreatePayment inserts p; ErrConflict when its ID or (provider,
// reference) is taken. A zero CreatedAt is now, a zero UpdatedAt is
// CreatedAt, an empty Status is pending.
func (s *Store) CreatePayment(ctx context.Context, p state.Payment) error {
	p, err := rules.NewPayment(p, s.now)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return insertPayment(keyed(ctx), tx, p) }); err != nil {
		return fmt.Errorf("sqlite: create payment %s/%s: %w", p.Provider, p.Reference, err)
	}
	return nil
}

// onePayment returns the payment query selects, and whether there is one.
func onePayment(ctx context.Context, q queryer, query string, args ...any) (state.Payment, bool, error) {
	p, err := scanPayment(q.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE `+query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return state.Payment{}, false, nil
	}
	return p, err == nil, err
}

// Payment returns a payment by ID or ErrNotFound.
func (s *Store) Payment(ctx context.Context, id string) (state.Payment, error) {
	return s.payment(ctx, id, `id = ?`, id)
}

// PaymentByReference returns a payment by provider and merchant reference
// or ErrNotFound.
func (s *Store) PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error) {
	return s.payment(ctx, provider+"/"+reference, `provider = ? AND reference = ?`, provider, reference)
}

// payment returns the one payment where selects, or ErrNotFound; name
// says which in errors.
func (s *Store) payment(ctx context.Context, name, where string, args ...any) (state.Payment, error) {
	p, found, err := onePayment(ctx, s.r, where, args...)
	if err == nil && !found {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("sqlite: payment %s: %w", name, err)
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
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.After != "" {
		if err := s.mustExist(ctx, "payments", f.After); err != nil {
			return nil, fmt.Errorf("sqlite: list payments after %s: %w", f.After, err)
		}
		where = append(where, "(created_at, rowid) < (SELECT created_at, rowid FROM payments WHERE id = ?)")
		args = append(args, f.After)
	}
	q := `SELECT ` + paymentCols + ` FROM payments`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, rowid DESC LIMIT ?`
	args = append(args, rules.Limit(f.Limit))
	out, err := queryAll(ctx, s.r, scanPayment, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list payments: %w", err)
	}
	return out, nil
}

// RecordInitiation stores the provider's answer to an initiation through
// rules.RecordInitiation (state.Transition with SourceInitiation): an
// answer arriving after a notification or a sync settled the payment keeps
// the settled status.
func (s *Store) RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	now = rules.NowIfZero(now, s.now)
	var p state.Payment
	err := rules.CheckInitiation(id, in)
	if err == nil {
		err = s.write(ctx, func(tx *sql.Tx) error {
			ctx := keyed(ctx)
			var err error
			p, err = rules.RecordInitiation(ctx, newStatusTx(tx), id, in, now)
			if err != nil || in.IdempotencyKey == "" || in.Answer == nil {
				return err
			}
			code, body := in.Answer(p)
			_, err = tx.ExecContext(ctx, `UPDATE idempotency SET done = 1, status_code = ?, body = ?, payment_id = ? WHERE key = ?`,
				code, rules.Blob(body), id, in.IdempotencyKey)
			if err != nil {
				return fmt.Errorf("complete idempotency key: %w", err)
			}
			return nil
		})
	}
	if err != nil {
		return state.Payment{}, fmt.Errorf("sqlite: record initiation of payment %s: %w", id, err)
	}
	return p, nil
}

// duePayments selects the open payments due at a time (?), earliest
// first, up to a limit (?), through the partial index of open payments.
const duePayments = ` INDEXED BY payments_due
WHERE status IN ('pending', 'unknown') AND next_sync_at <= ? ORDER BY next_sync_at, rowid LIMIT ?`

// DuePayments returns pending and unknown payments whose NextSyncAt <= now,
// earliest first (default limit 100).
func (s *Store) DuePayments(ctx context.Context, now time.Time, limit int) ([]state.Payment, error) {
	out, err := queryAll(ctx, s.r, scanPayment, `SELECT `+paymentCols+` FROM payments`+duePayments, ts(now), rules.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due payments: %w", err)
	}
	return out, nil
}

// ScheduleSync sets when to ask the provider about a payment next.
func (s *Store) ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `UPDATE payments SET next_sync_at = ?, sync_attempts = ? WHERE id = ?`, ts(next), attempts, id)
	})
	if err != nil {
		return fmt.Errorf("sqlite: schedule sync of payment %s: %w", id, err)
	}
	return nil
}

// ApplyStatus carries out c in one transaction; see state.StatusChange.
// The rules (which fields change, sync bookkeeping, duplicates, events)
// are rules.ApplyStatus's; the single writer connection serialises
// changes, so the payment a change looked for cannot appear meanwhile.
func (s *Store) ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	var res state.StatusResult
	c, err := rules.CheckStatusChange(c, s.now)
	if err == nil {
		err = s.write(ctx, func(tx *sql.Tx) error {
			var err error
			res, err = rules.ApplyStatus(keyed(ctx), newStatusTx(tx), c)
			return err
		})
	}
	if err != nil {
		return state.StatusResult{}, fmt.Errorf("sqlite: apply status for %s: %w", rules.StatusSubject(c), err)
	}
	return res, nil
}

// statusTx is the SQL of rules.ApplyStatus. Row locks (lock) do not exist
// here: the write transaction holds the whole file.
type statusTx struct {
	tx *sql.Tx
	// read is the payment row this transaction read last, so that
	// UpdatePayment sets only the columns that change: SQLite rewrites
	// every index holding a column an UPDATE sets, changed or not (for a
	// webhook, the provider reference's index was one more page to log).
	read *state.Payment
}

func newStatusTx(tx *sql.Tx) statusTx { return statusTx{tx: tx, read: new(state.Payment)} }

// remember keeps p as the row read last.
func (t statusTx) remember(p state.Payment, found bool, err error) (state.Payment, bool, error) {
	if t.read != nil {
		*t.read = state.Payment{}
		if found && err == nil {
			*t.read = p
		}
	}
	return p, found, err
}

func (t statusTx) InsertNotification(ctx context.Context, n state.Notification) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO notifications (id, provider, dedup_key, route, body, received_at, payment_id)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, dedup_key) DO NOTHING`,
		n.ID, n.Provider, rules.NullIfEmpty(n.DedupKey), n.Route, rules.Blob(n.Body), ts(n.ReceivedAt), rules.NullIfEmpty(n.PaymentID))
	if isUnique(err) {
		return false, state.ErrConflict
	}
	if err != nil {
		return false, err
	}
	k, err := res.RowsAffected()
	return k == 0, err
}

func (t statusTx) PaymentByReference(ctx context.Context, provider, reference string, _ bool) (state.Payment, bool, error) {
	return t.remember(onePayment(ctx, t.tx, `provider = ? AND reference = ?`, provider, reference))
}

func (t statusTx) PaymentByProviderReference(ctx context.Context, provider, providerReference string, _ bool) (state.Payment, bool, error) {
	return t.remember(onePayment(ctx, t.tx, `provider = ? AND provider_reference = ?
ORDER BY created_at, rowid LIMIT 1`, provider, providerReference))
}

func (t statusTx) PaymentByID(ctx context.Context, id string) (state.Payment, bool, error) {
	return t.remember(onePayment(ctx, t.tx, `id = ?`, id))
}

func (t statusTx) InsertFirstEvent(ctx context.Context, e state.Event) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO events (id, type, payment_id, provider, payload, created_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM events WHERE payment_id = ?3 AND type = ?2)`,
		e.ID, e.Type, e.PaymentID, e.Provider, rules.Blob(e.Payload), ts(e.CreatedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t statusTx) InsertPayment(ctx context.Context, p state.Payment) (bool, error) {
	return true, insertPayment(ctx, t.tx, p)
}

func (t statusTx) UpdatePayment(ctx context.Context, p state.Payment) error {
	var was *state.Payment
	if t.read != nil && t.read.ID == p.ID && p.ID != "" {
		was = t.read
	}
	var (
		set  []string
		args []any
	)
	for _, c := range []struct {
		col       string
		v         any
		unchanged bool
	}{
		{"status", p.Status, was != nil && was.Status == p.Status},
		{"provider_reference", p.ProviderReference, was != nil && was.ProviderReference == p.ProviderReference},
		{"amount", p.Amount, was != nil && was.Amount == p.Amount},
		{"currency", p.Currency, was != nil && was.Currency == p.Currency},
		{"phone", p.Phone, was != nil && was.Phone == p.Phone},
		{"confirmation_code", p.ConfirmationCode, was != nil && was.ConfirmationCode == p.ConfirmationCode},
		{"message", p.Message, was != nil && was.Message == p.Message},
		{"raw", rules.Blob(p.Raw), was != nil && bytes.Equal(was.Raw, p.Raw) && (was.Raw == nil) == (p.Raw == nil)},
		{"updated_at", ts(p.UpdatedAt), was != nil && ts(was.UpdatedAt) == ts(p.UpdatedAt)},
		{"next_sync_at", ts(p.NextSyncAt), was != nil && ts(was.NextSyncAt) == ts(p.NextSyncAt)},
		{"redirect_url", p.RedirectURL, was != nil && was.RedirectURL == p.RedirectURL},
	} {
		if !c.unchanged {
			set = append(set, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(set) == 0 {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE payments SET `+strings.Join(set, ", ")+` WHERE id = ?`, append(args, p.ID)...)
	if err == nil && was != nil {
		*was = p
	}
	return err
}

func (t statusTx) InsertEvent(ctx context.Context, e state.Event) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO events (id, type, payment_id, provider, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.PaymentID, e.Provider, rules.Blob(e.Payload), ts(e.CreatedAt))
	return err
}

func (t statusTx) InsertDelivery(ctx context.Context, d state.Delivery) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at,
	lease_owner, lease_until, last_status_code, last_error, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.EventID, d.Route, d.Status, d.Attempts, ts(d.NextAttemptAt), d.Lease.Owner, ts(d.Lease.Until),
		d.LastStatusCode, d.LastError, ts(d.CreatedAt), ts(d.UpdatedAt))
	return err
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
	now = rules.NowIfZero(now, s.now)
	var (
		rec     state.IdempotencyRecord
		claimed bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		rec, claimed, err = claimKey(ctx, tx, key, requestHash, now)
		return err
	})
	if err != nil {
		return state.IdempotencyRecord{}, false, fmt.Errorf("sqlite: claim idempotency key: %w", err)
	}
	return rec, claimed, nil
}

// claimKey inserts key as in flight unless it exists, and returns its
// record and whether this call inserted it.
func claimKey(ctx context.Context, tx *sql.Tx, key, requestHash string, now time.Time) (state.IdempotencyRecord, bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES (?, ?, 0, 0, NULL, '', ?)
ON CONFLICT (key) DO NOTHING`, key, requestHash, ts(now))
	if err != nil {
		return state.IdempotencyRecord{}, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return state.IdempotencyRecord{}, false, err
	}
	rec, err := scanIdem(tx.QueryRowContext(ctx, `SELECT `+idemCols+` FROM idempotency WHERE key = ?`, key))
	return rec, n == 1, err
}

// ClaimKeyAndCreatePayment claims key and, when claimed, inserts p in the
// same transaction (one commit); see state.PaymentStore.
func (s *Store) ClaimKeyAndCreatePayment(ctx context.Context, key, requestHash string, now time.Time, p state.Payment) (state.IdempotencyRecord, bool, error) {
	now = rules.NowIfZero(now, s.now)
	p, err := rules.NewPayment(p, s.now)
	if err != nil {
		return state.IdempotencyRecord{}, false, fmt.Errorf("sqlite: %w", err)
	}
	var (
		rec      state.IdempotencyRecord
		claimed  bool
		conflict error
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		ctx := keyed(ctx)
		var err error
		conflict = nil
		if rec, claimed, err = claimKey(ctx, tx, key, requestHash, now); err != nil || !claimed {
			return err
		}
		// A failed statement undoes only itself: the claim stays.
		if err := insertPayment(ctx, tx, p); err != nil {
			if errors.Is(err, state.ErrConflict) {
				conflict = err
				return nil
			}
			return err
		}
		return nil
	})
	if err == nil {
		err = conflict
	}
	if err != nil {
		if errors.Is(err, state.ErrConflict) {
			return rec, true, fmt.Errorf("sqlite: create payment %s/%s: %w", p.Provider, p.Reference, err)
		}
		return state.IdempotencyRecord{}, false, fmt.Errorf("sqlite: claim idempotency key and create payment %s/%s: %w", p.Provider, p.Reference, err)
	}
	return rec, claimed, nil
}

// CompleteIdempotencyKey stores the answer to the first request
// (ErrNotFound when the key is not claimed).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return execOne(keyed(ctx), tx, `UPDATE idempotency SET done = 1, status_code = ?, body = ?, payment_id = ? WHERE key = ?`,
			statusCode, rules.Blob(body), paymentID, key)
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
