package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// payoutsSchema is the migration adding payouts and the audit trail. The
// audit table refuses UPDATE and DELETE: it is append-only.
const payoutsSchema = `
CREATE TABLE payouts (
	id                 TEXT PRIMARY KEY,
	provider           TEXT    NOT NULL,
	reference          TEXT    NOT NULL,
	status             TEXT    NOT NULL,
	amount             TEXT    NOT NULL,
	currency           TEXT    NOT NULL,
	fee                TEXT    NOT NULL,
	destination_type   TEXT    NOT NULL,
	phone              TEXT    NOT NULL,
	account_number     TEXT    NOT NULL,
	account_name       TEXT    NOT NULL,
	bank               TEXT    NOT NULL,
	receiver_name      TEXT    NOT NULL,
	channel            TEXT    NOT NULL,
	description        TEXT    NOT NULL,
	payment_id         TEXT    NOT NULL,
	token              TEXT    NOT NULL,
	provider_reference TEXT    NOT NULL,
	message            TEXT    NOT NULL,
	raw                BLOB,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	next_sync_at       INTEGER NOT NULL,
	sync_attempts      INTEGER NOT NULL,
	UNIQUE (provider, reference)
);
CREATE INDEX payouts_due ON payouts (status, next_sync_at);
CREATE INDEX payouts_window ON payouts (currency, created_at);
CREATE INDEX payouts_created ON payouts (created_at);
CREATE INDEX payouts_payment ON payouts (payment_id);

CREATE TABLE audit (
	id      TEXT PRIMARY KEY,
	at      INTEGER NOT NULL,
	token   TEXT    NOT NULL,
	action  TEXT    NOT NULL,
	subject TEXT    NOT NULL,
	request BLOB,
	result  TEXT    NOT NULL,
	status  INTEGER NOT NULL,
	detail  TEXT    NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
`

const payoutCols = `id, provider, reference, status, amount, currency, fee, destination_type, phone, account_number,
	account_name, bank, receiver_name, channel, description, payment_id, token, provider_reference, message, raw,
	created_at, updated_at, next_sync_at, sync_attempts`

func scanPayout(sc scanner) (state.Payout, error) {
	var (
		p                     state.Payout
		raw                   []byte
		created, upd, nextSyn int64
	)
	err := sc.Scan(&p.ID, &p.Provider, &p.Reference, &p.Status, &p.Amount, &p.Currency, &p.Fee, &p.DestinationType,
		&p.Phone, &p.AccountNumber, &p.AccountName, &p.Bank, &p.ReceiverName, &p.Channel, &p.Description,
		&p.PaymentID, &p.Token, &p.ProviderReference, &p.Message, &raw, &created, &upd, &nextSyn, &p.SyncAttempts)
	if err != nil {
		return p, err
	}
	p.Raw = raw
	p.CreatedAt, p.UpdatedAt, p.NextSyncAt = tm(created), tm(upd), tm(nextSyn)
	return p, nil
}

// payoutAmounts is what counts against a limit: the amounts of the
// currency's payouts, but failed ones, created after since.
func payoutAmounts(ctx context.Context, q queryer, currency string, since time.Time) ([]string, error) {
	return queryAll(ctx, q, func(sc scanner) (string, error) {
		var a string
		err := sc.Scan(&a)
		return a, err
	}, `SELECT amount FROM payouts WHERE currency = ? AND created_at > ? AND status <> 'failed'`, currency, ts(since))
}

