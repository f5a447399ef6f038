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

// payoutsSchema is the migration adding payouts and the audit trail. The
// audit table refuses UPDATE and DELETE: it is append-only.
const payoutsSchema = `
CREATE TABLE payouts (
	id                 TEXT PRIMARY KEY,
	seq                BIGINT GENERATED ALWAYS AS IDENTITY,
	provider           TEXT        NOT NULL,
	reference          TEXT        NOT NULL,
	status             TEXT        NOT NULL,
	amount             TEXT        NOT NULL,
	currency           TEXT        NOT NULL,
	fee                TEXT        NOT NULL,
	destination_type   TEXT        NOT NULL,
	phone              TEXT        NOT NULL,
	account_number     TEXT        NOT NULL,
	account_name       TEXT        NOT NULL,
	bank               TEXT        NOT NULL,
	receiver_name      TEXT        NOT NULL,
	channel            TEXT        NOT NULL,
	description        TEXT        NOT NULL,
	payment_id         TEXT        NOT NULL,
	token              TEXT        NOT NULL,
	provider_reference TEXT        NOT NULL,
	message            TEXT        NOT NULL,
	raw                BYTEA,
	created_at         TIMESTAMPTZ NOT NULL,
	updated_at         TIMESTAMPTZ NOT NULL,
	next_sync_at       TIMESTAMPTZ NOT NULL,
	sync_attempts      INTEGER     NOT NULL,
	UNIQUE (provider, reference)
);
CREATE INDEX payouts_due ON payouts (status, next_sync_at);
CREATE INDEX payouts_window ON payouts (currency, created_at);
CREATE INDEX payouts_created ON payouts (created_at, seq);
CREATE INDEX payouts_payment ON payouts (payment_id);

CREATE TABLE audit (
	id      TEXT PRIMARY KEY,
	seq     BIGINT GENERATED ALWAYS AS IDENTITY,
	at      TIMESTAMPTZ NOT NULL,
	token   TEXT        NOT NULL,
	action  TEXT        NOT NULL,
	subject TEXT        NOT NULL,
	request BYTEA,
	result  TEXT        NOT NULL,
	status  INTEGER     NOT NULL,
	detail  TEXT        NOT NULL
);
CREATE INDEX audit_at ON audit (at, seq);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
`

const payoutCols = `id, provider, reference, status, amount, currency, fee, destination_type, phone, account_number,
	account_name, bank, receiver_name, channel, description, payment_id, token, provider_reference, message, raw,
	created_at, updated_at, next_sync_at, sync_attempts`

func scanPayout(row pgx.Row) (state.Payout, error) {
	var (
		p   state.Payout
		raw []byte
	)
	err := row.Scan(&p.ID, &p.Provider, &p.Reference, &p.Status, &p.Amount, &p.Currency, &p.Fee, &p.DestinationType,
		&p.Phone, &p.AccountNumber, &p.AccountName, &p.Bank, &p.ReceiverName, &p.Channel, &p.Description,
		&p.PaymentID, &p.Token, &p.ProviderReference, &p.Message, &raw, &p.CreatedAt, &p.UpdatedAt, &p.NextSyncAt, &p.SyncAttempts)
	if err != nil {
		return p, err
	}
	p.Raw = raw
	p.CreatedAt, p.UpdatedAt, p.NextSyncAt = tm(p.CreatedAt), tm(p.UpdatedAt), tm(p.NextSyncAt)
	return p, nil
}

func payoutAmounts(ctx context.Context, q querier, currency string, since time.Time) ([]string, error) {
	return queryAll(ctx, q, func(r pgx.Row) (string, error) {
		var a string
		err := r.Scan(&a)
		return a, err
	}, `SELECT amount FROM payouts WHERE currency = $1 AND created_at > $2 AND status <> 'failed'`, currency, since)
}

