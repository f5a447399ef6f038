package payouts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Store is what payouts need from the store; state.Store satisfies it.
type Store interface {
	CreatePayout(ctx context.Context, p state.Payout, lim state.PayoutLimit) error
	Payout(ctx context.Context, id string) (state.Payout, error)
	PayoutByReference(ctx context.Context, provider, reference string) (state.Payout, error)
	ListPayouts(ctx context.Context, f state.PayoutFilter) ([]state.Payout, error)
	ApplyPayoutStatus(ctx context.Context, c state.PayoutChange) (state.PayoutResult, error)
	DuePayouts(ctx context.Context, now time.Time, limit int) ([]state.Payout, error)
	SchedulePayoutSync(ctx context.Context, id string, next time.Time, attempts int) error
	PayoutTotal(ctx context.Context, currency string, since time.Time) (string, error)
	ClaimIdempotencyKey(ctx context.Context, key, requestHash string, now time.Time) (state.IdempotencyRecord, bool, error)
	CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error
	ReleaseIdempotencyKey(ctx context.Context, key string) error
	AppendAudit(ctx context.Context, e state.AuditEntry) error
	ListAudit(ctx context.Context, f state.AuditFilter) ([]state.AuditEntry, error)
	Payment(ctx context.Context, id string) (state.Payment, error)
	PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error)
}

// PaymentSettler applies a statement about a payment through the store's
// transition rule (settle.Settler does): refunds move the payment to
// partially_refunded or refunded with it.
type PaymentSettler interface {
	Apply(ctx context.Context, st settle.Statement) (state.StatusResult, error)
}

// Runtime is what one request, one sync of a payout or one notification
// works with: a configuration (providers, routes, the payouts block) and
// the clients built from it, installed together by a reload and read
// together, once.
type Runtime struct {
	Config *config.Config
	// Providers returns the payout client of a provider ID, or false when
	// that provider cannot pay out. Nil: none.
	Providers func(providerID string) (Provider, bool)
	// Refunders returns the refund client of a provider ID whose
	// collections are refunded by the provider itself (PesaPal), or false.
	// Nil: none.
	Refunders func(providerID string) (*Refunder, bool)
}

// provider is r.Providers(providerID), false when there are none.
func (r *Runtime) provider(providerID string) (Provider, bool) {
	if r.Providers == nil {
		return nil, false
	}
	return r.Providers(providerID)
}

// refunder is r.Refunders(providerID), false when there are none.
func (r *Runtime) refunder(providerID string) (*Refunder, bool) {
	if r.Refunders == nil {
		return nil, false
	}
	return r.Refunders(providerID)
}

// Options wire a Service.
type Options struct {
	Store Store
	// Runtime returns the configuration and clients being served.
	Runtime func() *Runtime
	// Settler moves a refunded payment's status; nil refuses refunds.
	Settler PaymentSettler
	// Notify is called after a change emitted an event (wakes delivery).
	Notify func()
	Logger *slog.Logger
	Now    func() time.Time

	// CreateTimeout bounds one create call (default 45 s): when it passes
	// the payout is unknown. PreviewTimeout bounds a preview and a status
	// query (default 30 s).
	CreateTimeout  time.Duration
	PreviewTimeout time.Duration
	// SyncBatch is how many due payouts one Sync round takes (default 100).
	SyncBatch int
}

// Service is the payouts API, payout sync and payout webhook settlement.
type Service struct {
	store   Store
	runtime func() *Runtime
	settler PaymentSettler
	notify  func()
	log     *slog.Logger
	now     func() time.Time
	syncMu  sync.Mutex

	createTimeout  time.Duration
	previewTimeout time.Duration
	syncBatch      int
}

