package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// ReconTx is one backend write transaction as the reconciliation rules
// need it. It runs SQL and decides nothing.
type ReconTx interface {
	// RunningRuns returns the provider's runs in status running, locked
	// (where the backend locks rows) until the transaction ends.
	RunningRuns(ctx context.Context, provider string) ([]state.ReconRun, error)
	// InsertRun stores a new run. It reports false, storing nothing, when
	// another transaction has started a running run of the provider since.
	InsertRun(ctx context.Context, r state.ReconRun) (bool, error)
	// UpdateRun stores every field of r but ID, Provider, From, To and StartedAt.
	UpdateRun(ctx context.Context, r state.ReconRun) error
	// DifferenceByKey finds the difference with this (provider, key), locked.
	DifferenceByKey(ctx context.Context, provider, key string) (state.Difference, bool, error)
	InsertDifference(ctx context.Context, d state.Difference) error
	// UpdateDifference stores every field of d but ID, Provider, Key and CreatedAt.
	UpdateDifference(ctx context.Context, d state.Difference) error
	InsertEvent(ctx context.Context, e state.Event) error
	InsertDelivery(ctx context.Context, d state.Delivery) error
}

// CheckReconStart checks s and fills a zero Now.
func CheckReconStart(s state.ReconStart, now func() time.Time) (state.ReconStart, error) {
	switch {
	case s.Provider == "" || s.Owner == "":
		return s, fmt.Errorf("start reconciliation run: provider and owner are required: %w", state.ErrInvalid)
	case s.From.IsZero() || !s.To.After(s.From):
		return s, fmt.Errorf("start reconciliation run: the window [%s, %s) is empty: %w", s.From, s.To, state.ErrInvalid)
	case s.Lease <= 0:
		return s, fmt.Errorf("start reconciliation run: lease %s must be positive: %w", s.Lease, state.ErrInvalid)
	}
	s.Now = NowIfZero(s.Now, now)
	return s, nil
}

// StartReconRun carries out state.ReconStore.StartReconRun inside tx.
func StartReconRun(ctx context.Context, tx ReconTx, s state.ReconStart) (state.ReconRun, bool, error) {
	runs, err := tx.RunningRuns(ctx, s.Provider)
	if err != nil {
		return state.ReconRun{}, false, fmt.Errorf("find running runs: %w", err)
	}
	live := func(r state.ReconRun) bool {
		return r.Owner != s.Owner && r.LeaseUntil.After(s.Now) && (s.Dead == nil || !s.Dead(r.Owner))
	}
	for _, r := range runs {
		if live(r) {
			return state.ReconRun{}, false, &state.ReconBusyError{Run: r}
		}
	}
	for _, r := range runs {
		if r.From.Equal(s.From) && r.To.Equal(s.To) {
			r.Owner, r.LeaseUntil, r.UpdatedAt = s.Owner, s.Now.Add(s.Lease), s.Now
			if err := tx.UpdateRun(ctx, r); err != nil {
				return state.ReconRun{}, false, fmt.Errorf("take over run %s: %w", r.ID, err)
			}
			return r, true, nil
		}
		r.Status, r.FinishedAt, r.UpdatedAt, r.LeaseUntil = state.RunAbandoned, s.Now, s.Now, time.Time{}
		r.Error = "replaced by a run over another window before it finished"
		if err := tx.UpdateRun(ctx, r); err != nil {
			return state.ReconRun{}, false, fmt.Errorf("abandon run %s: %w", r.ID, err)
		}
	}
	r := state.ReconRun{
		ID: state.NewID("rcn_"), Provider: s.Provider, From: s.From.UTC(), To: s.To.UTC(), Status: state.RunRunning,
		Owner: s.Owner, LeaseUntil: s.Now.Add(s.Lease), StartedAt: s.Now, UpdatedAt: s.Now,
	}
	ok, err := tx.InsertRun(ctx, r)
	if err != nil {
		return state.ReconRun{}, false, fmt.Errorf("insert run: %w", err)
	}
	if !ok {
		return state.ReconRun{}, false, &state.ReconBusyError{Run: state.ReconRun{Provider: s.Provider, Owner: "another process", LeaseUntil: s.Now.Add(s.Lease)}}
	}
	return r, false, nil
}

