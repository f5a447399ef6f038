package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

var _ state.SyncClaimer = (*Store)(nil)

// ClaimDuePayments leases up to limit due payments to the caller until
// now+lease (see state.SyncClaimer): one write transaction, so two
// processes on one file never claim the same payment.
func (s *Store) ClaimDuePayments(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]state.Payment, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("sqlite: claim due payments: lease %s must be positive", lease)
	}
	var out []state.Payment
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scanPayment, `UPDATE payments SET next_sync_at = ?
WHERE id IN (SELECT id FROM payments`+duePayments+`)
RETURNING `+paymentCols, ts(now.Add(lease)), ts(now), rules.Limit(limit))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim due payments: %w", err)
	}
	return out, nil
}
