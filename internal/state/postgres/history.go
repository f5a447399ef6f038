package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
)

// historyLimit bounds the rows PaymentHistory and PaymentNotifications read.
const historyLimit = 1000

const historySchema = `
ALTER TABLE notifications ADD COLUMN payment_id TEXT;
CREATE INDEX notifications_payment ON notifications (payment_id);
CREATE TABLE payment_history (
	seq             BIGSERIAL PRIMARY KEY,
	payment_id      TEXT        NOT NULL,
	status_from     TEXT        NOT NULL,
	status_to       TEXT        NOT NULL,
	source          TEXT        NOT NULL,
	notification_id TEXT        NOT NULL,
	at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id, seq);
`

func (t statusTx) LinkNotification(ctx context.Context, id, paymentID string) error {
	_, err := t.tx.Exec(ctx, `UPDATE notifications SET payment_id = $1 WHERE id = $2`, paymentID, id)
	return err
}

func (t statusTx) InsertStatusEntry(ctx context.Context, e state.StatusEntry) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO payment_history (payment_id, status_from, status_to, source, notification_id, at)
VALUES ($1, $2, $3, $4, $5, $6)`, e.PaymentID, string(e.From), string(e.To), string(e.Source), e.NotificationID, e.At)
	return err
}

// PaymentHistory lists a payment's status changes, oldest first.
func (s *Store) PaymentHistory(ctx context.Context, id string) ([]state.StatusEntry, error) {
	out, err := queryAll(ctx, s.pool, func(row pgx.Row) (state.StatusEntry, error) {
		var e state.StatusEntry
		err := row.Scan(&e.PaymentID, &e.From, &e.To, &e.Source, &e.NotificationID, &e.At)
		e.At = tm(e.At)
		return e, err
	}, `SELECT payment_id, status_from, status_to, source, notification_id, at FROM payment_history
WHERE payment_id = $1 ORDER BY seq LIMIT $2`, id, historyLimit)
	if err != nil {
		return nil, fmt.Errorf("postgres: read the status history of payment %s: %w", id, err)
	}
	return out, nil
}

// PaymentNotifications lists the notifications recorded for a payment,
// oldest first.
func (s *Store) PaymentNotifications(ctx context.Context, id string) ([]state.Notification, error) {
	out, err := queryAll(ctx, s.pool, func(row pgx.Row) (state.Notification, error) {
		var (
			n     state.Notification
			dedup *string
		)
		err := row.Scan(&n.ID, &n.Provider, &dedup, &n.Route, &n.Body, &n.ReceivedAt, &n.PaymentID)
		if dedup != nil {
			n.DedupKey = *dedup
		}
		n.ReceivedAt = tm(n.ReceivedAt)
		return n, err
	}, `SELECT id, provider, dedup_key, route, body, received_at, payment_id FROM notifications
WHERE payment_id = $1 ORDER BY received_at, id LIMIT $2`, id, historyLimit)
	if err != nil {
		return nil, fmt.Errorf("postgres: read the notifications of payment %s: %w", id, err)
	}
	return out, nil
}