// CreatePayout inserts p after checking lim, in one write transaction
// (the single writer connection serialises them, also across processes).
func (s *Store) CreatePayout(ctx context.Context, p state.Payout, lim state.PayoutLimit) error {
	p, err := rules.NewPayout(p, s.now)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if lim.MaxPerWindow != "" {
			used, err := payoutAmounts(ctx, tx, p.Currency, rules.PayoutWindowStart(lim, p.CreatedAt))
			if err != nil {
				return fmt.Errorf("read payouts within the limit window: %w", err)
			}
			if err := rules.CheckPayoutLimit(lim, p.Currency, p.Amount, used); err != nil {
				return err
			}
		}
		if lim.RefundOf != "" && p.PaymentID != "" {
			used, err := queryAll(ctx, tx, func(r scanner) (string, error) {
				var a string
				err := r.Scan(&a)
				return a, err
			}, `SELECT amount FROM payouts WHERE payment_id = ? AND status <> 'failed'`, p.PaymentID)
			if err != nil {
				return fmt.Errorf("read the refunds of payment %s: %w", p.PaymentID, err)
			}
			if err := rules.CheckRefund(lim, p, used); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO payouts (`+payoutCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Provider, p.Reference, p.Status, p.Amount, p.Currency, p.Fee, p.DestinationType, p.Phone, p.AccountNumber,
			p.AccountName, p.Bank, p.ReceiverName, p.Channel, p.Description, p.PaymentID, p.Token, p.ProviderReference,
			p.Message, rules.Blob(p.Raw), ts(p.CreatedAt), ts(p.UpdatedAt), ts(p.NextSyncAt), p.SyncAttempts)
		if isUnique(err) {
			return rules.PayoutExists(p)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create payout %s/%s: %w", p.Provider, p.Reference, err)
	}
	return nil
}

// PayoutTotal sums the amounts CreatePayout counts against a limit.
func (s *Store) PayoutTotal(ctx context.Context, currency string, since time.Time) (string, error) {
	amounts, err := payoutAmounts(ctx, s.r, currency, since)
	if err == nil {
		var sum string
		if sum, err = sumText(amounts); err == nil {
			return sum, nil
		}
	}
	return "", fmt.Errorf("sqlite: total of %s payouts: %w", currency, err)
}

func sumText(amounts []string) (string, error) {
	sum, dec, err := rules.SumAmounts(amounts)
	if err != nil {
		return "", err
	}
	return rules.FormatAmount(sum, dec), nil
}

func onePayout(ctx context.Context, q queryer, where string, args ...any) (state.Payout, bool, error) {
	p, err := scanPayout(q.QueryRowContext(ctx, `SELECT `+payoutCols+` FROM payouts WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return state.Payout{}, false, nil
	}
	return p, err == nil, err
}

func (s *Store) payout(ctx context.Context, name, where string, args ...any) (state.Payout, error) {
	p, found, err := onePayout(ctx, s.r, where, args...)
	if err == nil && !found {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payout{}, fmt.Errorf("sqlite: payout %s: %w", name, err)
	}
	return p, nil
}

// Payout returns a payout by ID or ErrNotFound.
func (s *Store) Payout(ctx context.Context, id string) (state.Payout, error) {
	return s.payout(ctx, id, `id = ?`, id)
}

// PayoutByReference returns a payout by provider and reference or ErrNotFound.
func (s *Store) PayoutByReference(ctx context.Context, provider, reference string) (state.Payout, error) {
	return s.payout(ctx, provider+"/"+reference, `provider = ? AND reference = ?`, provider, reference)
}

// ListPayouts returns payouts newest first (default limit 100).
func (s *Store) ListPayouts(ctx context.Context, f state.PayoutFilter) ([]state.Payout, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"provider", f.Provider}, {"reference", f.Reference}, {"status", f.Status}, {"payment_id", f.PaymentID}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + payoutCols + ` FROM payouts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, rowid DESC LIMIT ?`
	args = append(args, rules.Limit(f.Limit))
	out, err := queryAll(ctx, s.r, scanPayout, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list payouts: %w", err)
	}
	return out, nil
}