// CheckDifference checks d and fills its defaults: a new ID, state open,
// CreatedAt and UpdatedAt now.
func CheckDifference(d state.Difference, now func() time.Time) (state.Difference, error) {
	switch {
	case d.Provider == "" || d.Key == "":
		return d, fmt.Errorf("record difference: provider and key are required: %w", state.ErrInvalid)
	case !d.Class.Valid():
		return d, fmt.Errorf("record difference: class %q is not a difference class: %w", d.Class, state.ErrInvalid)
	}
	if d.ID == "" {
		d.ID = state.NewID("dif_")
	}
	switch d.State {
	case "":
		d.State = state.DiffOpen
	case state.DiffOpen, state.DiffHealed, state.DiffAcknowledged, state.DiffResolved:
	default:
		return d, fmt.Errorf("record difference: state %q is not a difference state: %w", d.State, state.ErrInvalid)
	}
	d.CreatedAt = NowIfZero(d.CreatedAt, now)
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	return d, nil
}

// RecordDifference carries out state.ReconStore.RecordDifference inside tx.
func RecordDifference(ctx context.Context, tx ReconTx, d state.Difference, ev *state.DifferenceEvent) (state.Difference, bool, error) {
	old, found, err := tx.DifferenceByKey(ctx, d.Provider, d.Key)
	if err != nil {
		return state.Difference{}, false, fmt.Errorf("find difference %s: %w", d.Key, err)
	}
	if found && old.State != state.DiffResolved {
		return old, false, nil
	}
	if found {
		old.RunID, old.Class, old.Reference, old.PaymentID, old.PayoutID, old.ProviderTxn = d.RunID, d.Class, d.Reference, d.PaymentID, d.PayoutID, d.ProviderTxn
		old.Detail, old.Ours, old.Theirs, old.State, old.By, old.Note, old.UpdatedAt = d.Detail, d.Ours, d.Theirs, d.State, "", "", d.UpdatedAt
		if err := tx.UpdateDifference(ctx, old); err != nil {
			return state.Difference{}, false, fmt.Errorf("open difference %s again: %w", old.ID, err)
		}
		d = old
	} else if err := tx.InsertDifference(ctx, d); err != nil {
		return state.Difference{}, false, fmt.Errorf("insert difference %s: %w", d.Key, err)
	}
	if d.State != state.DiffOpen || ev == nil || ev.Type == "" {
		return d, true, nil
	}
	// An event names its subject in PaymentID, a payout's too (as the
	// payout events do).
	subject := d.PaymentID
	if subject == "" {
		subject = d.PayoutID
	}
	e := state.Event{ID: state.NewID("evt_"), Type: ev.Type, PaymentID: subject, Provider: d.Provider, CreatedAt: d.UpdatedAt}
	if ev.Payload != nil {
		if e.Payload, err = ev.Payload(d, e.ID, d.UpdatedAt); err != nil {
			return state.Difference{}, false, fmt.Errorf("build event of difference %s: %w", d.ID, err)
		}
	}
	if err := tx.InsertEvent(ctx, e); err != nil {
		return state.Difference{}, false, fmt.Errorf("insert event %s: %w", e.ID, err)
	}
	for _, route := range ev.Routes {
		dl := state.Delivery{ID: state.NewID("dlv_"), EventID: e.ID, Route: route, Status: state.DeliveryPending,
			NextAttemptAt: d.UpdatedAt, CreatedAt: d.UpdatedAt, UpdatedAt: d.UpdatedAt}
		if err := tx.InsertDelivery(ctx, dl); err != nil {
			return state.Difference{}, false, fmt.Errorf("insert delivery of event %s to route %s: %w", e.ID, route, err)
		}
	}
	return d, true, nil
}

// DifferenceState decides SetDifferenceState: d moved to newState by by
// with note at now, or an error (ErrInvalid for a state one cannot set,
// ErrConflict for a healed difference or one already in newState).
func DifferenceState(d state.Difference, newState, by, note string, now time.Time) (state.Difference, error) {
	switch newState {
	case state.DiffResolved, state.DiffAcknowledged:
	default:
		return d, fmt.Errorf("difference %s: a person may set resolved or acknowledged, not %q: %w", d.ID, newState, state.ErrInvalid)
	}
	if by == "" {
		return d, fmt.Errorf("difference %s: say who %s it: %w", d.ID, newState, state.ErrInvalid)
	}
	switch d.State {
	case state.DiffHealed:
		return d, fmt.Errorf("difference %s was healed by the run that found it: %w", d.ID, state.ErrConflict)
	case newState:
		return d, fmt.Errorf("difference %s is %s already: %w", d.ID, newState, state.ErrConflict)
	}
	d.State, d.By, d.Note, d.UpdatedAt = newState, by, note, now
	return d, nil
}
