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

// LeaseRow is a delivery as RecordAttempts reads it before deciding.
type LeaseRow struct {
	Owner    string
	Attempts int
	Next     time.Time
}

// Recorded is one attempt RecordAttempts stores: rs[Index]'s attempt and
// the delivery's next attempt time (see Attempt).
type Recorded struct {
	Index   int
	Result  state.AttemptResult
	Attempt state.Attempt
	Next    time.Time
}

// Attempts decides, for rs in order, what RecordAttempts stores, given
// the deliveries as stored (rows, by ID; a missing ID is an unknown
// delivery) and now: each result as Attempt decides it, where a result
// after one that succeeded for the same delivery finds that delivery's
// lease released (so it fails, as a second RecordAttempt would). errs[i]
// is rs[i]'s failure, or nil when it is among the returned records.
func Attempts(rs []state.AttemptResult, rows map[string]LeaseRow, now time.Time) ([]Recorded, []error) {
	errs := make([]error, len(rs))
	recs := make([]Recorded, 0, len(rs))
	var taken map[string]bool // deliveries recorded earlier in rs
	for i, r := range rs {
		if err := CheckAttempt(r); err != nil {
			errs[i] = err
			continue
		}
		row, ok := rows[r.DeliveryID]
		if !ok {
			errs[i] = fmt.Errorf("record attempt on delivery %s: %w", r.DeliveryID, state.ErrNotFound)
			continue
		}
		if taken[r.DeliveryID] {
			row.Owner = "" // released by the earlier result
		}
		a, next, err := Attempt(r, row.Owner, row.Attempts, row.Next, now)
		if err != nil {
			errs[i] = fmt.Errorf("record attempt on delivery %s: %w", r.DeliveryID, err)
			continue
		}
		if taken == nil {
			taken = map[string]bool{}
		}
		taken[r.DeliveryID] = true
		recs = append(recs, Recorded{Index: i, Result: r, Attempt: a, Next: next})
	}
	return recs, errs
}
