package rules

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/money"
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
		p.Status = state.StatusPending
	}
	if !p.Status.Valid() {
		return p, fmt.Errorf("create payment %s/%s: status %q is not a payment status: %w", p.Provider, p.Reference, p.Status, state.ErrInvalid)
	}
	return p, nil
}

// PaymentExists is the error for inserting a payment whose ID or
// (provider, reference) is taken; it wraps state.ErrConflict.
func PaymentExists(p state.Payment) error {
	return fmt.Errorf("payment %s or reference %s/%s exists: %w", p.ID, p.Provider, p.Reference, state.ErrConflict)
}

// CheckStatusChange checks c before ApplyStatus opens a transaction and
// fills a zero Now from now and a zero Source with SourceNotification (the
// least trusted: it may not turn failed into succeeded). It needs a
// provider, a valid status and a valid source (errors wrap
// state.ErrInvalid).
func CheckStatusChange(c state.StatusChange, now func() time.Time) (state.StatusChange, error) {
	if c.Source == "" {
		c.Source = state.SourceNotification
	}
	switch {
	case c.Provider == "" || c.Status == "":
		return c, fmt.Errorf("provider and status are required: %w", state.ErrInvalid)
	case !c.Status.Valid():
		return c, fmt.Errorf("status %q is not a payment status: %w", c.Status, state.ErrInvalid)
	case !c.Source.Valid():
		return c, fmt.Errorf("source %q is not a statement source: %w", c.Source, state.ErrInvalid)
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

// movesMoney reports whether a statement of status is about money having
// moved, so that its amount and currency must be the payment's.
func movesMoney(s state.PaymentStatus) bool {
	return s == state.StatusSucceeded || s == state.StatusReversed
}

// CheckClaims binds c's amount and currency to p (found: p is stored;
// otherwise c creates it). An amount that is given must be plain decimal
// money of its currency (the statement's, else the payment's): otherwise
// the error wraps state.ErrInvalid. A statement of succeeded or reversed
// about a stored payment must name the payment's amount and currency when
// it names any, and a notification about a payment that has a provider
// reference must name that one when it names any: otherwise the error
// wraps state.ErrMismatch.
func CheckClaims(p state.Payment, found bool, c state.StatusChange) error {
	cur := c.Currency
	if cur == "" && found {
		cur = p.Currency
	}
	if c.Currency != "" {
		if _, ok := money.Decimals(strings.ToUpper(c.Currency)); !ok {
			return fmt.Errorf("currency %q is not supported: %w", c.Currency, state.ErrInvalid)
		}
	}
	if c.Amount != "" {
		if cur == "" {
			return fmt.Errorf("amount %q has no currency: %w", c.Amount, state.ErrInvalid)
		}
		if _, err := money.Parse(c.Amount, cur); err != nil {
			return fmt.Errorf("amount: %w (%w)", err, state.ErrInvalid)
		}
	}
	if found && c.Source == state.SourceNotification && p.ProviderReference != "" &&
		c.ProviderReference != "" && c.ProviderReference != p.ProviderReference {
		return fmt.Errorf("provider reference %q, the payment's is %q: %w", c.ProviderReference, p.ProviderReference, state.ErrMismatch)
	}
	if !found || !movesMoney(c.Status) {
		return nil
	}
	if c.Currency != "" && p.Currency != "" && !strings.EqualFold(c.Currency, p.Currency) {
		return fmt.Errorf("currency %s, the payment is in %s: %w", c.Currency, p.Currency, state.ErrMismatch)
	}
	if c.Amount != "" && p.Amount != "" && !money.Same(c.Amount, p.Amount, p.Currency) {
		return fmt.Errorf("amount %s, the payment is for %s: %w", c.Amount, p.Amount, state.ErrMismatch)
	}
	return nil
}

// Change applies c to p and reports what Transition decided. found says
// whether p was stored before: a created payment takes c's status (Moved).
//
// Amount, Currency, Phone and ProviderReference are filled only when the
// payment has none, whatever the outcome. On Moved or Same,
// ConfirmationCode, Message and Raw replace the stored ones when given; on
// Refused the confirmation code is only filled in and the rest is kept.
// Sync bookkeeping, on Moved only: a payment leaving pending/unknown is no
// longer scheduled (NextSyncAt zero); one created, or never scheduled, in
// pending/unknown is due at once. UpdatedAt becomes c.Now only when
// something changed.
func Change(p state.Payment, found bool, c state.StatusChange) (state.Payment, state.Outcome) {
	outcome := state.Moved
	if found {
		outcome = state.Transition(p.Status, c.Status, c.Source)
	}
	before := p
	fill(&p.ProviderReference, c.ProviderReference)
	fill(&p.Amount, c.Amount)
	fill(&p.Currency, strings.ToUpper(c.Currency))
	fill(&p.Phone, c.Phone)
	fill(&p.ConfirmationCode, c.ConfirmationCode)
	if outcome != state.Refused {
		if c.ConfirmationCode != "" {
			p.ConfirmationCode = c.ConfirmationCode
		}
		if c.Message != "" {
			p.Message = c.Message
		}
		if len(c.Raw) > 0 {
			p.Raw = append([]byte(nil), c.Raw...)
		}
	}
	if outcome == state.Moved {
		p.Status = c.Status
		switch {
		case !c.Status.Open():
			p.NextSyncAt = time.Time{}
		case !found || p.NextSyncAt.IsZero():
			p.NextSyncAt = c.Now
		}
	}
	if !found || !samePayment(before, p) {
		p.UpdatedAt = c.Now
	}
	return p, outcome
}

// Initiation applies in (checked: pending, unknown or failed) to p, the
// stored payment, as a statement from state.SourceInitiation, and reports
// what Transition decided. ProviderReference and RedirectURL are filled
// only when the payment has none (a notification may have brought them
// first); Message and Raw replace the stored ones when given, unless the
// statement is Refused. On Moved or Same the payment is scheduled at
// in.NextSyncAt (when given) while pending/unknown, and not at all once
// settled.
func Initiation(p state.Payment, in state.PaymentInitiation, now time.Time) (state.Payment, state.Outcome) {
	outcome := state.Transition(p.Status, in.Status, state.SourceInitiation)
	before := p
	fill(&p.ProviderReference, in.ProviderReference)
	fill(&p.RedirectURL, in.RedirectURL)
	if outcome != state.Refused {
		if in.Message != "" {
			p.Message = in.Message
		}
		if len(in.Raw) > 0 {
			p.Raw = append([]byte(nil), in.Raw...)
		}
		p.Status = in.Status
		switch {
		case !p.Status.Open():
			p.NextSyncAt = time.Time{}
		case !in.NextSyncAt.IsZero():
			p.NextSyncAt = in.NextSyncAt
		}
	}
	if !samePayment(before, p) {
		p.UpdatedAt = now
	}
	return p, outcome
}

// CheckInitiation checks in before RecordInitiation opens a transaction:
// an initiation answers pending, unknown or failed (errors wrap
// state.ErrInvalid).
func CheckInitiation(id string, in state.PaymentInitiation) error {
	switch in.Status {
	case state.StatusPending, state.StatusUnknown, state.StatusFailed:
		return nil
	}
	return fmt.Errorf("record initiation of payment %s: status %q is not an initiation outcome (pending, unknown or failed): %w", id, in.Status, state.ErrInvalid)
}

// InitiationTx is one backend write transaction as RecordInitiation needs
// it. It runs SQL and decides nothing.
type InitiationTx interface {
	// PaymentByID finds a payment and keeps it locked (where the backend
	// locks rows) until the transaction ends.
	PaymentByID(ctx context.Context, id string) (state.Payment, bool, error)
	// UpdatePayment is StatusTx's.
	UpdatePayment(ctx context.Context, p state.Payment) error
	// InsertStatusEntry is StatusTx's.
	InsertStatusEntry(ctx context.Context, e state.StatusEntry) error
}

// RecordInitiation carries out in (checked by CheckInitiation) on payment
// id inside tx: the rule is Initiation's. It writes nothing when the
// answer changes nothing. ErrNotFound when there is no such payment.
func RecordInitiation(ctx context.Context, tx InitiationTx, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	p, found, err := tx.PaymentByID(ctx, id)
	if err != nil {
		return state.Payment{}, fmt.Errorf("find payment: %w", err)
	}
	if !found {
		return state.Payment{}, state.ErrNotFound
	}
	updated, _ := Initiation(p, in, now)
	if samePayment(p, updated) {
		return p, nil
	}
	if err := tx.UpdatePayment(ctx, updated); err != nil {
		return state.Payment{}, fmt.Errorf("update payment: %w", err)
	}
	if updated.Status != p.Status {
		e := state.StatusEntry{PaymentID: id, From: p.Status, To: updated.Status, Source: state.SourceInitiation, At: now}
		if err := tx.InsertStatusEntry(ctx, e); err != nil {
			return state.Payment{}, fmt.Errorf("record the status change: %w", err)
		}
	}
	return updated, nil
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// samePayment reports whether a and b hold the same stored fields.
func samePayment(a, b state.Payment) bool {
	return a.Status == b.Status && a.ProviderReference == b.ProviderReference && a.RedirectURL == b.RedirectURL &&
		a.Amount == b.Amount && a.Currency == b.Currency && a.Phone == b.Phone &&
		a.ConfirmationCode == b.ConfirmationCode && a.Message == b.Message && bytes.Equal(a.Raw, b.Raw) &&
		a.NextSyncAt.Equal(b.NextSyncAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// Notification is n as stored for a change from provider at now: a missing
// ID is generated, a missing Provider is provider, a zero ReceivedAt is now.
func Notification(provider string, n state.Notification, now time.Time) state.Notification {
	if n.ID == "" {
		n.ID = state.NewID("ntf_")
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
	ev := state.Event{ID: state.NewID("evt_"), Type: c.EventType, PaymentID: p.ID, Provider: p.Provider, CreatedAt: c.Now}
	if c.EventPayload != nil {
		var err error
		if ev.Payload, err = c.EventPayload(p, ev.ID, c.Now); err != nil {
			return state.Event{}, nil, fmt.Errorf("build event %s: %w", ev.ID, err)
		}
	}
	ds := make([]state.Delivery, len(c.Routes))
	for i, route := range c.Routes {
		ds[i] = state.Delivery{
			ID: state.NewID("dlv_"), EventID: ev.ID, Route: route, Status: state.DeliveryPending,
			NextAttemptAt: c.Now, CreatedAt: c.Now, UpdatedAt: c.Now, Lease: c.Leases[route],
		}
	}
	return ev, ds, nil
}

// StatusTx is one backend write transaction as ApplyStatus needs it. It
// runs SQL and decides nothing.
type StatusTx interface {
	// InsertNotification stores n (with its PaymentID, NULL when empty)
	// unless its (Provider, DedupKey) is recorded already, and reports
	// whether it was (dup). An empty DedupKey is stored as NULL and is
	// never a duplicate. A taken ID is an error wrapping state.ErrConflict.
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
	// UpdatePayment stores the fields Change and Initiation set: Status,
	// ProviderReference, RedirectURL, Amount, Currency, Phone,
	// ConfirmationCode, Message, Raw, UpdatedAt and NextSyncAt.
	UpdatePayment(ctx context.Context, p state.Payment) error
	InsertEvent(ctx context.Context, e state.Event) error
	// InsertFirstEvent inserts e unless its payment has an event of e's
	// type already, and reports whether it did.
	InsertFirstEvent(ctx context.Context, e state.Event) (bool, error)
	// InsertDelivery stores d under d.Lease (none when it is zero).
	InsertDelivery(ctx context.Context, d state.Delivery) error
	// LinkNotification records which payment notification id was about.
	LinkNotification(ctx context.Context, id, paymentID string) error
	// InsertStatusEntry appends e to its payment's status history.
	InsertStatusEntry(ctx context.Context, e state.StatusEntry) error
}

// ApplyStatus carries out c (checked by CheckStatusChange) inside the
// backend's transaction tx; see state.StatusChange.
//
// Details it fixes: the payment is looked up (locked) before the
// notification is stored, so a notification about a payment we hold is
// stored linked to it in one insert (one made by the statement is linked
// after); a notification with an empty DedupKey is stored but never
// counts as a duplicate; a duplicate writes nothing (so committing it is
// the same as rolling it back). A change without Reference finds the
// payment by ProviderReference (the oldest, should there be several) and
// cannot create one (ErrNotFound). Claims are checked by CheckClaims
// before anything is written; the status, fields and sync bookkeeping are
// Change's (so Transition's). An event is inserted only when the status
// moved and the payment has no event of c.EventType yet: one event per
// status a payment reaches, whichever path stated it first. A payment
// created concurrently by another transaction is found and updated rather
// than duplicated.
func ApplyStatus(ctx context.Context, tx StatusTx, c state.StatusChange) (state.StatusResult, error) {
	var res state.StatusResult
	// The payment first, so that a notification about a payment we hold
	// is stored linked to it: one insert, not an insert and an update.
	p, found, err := findPayment(ctx, tx, c, true)
	if err != nil {
		return state.StatusResult{}, err
	}
	var ntf ntfRecord // the notification recorded
	if c.Notification != nil {
		n := Notification(c.Provider, *c.Notification, c.Now)
		n.PaymentID = "" // the payment this statement finds or makes, not the caller's
		if found {
			n.PaymentID = p.ID
		}
		dup, err := tx.InsertNotification(ctx, n)
		if err != nil {
			return state.StatusResult{}, fmt.Errorf("record notification %s: %w", n.ID, err)
		}
		if dup {
			if found {
				res.Payment = p
			}
			res.Duplicate, res.Outcome = true, state.Same
			return res, nil
		}
		ntf = ntfRecord{id: n.ID, linked: found}
	}
	if !found {
		if !c.CreateIfMissing {
			return state.StatusResult{}, state.ErrNotFound
		}
		if c.Reference == "" {
			return state.StatusResult{}, fmt.Errorf("no reference to create the payment with: %w", state.ErrNotFound)
		}
		if err := CheckClaims(state.Payment{}, false, c); err != nil {
			return state.StatusResult{}, err
		}
		created, outcome := Change(state.Payment{ID: state.NewID("pay_"), Provider: c.Provider, Reference: c.Reference, CreatedAt: c.Now}, false, c)
		inserted, err := tx.InsertPayment(ctx, created)
		if err != nil {
			return state.StatusResult{}, err
		}
		if inserted {
			if err := record(ctx, tx, c, ntf, "", created); err != nil {
				return state.StatusResult{}, err
			}
			res.Payment, res.Outcome, res.Changed = created, outcome, true
			return emit(ctx, tx, c, res, false)
		}
		// Created meanwhile by another transaction (now committed).
		if p, found, err = findPayment(ctx, tx, c, true); err != nil {
			return state.StatusResult{}, err
		} else if !found {
			return state.StatusResult{}, fmt.Errorf("payment %s/%s vanished while being created", c.Provider, c.Reference)
		}
	}
	if err := CheckClaims(p, true, c); err != nil {
		return state.StatusResult{}, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	updated, outcome := Change(p, true, c)
	if !samePayment(p, updated) {
		if err := tx.UpdatePayment(ctx, updated); err != nil {
			return state.StatusResult{}, fmt.Errorf("update payment %s: %w", p.ID, err)
		}
	}
	if err := record(ctx, tx, c, ntf, p.Status, updated); err != nil {
		return state.StatusResult{}, err
	}
	res.Payment, res.Outcome, res.Changed = updated, outcome, outcome == state.Moved
	return emit(ctx, tx, c, res, true)
}

// ntfRecord is the notification ApplyStatus recorded (id "" when none):
// linked when it was stored with its payment's ID.
type ntfRecord struct {
	id     string
	linked bool
}

// record links the notification ntf (if any, and not linked yet) to
// payment p and appends the change from status from to p's history when
// the status moved.
func record(ctx context.Context, tx StatusTx, c state.StatusChange, ntf ntfRecord, from state.PaymentStatus, p state.Payment) error {
	if ntf.id != "" && !ntf.linked {
		if err := tx.LinkNotification(ctx, ntf.id, p.ID); err != nil {
			return fmt.Errorf("link notification %s to payment %s: %w", ntf.id, p.ID, err)
		}
	}
	if p.Status == from {
		return nil
	}
	src := c.Source
	if src == "" {
		src = state.SourceNotification
	}
	e := state.StatusEntry{PaymentID: p.ID, From: from, To: p.Status, Source: src, NotificationID: ntf.id, At: c.Now}
	if err := tx.InsertStatusEntry(ctx, e); err != nil {
		return fmt.Errorf("record the status change of payment %s: %w", p.ID, err)
	}
	return nil
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

// emit inserts the event for a payment whose status moved, when c names
// one and (existing: the payment was stored before) it has none of that
// type yet.
func emit(ctx context.Context, tx StatusTx, c state.StatusChange, res state.StatusResult, existing bool) (state.StatusResult, error) {
	if !res.Changed || c.EventType == "" {
		return res, nil
	}
	ev, ds, err := NewEvent(c, res.Payment)
	if err != nil {
		return state.StatusResult{}, err
	}
	if existing {
		// Unless it has one of that type already: one statement checks
		// and inserts.
		inserted, err := tx.InsertFirstEvent(ctx, ev)
		if err != nil {
			return state.StatusResult{}, fmt.Errorf("insert event %s unless payment %s has a %s event: %w", ev.ID, res.Payment.ID, c.EventType, err)
		}
		if !inserted {
			return res, nil
		}
	} else if err := tx.InsertEvent(ctx, ev); err != nil {
		return state.StatusResult{}, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	for i, d := range ds {
		if err := tx.InsertDelivery(ctx, d); err != nil {
			return state.StatusResult{}, fmt.Errorf("insert delivery of event %s to route %s: %w", ev.ID, d.Route, err)
		}
		ds[i].Event = ev
	}
	res.EventID, res.Deliveries = ev.ID, ds
	return res, nil
}