// ApplyPayoutStatus carries out c in one transaction; see state.PayoutChange.
func (s *Store) ApplyPayoutStatus(ctx context.Context, c state.PayoutChange) (state.PayoutResult, error) {
	var res state.PayoutResult
	c, err := rules.CheckPayoutChange(c, s.now)
	if err == nil {
		err = s.write(ctx, func(tx *sql.Tx) error {
			var err error
			res, err = rules.ApplyPayoutStatus(ctx, payoutTx{newStatusTx(tx)}, c)
			return err
		})
	}
	if err != nil {
		return state.PayoutResult{}, fmt.Errorf("sqlite: apply status to %s: %w", rules.PayoutSubject(c), err)
	}
	return res, nil
}

// payoutTx is the SQL of rules.ApplyPayoutStatus; notifications, events
// and deliveries are written as for payments.
type payoutTx struct{ statusTx }

func (t payoutTx) PayoutByID(ctx context.Context, id string, _ bool) (state.Payout, bool, error) {
	return onePayout(ctx, t.tx, `id = ?`, id)
}

func (t payoutTx) PayoutByReference(ctx context.Context, provider, reference string, _ bool) (state.Payout, bool, error) {
	return onePayout(ctx, t.tx, `provider = ? AND reference = ?`, provider, reference)
}

func (t payoutTx) UpdatePayout(ctx context.Context, p state.Payout) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE payouts SET status = ?, provider_reference = ?, fee = ?, receiver_name = ?,
	channel = ?, message = ?, raw = ?, updated_at = ?, next_sync_at = ? WHERE id = ?`,
		p.Status, p.ProviderReference, p.Fee, p.ReceiverName, p.Channel, p.Message, rules.Blob(p.Raw),
		ts(p.UpdatedAt), ts(p.NextSyncAt), p.ID)
	return err
}

// DuePayouts returns pending and unknown payouts whose NextSyncAt <= now,
// earliest first (default limit 100).
func (s *Store) DuePayouts(ctx context.Context, now time.Time, limit int) ([]state.Payout, error) {
	out, err := queryAll(ctx, s.r, scanPayout, `SELECT `+payoutCols+` FROM payouts
WHERE status IN ('pending', 'unknown') AND next_sync_at <= ? ORDER BY next_sync_at, rowid LIMIT ?`, ts(now), rules.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due payouts: %w", err)
	}
	return out, nil
}

// SchedulePayoutSync sets when to ask the provider about a payout next.
func (s *Store) SchedulePayoutSync(ctx context.Context, id string, next time.Time, attempts int) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `UPDATE payouts SET next_sync_at = ?, sync_attempts = ? WHERE id = ?`, ts(next), attempts, id)
	})
	if err != nil {
		return fmt.Errorf("sqlite: schedule sync of payout %s: %w", id, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Audit trail

const auditCols = `id, at, token, action, subject, request, result, status, detail`

func scanAudit(sc scanner) (state.AuditEntry, error) {
	var (
		e   state.AuditEntry
		at  int64
		req []byte
	)
	if err := sc.Scan(&e.ID, &at, &e.Token, &e.Action, &e.Subject, &req, &e.Result, &e.Status, &e.Detail); err != nil {
		return e, err
	}
	e.At, e.Request = tm(at), req
	return e, nil
}

// AppendAudit stores an audit entry.
func (s *Store) AppendAudit(ctx context.Context, e state.AuditEntry) error {
	e, err := rules.NewAudit(e, s.now)
	if err == nil {
		err = s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				e.ID, ts(e.At), e.Token, e.Action, e.Subject, rules.Blob(e.Request), e.Result, e.Status, e.Detail)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: append audit entry: %w", err)
	}
	return nil
}

// ListAudit lists audit entries newest first (default limit 100).
func (s *Store) ListAudit(ctx context.Context, f state.AuditFilter) ([]state.AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"token", f.Token}, {"action", f.Action}, {"subject", f.Subject}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + auditCols + ` FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY at DESC, rowid DESC LIMIT ?`
	args = append(args, rules.Limit(f.Limit))
	out, err := queryAll(ctx, s.r, scanAudit, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit entries: %w", err)
	}
	return out, nil
}
