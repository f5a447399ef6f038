package payments

import (
	"context"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// syncLease is how long the payments one Sync round claimed stay out of
// other processes' rounds. Each one asked about is rescheduled on its
// backoff right after; one this process could not get to (it stopped)
// is due again when the lease ends.
const syncLease = 5 * time.Minute

// dueForSync returns the payments a Sync round asks about. With a store
// that can claim them (state.SyncClaimer: both of ours), they are leased
// to this process, so replicas sharing one PostgreSQL database each ask
// the provider about a due payment once per round between them, not once
// each.
func (s *Service) dueForSync(ctx context.Context, now time.Time, limit int) ([]state.Payment, error) {
	if c, ok := s.store.(state.SyncClaimer); ok {
		return c.ClaimDuePayments(ctx, now, syncLease, limit)
	}
	return s.store.DuePayments(ctx, now, limit)
}
