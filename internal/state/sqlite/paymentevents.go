package sqlite

import (
	"context"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

func scanEvent(sc scanner) (state.Event, error) {
	var (
		ev      state.Event
		created int64
	)
	if err := sc.Scan(&ev.ID, &ev.Type, &ev.PaymentID, &ev.Provider, &ev.Payload, &created); err != nil {
		return ev, err
	}
	ev.CreatedAt = tm(created)
	return ev, nil
}

// PaymentEvents lists a payment's events newest first, through the
// events_payment index.
func (s *Store) PaymentEvents(ctx context.Context, paymentID string, limit int) ([]state.Event, error) {
	out, err := queryAll(ctx, s.r, scanEvent, `SELECT id, type, payment_id, provider, payload, created_at FROM events
WHERE payment_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`, paymentID, rules.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list the events of %s: %w", paymentID, err)
	}
	return out, nil
}
