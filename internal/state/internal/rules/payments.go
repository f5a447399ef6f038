package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// NewPayment checks a payment given to CreatePayment and fills its
// defaults: a zero CreatedAt is now, a zero UpdatedAt is CreatedAt, an
// empty Status is pending.
func NewPayment(p state.Payment, now func() time.Time) (state.Payment, error) {
	if p.ID == "" || p.Provider == "" || p.Reference == "" {
		return p, fmt.Errorf("create payment %s/%s: ID, provider and reference are required", p.Provider, p.Reference)
	}
	p.CreatedAt = NowIfZero(p.CreatedAt, now)
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	if p.Status == "" {
		p.Status = "pending"
	}
	return p, nil
}

// PaymentExists is the error for inserting a payment whose ID or
// (provider, reference) is taken; it wraps state.ErrConflict.
func PaymentExists(p state.Payment) error {
	return fmt.Errorf("payment %s or reference %s/%s exists: %w", p.ID, p.Provider, p.Reference, state.ErrConflict)
}

// Terminal reports whether a payment status is final (no more syncing).
func Terminal(status string) bool {
	switch status {
	case "succeeded", "failed", "reversed":
		return true
	}
	return false
}

// CheckStatusChange checks c before ApplyStatus opens a transaction and
// fills a zero Now from now.
func CheckStatusChange(c state.StatusChange, now func() time.Time) (state.StatusChange, error) {
	if c.Provider == "" || c.Status == "" {
		return c, errors.New("provider and status are required")
	}
	c.Now = NowIfZero(c.Now, now)
	return c, nil
}

// StatusSubject names the payment c is about, for errors:
// "provider/reference" or "provider/provider-reference X".
func StatusSubject(c state.StatusChange) string {
	key := c.Reference
	if key == "" {
		key = "provider-reference " + c.ProviderReference
	}
	return c.Provider + "/" + key
}

// Change applies c to p and reports whether the status changed. found says
// whether p was stored before (a created payment changes from "").
//
// Amount, Currency, Phone and ProviderReference are filled only when the
// payment has none; ConfirmationCode, Message and Raw replace the stored
// ones when given. Sync bookkeeping, on a change only: a payment entering
// a terminal status is no longer scheduled (NextSyncAt zero); one created,
// leaving a terminal status, or never scheduled, in a non-terminal status
// is due at once.
func Change(p state.Payment, found bool, c state.StatusChange) (state.Payment, bool) {
	old := p.Status
	if !found {
		old = ""
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&p.ProviderReference, c.ProviderReference)
	fill(&p.Amount, c.Amount)
	fill(&p.Currency, c.Currency)
	fill(&p.Phone, c.Phone)
	if c.ConfirmationCode != "" {
		p.ConfirmationCode = c.ConfirmationCode
	}
	if c.Message != "" {
		p.Message = c.Message
	}
	if len(c.Raw) > 0 {
		p.Raw = append([]byte(nil), c.Raw...)
	}
	p.Status, p.UpdatedAt = c.Status, c.Now
	changed := old != c.Status
	if changed {
		switch {
		case Terminal(c.Status):
			p.NextSyncAt = time.Time{}
		case !found || Terminal(old) || p.NextSyncAt.IsZero():
			p.NextSyncAt = c.Now
		}
	}
	return p, changed
}

// Notification is n as stored for a change from provider at now: a missing
// ID is generated, a missing Provider is provider, a zero ReceivedAt is now.
func Notification(provider string, n state.Notification, now time.Time) state.Notification {
	if n.ID == "" {
		n.ID = NewID("ntf_")
	}
	if n.Provider == "" {
		n.Provider = provider
	}
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = now
	}
	return n
}

// NewEvent builds the event a change of p emits and one pending delivery,
// due at once, per route of c. The body comes from c.EventPayload (none
// when it is nil).
func NewEvent(c state.StatusChange, p state.Payment) (state.Event, []state.Delivery, error) {
	ev := state.Event{ID: NewID("evt_"), Type: c.EventType, PaymentID: p.ID, Provider: p.Provider, CreatedAt: c.Now}
	if c.EventPayload != nil {
		var err error
		if ev.Payload, err = c.EventPayload(p, ev.ID, c.Now); err != nil {
			return state.Event{}, nil, fmt.Errorf("build event %s: %w", ev.ID, err)
		}
	}
	ds := make([]state.Delivery, len(c.Routes))
	for i, route := range c.Routes {
		ds[i] = state.Delivery{
			ID: NewID("dlv_"), EventID: ev.ID, Route: route, Status: state.DeliveryPending,
			NextAttemptAt: c.Now, CreatedAt: c.Now, UpdatedAt: c.Now,
		}
	}
	return ev, ds, nil
}