// New checks o and returns a Service; it starts nothing.
func New(o Options) (*Service, error) {
	var missing []string
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if o.Runtime == nil {
		missing = append(missing, "Runtime")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("payouts: missing options: %s", strings.Join(missing, ", "))
	}
	s := &Service{
		store: o.Store, runtime: o.Runtime, settler: o.Settler, notify: o.Notify, log: o.Logger, now: o.Now,
		createTimeout: o.CreateTimeout, previewTimeout: o.PreviewTimeout, syncBatch: o.SyncBatch,
	}
	if s.notify == nil {
		s.notify = func() {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.createTimeout <= 0 {
		s.createTimeout = 45 * time.Second
	}
	if s.previewTimeout <= 0 {
		s.previewTimeout = 30 * time.Second
	}
	if s.syncBatch <= 0 {
		s.syncBatch = 100
	}
	return s, nil
}

// Destination is where a payout goes, as the API shows it.
type Destination struct {
	Type          string `json:"type"`
	Phone         string `json:"phone,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	AccountName   string `json:"account_name,omitempty"`
	Bank          string `json:"bank,omitempty"`
}

// Payout is a payout as the API shows it.
type Payout struct {
	ID                string      `json:"id"`
	Provider          string      `json:"provider"`
	Reference         string      `json:"reference"`
	Status            string      `json:"status"`
	Amount            string      `json:"amount"`
	Currency          string      `json:"currency"`
	Fee               string      `json:"fee"`
	Destination       Destination `json:"destination"`
	ReceiverName      string      `json:"receiver_name"`
	Channel           string      `json:"channel,omitempty"`
	Description       string      `json:"description,omitempty"`
	PaymentID         string      `json:"payment_id,omitempty"`
	ProviderReference string      `json:"provider_reference"`
	Message           string      `json:"message,omitempty"`
	CreatedAt         time.Time   `json:"created_at"`
	UpdatedAt         time.Time   `json:"updated_at"`
}

// View converts a stored payout to its API form.
func View(p state.Payout) Payout {
	return Payout{
		ID: p.ID, Provider: p.Provider, Reference: p.Reference, Status: p.Status, Amount: p.Amount, Currency: p.Currency,
		Fee: p.Fee, ReceiverName: p.ReceiverName, Channel: p.Channel, Description: p.Description, PaymentID: p.PaymentID,
		ProviderReference: p.ProviderReference, Message: p.Message,
		Destination: Destination{Type: p.DestinationType, Phone: p.Phone, AccountNumber: p.AccountNumber, AccountName: p.AccountName, Bank: p.Bank},
		CreatedAt:   p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}
}

// Event is the body delivered to routes for a payout event.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is an event's payout snapshot.
type EventData struct {
	EventID string `json:"event_id"`
	Payout
	Raw json.RawMessage `json:"raw"`
}

// eventPayload builds the body of a payout event (the payout after the change).
func eventPayload(p state.Payout, eventID, eventType string, at time.Time) ([]byte, error) {
	raw := p.Raw
	if len(raw) == 0 || !json.Valid(raw) {
		raw = json.RawMessage("{}")
	}
	b, err := json.Marshal(Event{Type: eventType, Timestamp: at.UTC().Truncate(time.Second), Data: EventData{EventID: eventID, Payout: View(p), Raw: raw}})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", eventID, err)
	}
	return b, nil
}

// routes returns a function naming the routes of provider that take an event type.
func (s *Service) routes(provider string) func(eventType string) []string {
	cfg := s.runtime().Config
	return func(eventType string) []string {
		var out []string
		for _, r := range cfg.Routes {
			if r.Matches(provider, eventType) {
				out = append(out, r.Name)
			}
		}
		return out
	}
}

// ApplyStatus records a statement about a payout the way sync does:
// through the store's transition rule, with the payout's event to its
// routes, waking delivery, and a refund that succeeded moves its payment.
// Reconciliation heals payouts with it.
func (s *Service) ApplyStatus(ctx context.Context, c state.PayoutChange) (state.PayoutResult, error) {
	return s.apply(ctx, c)
}

// apply records an outcome through the store's transition rule and wakes
// delivery when it emitted an event.
func (s *Service) apply(ctx context.Context, c state.PayoutChange) (state.PayoutResult, error) {
	provider := c.Provider
	if provider == "" {
		if p, err := s.store.Payout(ctx, c.ID); err == nil {
			provider = p.Provider
		}
	}
	c.Routes = s.routes(provider)
	c.EventPayload = eventPayload
	if c.Now.IsZero() {
		c.Now = s.now().UTC()
	}
	res, err := s.store.ApplyPayoutStatus(ctx, c)
	if err != nil {
		return res, err
	}
	if res.EventID != "" {
		s.notify()
		s.log.Info("payout status changed", "payout_id", res.Payout.ID, "provider", res.Payout.Provider,
			"reference", res.Payout.Reference, "status", res.Payout.Status, "payment_id", res.Payout.PaymentID, "event_id", res.EventID)
	}
	if res.Payout.PaymentID != "" && res.Payout.Status == state.PayoutSucceeded {
		// Idempotent: a payment already refunded stays so (Same).
		if err := s.settleRefunded(ctx, res.Payout.PaymentID); err != nil {
			s.log.Error("record the refunded payment", "payment_id", res.Payout.PaymentID, "payout_id", res.Payout.ID, "error", err)
		}
	}
	return res, nil
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
