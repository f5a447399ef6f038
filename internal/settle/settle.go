// Package settle turns a verified statement from a provider ("payment X is
// now succeeded") into one durable status change: the payment row, the raw
// notification for dedup, and one event fanned out to every matching route,
// all in the store's single ApplyStatus transaction.
//
// Webhook ingest and payment sync both go through a Settler, so an event is
// built and routed the same way whoever learnt of the change. It does not
// talk to providers and does not verify anything: callers hand it only what
// they have already verified.
package settle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Store is what a Settler needs from the store.
type Store interface {
	ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error)
}

// Options configure a Settler.
type Options struct {
	Store Store
	// Routes returns the routes events fan out to, read once per statement
	// (the daemon's current configuration; nil: none).
	Routes func() []*config.Route
	Now    func() time.Time // default time.Now
	// Notify is called after a change emitted an event (wakes delivery workers).
	Notify func()
	// Handoff, when set, makes room for an event's deliveries before the
	// change is stored, so that they are inserted leased to it and sent at
	// once instead of waiting to be claimed (delivery.Dispatcher does).
	Handoff Handoff
}

// Handoff takes the deliveries of the events a Settler stores.
type Handoff interface {
	// Reserve makes room for one delivery to each of routes it can take
	// now and returns their leases (routes it has no room for are left
	// out), and done, which must be called once: with the deliveries the
	// change inserted when it was stored, or nil. done sends the
	// deliveries it made room for and frees the rest.
	Reserve(routes []string) (leases map[string]state.Lease, done func(inserted []state.Delivery))
}

// Settler applies verified status statements.
type Settler struct {
	store   Store
	routes  func() []*config.Route
	now     func() time.Time
	notify  func()
	handoff Handoff
}

// New returns a Settler.
func New(o Options) *Settler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Routes == nil {
		o.Routes = func() []*config.Route { return nil }
	}
	return &Settler{store: o.Store, routes: o.Routes, now: o.Now, notify: o.Notify, handoff: o.Handoff}
}

// Statement is a verified fact about one payment.
type Statement struct {
	ProviderID string // "pesapal.ke"
	Status     providers.PaymentStatus
	// Source is who states it (state.SourceNotification, SourceStatusQuery,
	// ...): the store's transition rule weighs it (only a provider's answer
	// to a query may turn failed into succeeded). Zero means a
	// notification, the least trusted.
	Source state.Source
	// Notification is the raw notification that carried it, or nil (sync).
	Notification *state.Notification
	// CreateIfMissing records a payment this installation did not start
	// (e.g. a push initiated elsewhere that the provider notified us of).
	CreateIfMissing bool
}

// EventType is the event emitted when a payment enters status, or "" when
// that status emits none (unknown, or not a payment status).
func EventType(status state.PaymentStatus) string {
	if !status.Valid() || status == state.StatusUnknown {
		return ""
	}
	return "payment." + string(status)
}

// Apply records st through the store's one transition rule. The result
// says what the rule decided (Outcome; Changed when the status moved),
// whether the notification was a duplicate, and which event was emitted
// (none when the status did not move or the payment already had an event
// for it).
func (s *Settler) Apply(ctx context.Context, st Statement) (state.StatusResult, error) {
	if st.Status.Status == "" {
		return state.StatusResult{}, fmt.Errorf("settle %s payment %q: no status", st.ProviderID, st.Status.Reference)
	}
	status := state.PaymentStatus(st.Status.Status)
	eventType := EventType(status)
	var routes []string
	if eventType != "" {
		for _, r := range s.routes() {
			if r.Matches(st.ProviderID, eventType) {
				routes = append(routes, r.Name)
			}
		}
	}
	// What providers send may echo credentials (client ids, signatures):
	// none of it is stored or forwarded.
	raw := providers.WithoutCredentials(st.Status.Raw)
	var (
		leases  map[string]state.Lease
		handoff = func([]state.Delivery) {}
	)
	if s.handoff != nil && len(routes) > 0 {
		leases, handoff = s.handoff.Reserve(routes)
	}
	res, err := s.store.ApplyStatus(ctx, state.StatusChange{
		Provider:          st.ProviderID,
		Reference:         st.Status.Reference,
		ProviderReference: st.Status.ProviderReference,
		Status:            status,
		Source:            st.Source,
		Amount:            st.Status.Amount,
		Currency:          st.Status.Currency,
		Phone:             st.Status.Phone,
		ConfirmationCode:  st.Status.ConfirmationCode,
		Message:           st.Status.Message,
		Raw:               raw,
		Notification:      st.Notification,
		CreateIfMissing:   st.CreateIfMissing,
		EventType:         eventType,
		Routes:            routes,
		EventPayload: func(p state.Payment, eventID string, at time.Time) ([]byte, error) {
			return EventPayload(p, eventID, eventType, at, raw)
		},
		Leases: leases,
		Now:    s.now().UTC(),
	})
	if err != nil {
		handoff(nil)
		return res, fmt.Errorf("settle %s payment %q: %w", st.ProviderID, st.Status.Reference, err)
	}
	handoff(res.Deliveries)
	if res.EventID != "" && !allLeased(res.Deliveries) {
		s.notify()
	}
	return res, nil
}

// allLeased reports whether there are deliveries and every one was handed
// off: then no worker needs waking to claim one.
func allLeased(ds []state.Delivery) bool {
	if len(ds) == 0 {
		return false
	}
	for _, d := range ds {
		if d.Lease.Owner == "" {
			return false
		}
	}
	return true
}

// Event is the body delivered to routes (docs/events.md).
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is an event's payment snapshot.
type EventData struct {
	EventID           string          `json:"event_id"`
	PaymentID         string          `json:"payment_id"`
	Provider          string          `json:"provider"`
	Reference         string          `json:"reference"`
	ProviderReference string          `json:"provider_reference"`
	Status            string          `json:"status"`
	Amount            string          `json:"amount"`
	Currency          string          `json:"currency"`
	Phone             string          `json:"phone"`
	ConfirmationCode  string          `json:"confirmation_code"`
	Message           string          `json:"message,omitempty"`
	Raw               json.RawMessage `json:"raw"`
}

// EventPayload builds the event body for payment p as it is after the
// change. raw is the provider's own statement (kept verbatim in data.raw);
// it must already be free of secrets.
func EventPayload(p state.Payment, eventID, eventType string, at time.Time, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || !json.Valid(raw) {
		raw = json.RawMessage("{}")
	}
	ev := Event{
		Type:      eventType,
		Timestamp: at.UTC().Truncate(time.Second),
		Data: EventData{
			EventID:           eventID,
			PaymentID:         p.ID,
			Provider:          p.Provider,
			Reference:         p.Reference,
			ProviderReference: p.ProviderReference,
			Status:            string(p.Status),
			Amount:            p.Amount,
			Currency:          p.Currency,
			Phone:             p.Phone,
			ConfirmationCode:  p.ConfirmationCode,
			Message:           p.Message,
			Raw:               raw,
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", eventID, err)
	}
	return b, nil
}
