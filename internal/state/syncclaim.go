package state

import (
	"context"
	"time"
)

// SyncClaimer is implemented by stores that let several processes share
// the sync of due payments: a payment one process has claimed is not due
// for the others until its lease ends.
type SyncClaimer interface {
	// ClaimDuePayments returns up to limit payments DuePayments would
	// return at now, earliest due first, and in the same transaction moves
	// their NextSyncAt to now+lease: until then no other claim (and no
	// DuePayments) returns them. The caller reschedules each one it asked
	// about (ScheduleSync) or settles it; one it could not get to (a
	// crash) is due again when the lease ends. Payments another
	// transaction is claiming are skipped, never waited for.
	ClaimDuePayments(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Payment, error)
}
