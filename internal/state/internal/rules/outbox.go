package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// CheckClaim checks the arguments of ClaimDeliveries.
func CheckClaim(route, owner string, lease time.Duration) error {
	if owner == "" {
		return fmt.Errorf("claim deliveries of route %s: no owner", route)
	}
	if lease <= 0 {
		return fmt.Errorf("claim deliveries of route %s: lease must be positive", route)
	}
	return nil
}

// CheckRelease checks the arguments of ReleaseLeases.
func CheckRelease(dead func(owner string) bool) error {
	if dead == nil {
		return errors.New("release leases: no dead-owner test")
	}
	return nil
}

// DeadOwners picks, from the owners of live leases a backend found, those
// whose leases ReleaseLeases releases: the ones dead reports as dead,
// asking once per owner, in order, never about the empty owner (no lease).
func DeadOwners(owners []string, dead func(owner string) bool) []string {
	var out []string
	seen := map[string]bool{"": true}
	for _, o := range owners {
		if seen[o] {
			continue
		}
		seen[o] = true
		if dead(o) {
			out = append(out, o)
		}
	}
	return out
}

// CheckAttempt checks an AttemptResult before RecordAttempt opens a
// transaction: its Status must be a delivery status.
func CheckAttempt(r state.AttemptResult) error {
	switch r.Status {
	case state.DeliveryPending, state.DeliveryDelivered, state.DeliveryDead:
		return nil
	}
	return fmt.Errorf("record attempt on delivery %s: unknown status %q", r.DeliveryID, r.Status)
}

// errLeaseLost is wrapped (with state.ErrConflict) when a worker reports
// an attempt on a delivery it no longer holds.
var errLeaseLost = errors.New("lease lost: the delivery was re-claimed or replayed")

// Attempt decides what RecordAttempt stores, given the delivery as stored
// (its lease owner, attempt count and NextAttemptAt) and now: the attempt,
// numbered after the delivery's count (r.Attempt.N is ignored) with a zero
// At meaning now, and the delivery's next attempt time (r.NextAt when it
// stays pending, else unchanged). It fails unless r.Owner still holds the
// lease (the error wraps state.ErrConflict).
func Attempt(r state.AttemptResult, owner string, attempts int, next, now time.Time) (state.Attempt, time.Time, error) {
	if owner == "" || owner != r.Owner {
		return state.Attempt{}, time.Time{}, fmt.Errorf("%w (%w)", errLeaseLost, state.ErrConflict)
	}
	a := r.Attempt
	a.DeliveryID, a.N = r.DeliveryID, attempts+1
	a.At = NowIfZero(a.At, func() time.Time { return now })
	if r.Status == state.DeliveryPending {
		next = r.NextAt
	}
	return a, next, nil
}

// NextDue turns the earliest due time a backend read into NextDue's
// answer: a zero time (due since forever) is due now, not "none", so it
// becomes the earliest instant after the epoch.
func NextDue(at time.Time) time.Time {
	if at.IsZero() {
		return time.Unix(0, 1).UTC()
	}
	return at
}