// CreatePayout inserts p after checking lim. The check and the insert
// hold a transaction-scoped advisory lock per schema and currency, so
// concurrent payouts, also from other processes, are counted one after
// the other and never overshoot the limit together.
func (s *Store) CreatePayout(ctx context.Context, p state.Payout, lim state.PayoutLimit) error {
	p, err := rules.NewPayout(p, s.now)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		if lim.MaxPerWindow != "" || (lim.RefundOf != "" && p.PaymentID != "") {
			// One lock per currency serialises both checks: a payment's
			// refunds are all in its currency.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.payouts.' || $1, 0))`, p.Currency); err != nil {
				return fmt.Errorf("lock the %s payout limit: %w", p.Currency, err)
			}
		}
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
			used, err := queryAll(ctx, tx, func(r pgx.Row) (string, error) {
				var a string
				err := r.Scan(&a)
				return a, err
			}, `SELECT amount FROM payouts WHERE payment_id = $1 AND status <> 'failed'`, p.PaymentID)
			if err != nil {
				return fmt.Errorf("read the refunds of payment %s: %w", p.PaymentID, err)
			}
			if err := rules.CheckRefund(lim, p, used); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO payouts (`+payoutCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`,
			p.ID, p.Provider, p.Reference, p.Status, p.Amount, p.Currency, p.Fee, p.DestinationType, p.Phone, p.AccountNumber,
			p.AccountName, p.Bank, p.ReceiverName, p.Channel, p.Description, p.PaymentID, p.Token, p.ProviderReference,
			p.Message, rules.Blob(p.Raw), p.CreatedAt, p.UpdatedAt, p.NextSyncAt, p.SyncAttempts)
		if isUnique(err) {
			return rules.PayoutExists(p)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create payout %s/%s: %w", p.Provider, p.Reference, err)
	}
	return nil
}

// PayoutTotal sums the amounts CreatePayout counts against a limit.
func (s *Store) PayoutTotal(ctx context.Context, currency string, since time.Time) (string, error) {
	amounts, err := payoutAmounts(ctx, s.pool, currency, since)
	if err == nil {
		sum, dec, serr := rules.SumAmounts(amounts)
		if serr == nil {
			return rules.FormatAmount(sum, dec), nil
		}
		err = serr
	}
	return "", fmt.Errorf("postgres: total of %s payouts: %w", currency, err)
}

