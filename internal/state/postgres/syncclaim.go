package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

var _ state.SyncClaimer = (*Store)(nil)

// ClaimDuePayments leases up to limit due payments to the caller until
// now+lease (see state.SyncClaimer). Rows another transaction is claiming
// are skipped (FOR UPDATE SKIP LOCKED), so replicas that sync at the same
// moment split the due payments between them instead of each asking the
// provider about every one.
func (s *Store) ClaimDuePayments(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]state.Payment, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("postgres: claim due payments: lease %s must be positive", lease)
	}
	start := time.Now()
	out, err := queryAll(ctx, s.pool, scanPayment, `UPDATE payments SET next_sync_at = $1
WHERE id IN (SELECT id FROM payments WHERE status IN ('pending', 'unknown') AND next_sync_at <= $2
	ORDER BY next_sync_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING `+paymentCols, now.Add(lease), now, rules.Limit(limit))
	s.autocommitted(start, err)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim due payments: %w", err)
	}
	return out, nil
}
