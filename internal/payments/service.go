package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Store is what the pay API and sync need from the store; state.Store
// satisfies it.
type Store interface {
	Resource(ctx context.Context, address string) (state.Resource, error)
	CreatePayment(ctx context.Context, p state.Payment) error
	Payment(ctx context.Context, id string) (state.Payment, error)
	PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error)
	ListPayments(ctx context.Context, f state.PaymentFilter) ([]state.Payment, error)
	RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error)
	DuePayments(ctx context.Context, now time.Time, limit int) ([]state.Payment, error)
	ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error
	ClaimKeyAndCreatePayment(ctx context.Context, key, requestHash string, now time.Time, p state.Payment) (state.IdempotencyRecord, bool, error)
	CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error
}

// Settler applies a verified provider status (settle.Settler does).
type Settler interface {
	Apply(ctx context.Context, st settle.Statement) (state.StatusResult, error)
}

// Runtime is what one request or one sync of a payment works with: a
// configuration and the provider clients built from it, installed
// together by a reload and read together, once.
type Runtime struct {
	Config *config.Config
	// Payers returns the provider client of a provider ID ("pesapal.ke").
	Payers func(providerID string) (providers.Payer, bool)
}

// Options wire a Service.
type Options struct {
	Store Store
	// Runtime returns the configuration and clients being served.
	Runtime func() *Runtime
	Settler Settler
	Logger  *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Now        func() time.Time

	// InitiateTimeout bounds one provider initiation (default 45 s); when it
	// passes the payment is unknown and the answer is 504.
	InitiateTimeout time.Duration
	// QueryTimeout bounds one status query (default 30 s).
	QueryTimeout time.Duration
	// SyncBatch is how many due payments one Sync round takes (default 100),
	// SyncWorkers how many it asks about at once (default 4).
	SyncBatch   int
	SyncWorkers int
}

// Service is the pay API and payment sync.
type Service struct {
	store   Store
	runtime func() *Runtime
	settler Settler
	log     *slog.Logger
	now     func() time.Time
	m       *metrics
	syncMu  sync.Mutex // one Sync at a time per process

	initTimeout  time.Duration
	queryTimeout time.Duration
	syncBatch    int
	syncWorkers  int
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
	if o.Settler == nil {
		missing = append(missing, "Settler")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("payments: missing options: %s", strings.Join(missing, ", "))
	}
	s := &Service{
		store:        o.Store,
		runtime:      o.Runtime,
		settler:      o.Settler,
		log:          o.Logger,
		now:          o.Now,
		initTimeout:  o.InitiateTimeout,
		queryTimeout: o.QueryTimeout,
		syncBatch:    o.SyncBatch,
		syncWorkers:  o.SyncWorkers,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.initTimeout <= 0 {
		s.initTimeout = 45 * time.Second
	}
	if s.queryTimeout <= 0 {
		s.queryTimeout = 30 * time.Second
	}
	if s.syncBatch <= 0 {
		s.syncBatch = 100
	}
	if s.syncWorkers <= 0 {
		s.syncWorkers = 4
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("payments: register metrics: %w", err)
	}
	s.m = m
	return s, nil
}

// payer returns the current client of a provider ID (a request that also
// reads the configuration takes both from one Runtime instead).
func (s *Service) payer(providerID string) (providers.Payer, bool) {
	return s.runtime().Payers(providerID)
}

// Payment is a payment as the API shows it.
type Payment struct {
	ID                string    `json:"id"`
	Provider          string    `json:"provider"`
	Reference         string    `json:"reference"`
	Status            string    `json:"status"`
	Amount            string    `json:"amount"`
	Currency          string    `json:"currency"`
	Phone             string    `json:"phone,omitempty"`
	Description       string    `json:"description,omitempty"`
	MNO               string    `json:"mno,omitempty"`
	IPN               string    `json:"ipn,omitempty"`
	ProviderReference string    `json:"provider_reference"`
	RedirectURL       string    `json:"redirect_url"`
	ConfirmationCode  string    `json:"confirmation_code,omitempty"`
	Message           string    `json:"message,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// View converts a stored payment to its API form.
func View(p state.Payment) Payment {
	return Payment{
		ID:                p.ID,
		Provider:          p.Provider,
		Reference:         p.Reference,
		Status:            string(p.Status),
		Amount:            p.Amount,
		Currency:          p.Currency,
		Phone:             p.Phone,
		Description:       p.Description,
		MNO:               p.MNO,
		IPN:               p.IPN,
		ProviderReference: p.ProviderReference,
		RedirectURL:       p.RedirectURL,
		ConfirmationCode:  p.ConfirmationCode,
		Message:           p.Message,
		CreatedAt:         p.CreatedAt.UTC(),
		UpdatedAt:         p.UpdatedAt.UTC(),
	}
}

// notificationID reads the ipn_id of ipn.NAME from state.
func (s *Service) notificationID(ctx context.Context, ipn string) (string, error) {
	r, err := s.store.Resource(ctx, "ipn."+ipn)
	if err != nil {
		return "", fmt.Errorf("read ipn.%s from state: %w", ipn, err)
	}
	var attrs struct {
		IPNID string `json:"ipn_id"`
	}
	if err := json.Unmarshal(r.Attributes, &attrs); err != nil {
		return "", fmt.Errorf("decode ipn.%s attributes: %w", ipn, err)
	}
	if attrs.IPNID == "" {
		return "", fmt.Errorf("ipn.%s has no ipn_id in state: %w", ipn, state.ErrNotFound)
	}
	return attrs.IPNID, nil
}

// newPaymentID is "pay_" + 26 lowercase base32 characters that begin with
// the time (state.NewID: the store's indexes on payment IDs stay compact).
func newPaymentID() string { return state.NewID("pay_") }

// isTimeout reports whether err is a deadline passing (ours or the client's).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
