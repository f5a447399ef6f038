package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

// RunOptions tune Run.
type RunOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Lock tunes the state lock; Operation defaults to "reconcile".
	Lock LockOptions
	// Types limits the run to these resource types ("ipn", "key"); nil
	// means all. The refresh_keys schedule passes {"key"}.
	Types []string
}

// Summary is what one Run did.
type Summary struct {
	Added, Changed, Forgotten int
	// Planned is how many resources differed from the configuration (drift).
	Planned int
	// NotApplied lists addresses left undone by a failure.
	NotApplied []string
}

// String is the one-line summary the daemon logs:
// "reconcile: 1 added, 0 changed, 0 forgotten".
func (s Summary) String() string {
	return fmt.Sprintf("reconcile: %d added, %d changed, %d forgotten", s.Added, s.Changed, s.Forgotten)
}

// Run is plan (with refresh) and apply in one, under one state lock: what the
// daemon's reconcile schedule calls. A lock held by someone else is an error
// (after o.Lock.Timeout).
func Run(ctx context.Context, cfg *config.Config, st state.StateStore, remote Remote, o RunOptions) (Summary, error) {
	var s Summary
	lo := o.Lock
	if lo.Operation == "" {
		lo.Operation = "reconcile"
	}
	if lo.Now == nil {
		lo.Now = o.Now
	}
	lock, err := AcquireLock(ctx, st, lo)
	if err != nil {
		return s, err
	}
	defer lock.Release(ctx) //nolint:errcheck // best effort
	p, err := MakePlan(ctx, cfg, st, remote, PlanOptions{Refresh: true, Now: o.Now, Types: o.Types})
	if err != nil {
		return s, fmt.Errorf("reconcile: %w", err)
	}
	s.Planned = len(p.Changes)
	if !p.HasChanges() {
		return s, nil
	}
	res, err := Apply(ctx, p, st, remote, ApplyOptions{Now: o.Now, Lock: lock})
	s.Added, s.Changed, s.Forgotten, s.NotApplied = res.Added, res.Changed, res.Forgotten, res.NotApplied
	if err != nil {
		return s, fmt.Errorf("reconcile: %w", err)
	}
	return s, nil
}
