package sqlite

import (
	"context"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/state"
)

// historyLimit bounds the rows PaymentHistory and PaymentNotifications read.
const historyLimit = 1000

const historySchema = `
ALTER TABLE notifications ADD COLUMN payment_id TEXT;
CREATE INDEX notifications_payment ON notifications (payment_id);
CREATE TABLE payment_history (
	payment_id      TEXT    NOT NULL,
	status_from     TEXT    NOT NULL,
	status_to       TEXT    NOT NULL,
	source          TEXT    NOT NULL,
	notification_id TEXT    NOT NULL,
	at              INTEGER NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id);
`

func (t statusTx) LinkNotification(ctx context.Context, id, paymentID string) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE notifications SET payment_id = ? WHERE id = ?`, paymentID, id)
	return err
}

func (t statusTx) InsertStatusEntry(ctx context.Context, e state.StatusEntry) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO payment_history (payment_id, status_from, status_to, source, notification_id, at)
VALUES (?, ?, ?, ?, ?, ?)`, e.PaymentID, e.From, e.To, e.Source, e.NotificationID, ts(e.At))
	return err
}

// PaymentHistory lists a payment's status changes, oldest first.
func (s *Store) PaymentHistory(ctx context.Context, id string) ([]state.StatusEntry, error) {
	out, err := queryAll(ctx, s.r, func(sc scanner) (state.StatusEntry, error) {
		var (
			e  state.StatusEntry
			at int64
		)
		err := sc.Scan(&e.PaymentID, &e.From, &e.To, &e.Source, &e.NotificationID, &at)
		e.At = tm(at)
		return e, err
	}, `SELECT payment_id, status_from, status_to, source, notification_id, at FROM payment_history
WHERE payment_id = ? ORDER BY rowid LIMIT ?`, id, historyLimit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read the status history of payment %s: %w", id, err)
	}
	return out, nil
}

// PaymentNotifications lists the notifications recorded for a payment,
// oldest first.
func (s *Store) PaymentNotifications(ctx context.Context, id string) ([]state.Notification, error) {
	out, err := queryAll(ctx, s.r, func(sc scanner) (state.Notification, error) {
		var (
			n        state.Notification
			dedup    *string
			received int64
		)
		err := sc.Scan(&n.ID, &n.Provider, &dedup, &n.Route, &n.Body, &received, &n.PaymentID)
		if dedup != nil {
			n.DedupKey = *dedup
		}
		n.ReceivedAt = tm(received)
		return n, err
	}, `SELECT id, provider, dedup_key, route, body, received_at, payment_id FROM notifications
WHERE payment_id = ? ORDER BY received_at, rowid LIMIT ?`, id, historyLimit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read the notifications of payment %s: %w", id, err)
	}
	return out, nil
}