// StatusTx is one backend write transaction as ApplyStatus needs it. It
// runs SQL and decides nothing.
type StatusTx interface {
	// InsertNotification stores n unless its (Provider, DedupKey) is
	// recorded already, and reports whether it was (dup). An empty
	// DedupKey is stored as NULL and is never a duplicate. A taken ID is
	// an error wrapping state.ErrConflict.
	InsertNotification(ctx context.Context, n state.Notification) (dup bool, err error)
	// PaymentByReference finds the payment with this (provider, reference).
	// With lock, a backend that locks rows keeps it locked until the
	// transaction ends.
	PaymentByReference(ctx context.Context, provider, reference string, lock bool) (state.Payment, bool, error)
	// PaymentByProviderReference finds the oldest payment of provider with
	// this provider reference; lock as for PaymentByReference.
	PaymentByProviderReference(ctx context.Context, provider, providerReference string, lock bool) (state.Payment, bool, error)
	// InsertPayment stores a new payment. It reports false, storing
	// nothing, when another transaction has created one with the same
	// (provider, reference) since this one looked.
	InsertPayment(ctx context.Context, p state.Payment) (bool, error)
	// UpdatePayment stores the fields Change sets: Status,
	// ProviderReference, Amount, Currency, Phone, ConfirmationCode,
	// Message, Raw, UpdatedAt and NextSyncAt.
	UpdatePayment(ctx context.Context, p state.Payment) error
	InsertEvent(ctx context.Context, e state.Event) error
	// InsertDelivery stores d with no lease.
	InsertDelivery(ctx context.Context, d state.Delivery) error
}

// ApplyStatus carries out c (checked by CheckStatusChange) inside the
// backend's transaction tx; see state.StatusChange.
//
// Details it fixes: a notification with an empty DedupKey is stored but
// never counts as a duplicate; a duplicate writes nothing (so committing
// it is the same as rolling it back). A change without Reference finds the
// payment by ProviderReference (the oldest, should there be several) and
// cannot create one (ErrNotFound). The fields and sync bookkeeping are
// Change's. A payment created concurrently by another transaction is found
// and updated rather than duplicated.
func ApplyStatus(ctx context.Context, tx StatusTx, c state.StatusChange) (state.StatusResult, error) {
	var res state.StatusResult
	if c.Notification != nil {
		n := Notification(c.Provider, *c.Notification, c.Now)
		dup, err := tx.InsertNotification(ctx, n)
		if err != nil {
			return state.StatusResult{}, fmt.Errorf("record notification %s: %w", n.ID, err)
		}
		if dup {
			p, found, err := findPayment(ctx, tx, c, false)
			if err != nil {
				return state.StatusResult{}, err
			}
			if found {
				res.Payment = p
			}
			res.Duplicate = true
			return res, nil
		}
	}
	p, found, err := findPayment(ctx, tx, c, true)
	if err != nil {
		return state.StatusResult{}, err
	}
	if !found {
		if !c.CreateIfMissing {
			return state.StatusResult{}, state.ErrNotFound
		}
		if c.Reference == "" {
			return state.StatusResult{}, fmt.Errorf("no reference to create the payment with: %w", state.ErrNotFound)
		}
		created, changed := Change(state.Payment{ID: NewID("pay_"), Provider: c.Provider, Reference: c.Reference, CreatedAt: c.Now}, false, c)
		inserted, err := tx.InsertPayment(ctx, created)
		if err != nil {
			return state.StatusResult{}, err
		}
		if inserted {
			res.Payment, res.Changed = created, changed
			return emit(ctx, tx, c, res)
		}
		// Created meanwhile by another transaction (now committed).
		if p, found, err = findPayment(ctx, tx, c, true); err != nil {
			return state.StatusResult{}, err
		} else if !found {
			return state.StatusResult{}, fmt.Errorf("payment %s/%s vanished while being created", c.Provider, c.Reference)
		}
	}
	updated, changed := Change(p, true, c)
	if err := tx.UpdatePayment(ctx, updated); err != nil {
		return state.StatusResult{}, fmt.Errorf("update payment %s: %w", p.ID, err)
	}
	res.Payment, res.Changed = updated, changed
	return emit(ctx, tx, c, res)
}

func findPayment(ctx context.Context, tx StatusTx, c state.StatusChange, lock bool) (p state.Payment, found bool, err error) {
	switch {
	case c.Reference != "":
		p, found, err = tx.PaymentByReference(ctx, c.Provider, c.Reference, lock)
	case c.ProviderReference != "":
		p, found, err = tx.PaymentByProviderReference(ctx, c.Provider, c.ProviderReference, lock)
	default:
		return state.Payment{}, false, nil
	}
	if err != nil {
		return state.Payment{}, false, fmt.Errorf("find payment: %w", err)
	}
	return p, found, nil
}

// emit inserts the event for a changed payment, when c names one.
func emit(ctx context.Context, tx StatusTx, c state.StatusChange, res state.StatusResult) (state.StatusResult, error) {
	if !res.Changed || c.EventType == "" {
		return res, nil
	}
	ev, ds, err := NewEvent(c, res.Payment)
	if err != nil {
		return state.StatusResult{}, err
	}
	if err := tx.InsertEvent(ctx, ev); err != nil {
		return state.StatusResult{}, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	for _, d := range ds {
		if err := tx.InsertDelivery(ctx, d); err != nil {
			return state.StatusResult{}, fmt.Errorf("insert delivery of event %s to route %s: %w", ev.ID, d.Route, err)
		}
	}
	res.EventID = ev.ID
	return res, nil
}
