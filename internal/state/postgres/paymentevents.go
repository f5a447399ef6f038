package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

func scanEvent(row pgx.Row) (state.Event, error) {
	var ev state.Event
	if err := row.Scan(&ev.ID, &ev.Type, &ev.PaymentID, &ev.Provider, &ev.Payload, &ev.CreatedAt); err != nil {
		return ev, err
	}
	ev.CreatedAt = tm(ev.CreatedAt)
	return ev, nil
}

// PaymentEvents lists a payment's events newest first, through the
// events_payment index.
func (s *Store) PaymentEvents(ctx context.Context, paymentID string, limit int) ([]state.Event, error) {
	out, err := queryAll(ctx, s.pool, scanEvent, `SELECT id, type, payment_id, provider, payload, created_at FROM events
WHERE payment_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, paymentID, rules.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: list the events of %s: %w", paymentID, err)
	}
	return out, nil
}