func onePayout(ctx context.Context, q querier, where string, args ...any) (state.Payout, bool, error) {
	p, err := scanPayout(q.QueryRow(ctx, `SELECT `+payoutCols+` FROM payouts WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return state.Payout{}, false, nil
	}
	return p, err == nil, err
}

func (s *Store) payout(ctx context.Context, name, where string, args ...any) (state.Payout, error) {
	p, found, err := onePayout(ctx, s.pool, where, args...)
	if err == nil && !found {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Payout{}, fmt.Errorf("postgres: payout %s: %w", name, err)
	}
	return p, nil
}

// Payout returns a payout by ID or ErrNotFound.
func (s *Store) Payout(ctx context.Context, id string) (state.Payout, error) {
	return s.payout(ctx, id, `id = $1`, id)
}

// PayoutByReference returns a payout by provider and reference or ErrNotFound.
func (s *Store) PayoutByReference(ctx context.Context, provider, reference string) (state.Payout, error) {
	return s.payout(ctx, provider+"/"+reference, `provider = $1 AND reference = $2`, provider, reference)
}

// ListPayouts returns payouts newest first (default limit 100).
func (s *Store) ListPayouts(ctx context.Context, f state.PayoutFilter) ([]state.Payout, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"provider", f.Provider}, {"reference", f.Reference}, {"status", f.Status}, {"payment_id", f.PaymentID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := `SELECT ` + payoutCols + ` FROM payouts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, rules.Limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY created_at DESC, seq DESC LIMIT $%d`, len(args))
	out, err := queryAll(ctx, s.pool, scanPayout, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list payouts: %w", err)
	}
	return out, nil
}

// ApplyPayoutStatus carries out c in one transaction (the payout's row
// locked); see state.PayoutChange.
func (s *Store) ApplyPayoutStatus(ctx context.Context, c state.PayoutChange) (state.PayoutResult, error) {
	var res state.PayoutResult
	c, err := rules.CheckPayoutChange(c, s.now)
	if err == nil {
		err = s.write(ctx, func(tx pgx.Tx) error {
			var err error
			res, err = rules.ApplyPayoutStatus(ctx, payoutTx{statusTx{tx}}, c)
			return err
		})
	}
	if err != nil {
		return state.PayoutResult{}, fmt.Errorf("postgres: apply status to %s: %w", rules.PayoutSubject(c), err)
	}
	return res, nil
}

type payoutTx struct{ statusTx }

func (t payoutTx) PayoutByID(ctx context.Context, id string, lock bool) (state.Payout, bool, error) {
	return onePayout(ctx, t.tx, `id = $1`+forUpdate(lock), id)
}

func (t payoutTx) PayoutByReference(ctx context.Context, provider, reference string, lock bool) (state.Payout, bool, error) {
	return onePayout(ctx, t.tx, `provider = $1 AND reference = $2`+forUpdate(lock), provider, reference)
}

func (t payoutTx) UpdatePayout(ctx context.Context, p state.Payout) error {
	_, err := t.tx.Exec(ctx, `UPDATE payouts SET status = $1, provider_reference = $2, fee = $3, receiver_name = $4,
	channel = $5, message = $6, raw = $7, updated_at = $8, next_sync_at = $9 WHERE id = $10`,
		p.Status, p.ProviderReference, p.Fee, p.ReceiverName, p.Channel, p.Message, rules.Blob(p.Raw),
		p.UpdatedAt, p.NextSyncAt, p.ID)
	return err
}

// DuePayouts returns pending and unknown payouts whose NextSyncAt <= now,
// earliest first (default limit 100).
func (s *Store) DuePayouts(ctx context.Context, now time.Time, limit int) ([]state.Payout, error) {
	out, err := queryAll(ctx, s.pool, scanPayout, `SELECT `+payoutCols+` FROM payouts
WHERE status IN ('pending', 'unknown') AND next_sync_at <= $1 ORDER BY next_sync_at, seq LIMIT $2`, now, rules.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: list due payouts: %w", err)
	}
	return out, nil
}

// SchedulePayoutSync sets when to ask the provider about a payout next.
func (s *Store) SchedulePayoutSync(ctx context.Context, id string, next time.Time, attempts int) error {
	start := time.Now()
	err := execOne(ctx, s.pool, `UPDATE payouts SET next_sync_at = $1, sync_attempts = $2 WHERE id = $3`, next, attempts, id)
	s.autocommitted(start, err)
	if err != nil {
		return fmt.Errorf("postgres: schedule sync of payout %s: %w", id, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Audit trail

const auditCols = `id, at, token, action, subject, request, result, status, detail`

func scanAudit(row pgx.Row) (state.AuditEntry, error) {
	var e state.AuditEntry
	var req []byte
	if err := row.Scan(&e.ID, &e.At, &e.Token, &e.Action, &e.Subject, &req, &e.Result, &e.Status, &e.Detail); err != nil {
		return e, err
	}
	e.At, e.Request = tm(e.At), req
	return e, nil
}

// AppendAudit stores an audit entry.
func (s *Store) AppendAudit(ctx context.Context, e state.AuditEntry) error {
	e, err := rules.NewAudit(e, s.now)
	if err == nil {
		start := time.Now()
		_, err = s.pool.Exec(ctx, `INSERT INTO audit (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.ID, e.At, e.Token, e.Action, e.Subject, rules.Blob(e.Request), e.Result, e.Status, e.Detail)
		s.autocommitted(start, err)
	}
	if err != nil {
		return fmt.Errorf("postgres: append audit entry: %w", err)
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
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := `SELECT ` + auditCols + ` FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, rules.Limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY at DESC, seq DESC LIMIT $%d`, len(args))
	out, err := queryAll(ctx, s.pool, scanAudit, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit entries: %w", err)
	}
	return out, nil
}
