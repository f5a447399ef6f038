package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ---------------------------------------------------------------------------
// Payouts: money finconnectd sends out (a provider payout, or a refund paid
// as a payout to the payer).

// Payout statuses. A payout moves forward only:
//
//	pending  -> succeeded | failed | reversed | unknown
//	unknown  -> succeeded | failed | reversed | pending
//	failed   -> succeeded (only on the provider's own status query)
//	succeeded -> reversed
//	reversed -> nothing
const (
	PayoutPending   = "pending"
	PayoutSucceeded = "succeeded"
	PayoutFailed    = "failed"
	PayoutReversed  = "reversed"
	PayoutUnknown   = "unknown" // the create call's outcome is not known: never re-sent, settled by sync
)

// Payout destination types.
const (
	DestinationMobileMoney = "mobile_money"
	DestinationBank        = "bank"
	// DestinationOriginal: a refund the provider pays back the way the
	// payment came (PesaPal's refund), not a payout.
	DestinationOriginal = "original"
)

// Payout is one payout. Amount is what the receiver gets; Fee what the
// provider charges on top (both decimal strings, Fee "" until known).
type Payout struct {
	ID                string // "po_" + random
	Provider          string // provider ID, "clickpesa.tz"
	Reference         string // merchant reference, unique per provider (payouts only)
	Status            string
	Amount            string
	Currency          string
	Fee               string
	DestinationType   string // mobile_money | bank
	Phone             string // mobile money: 2557XXXXXXXX
	AccountNumber     string // bank
	AccountName       string // bank: the name given by the caller
	Bank              string // bank: BIC
	ReceiverName      string // the name the provider resolved
	Channel           string // the provider's channel ("MPESA TANZANIA", "CRDB BANK PLC")
	Description       string
	PaymentID         string // set when the payout refunds a payment
	Token             string // name of the API token that asked for it
	ProviderReference string
	Message           string          // provider's latest human text
	Raw               json.RawMessage // latest provider answer (no secrets)
	CreatedAt         time.Time
	UpdatedAt         time.Time
	NextSyncAt        time.Time
	SyncAttempts      int
}

// PayoutFilter selects payouts; zero fields match everything.
type PayoutFilter struct {
	Provider  string
	Reference string
	Status    string
	PaymentID string
	Limit     int // 0 = implementation default (100)
}

// PayoutLimit bounds, per currency, how much CreatePayout lets out within
// a rolling window. The zero value is no limit.
type PayoutLimit struct {
	// MaxPerWindow is a decimal string ("5000000"); "" = unlimited.
	MaxPerWindow string
	// Window is how far back payouts count (default 24 h).
	Window time.Duration
	// RefundOf, for a payout that refunds a payment (PaymentID set), is
	// the payment's amount: the payment's refunds (all but failed ones)
	// and this one may not take more than it. "" = not checked.
	RefundOf string
}

// RefundError is CreatePayout's refusal of a refund that would take the
// payment's refunds past the payment's amount. Nothing was stored.
type RefundError struct {
	PaymentID string
	Amount    string // the payment's amount
	Refunded  string // what its refunds (all but failed ones) already take
	Left      string // what may still be refunded (never negative)
}

func (e *RefundError) Error() string {
	return fmt.Sprintf("refund over payment %s's amount of %s: %s already refunded, %s left", e.PaymentID, e.Amount, e.Refunded, e.Left)
}

// LimitError is CreatePayout's refusal: the payout would take the
// currency's total within the window over the limit. Nothing was stored.
type LimitError struct {
	Currency  string
	Max       string // the limit
	Used      string // what payouts within the window already take
	Allowance string // what is left (Max - Used, never negative)
	Window    time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("payout over the %s limit of %s per %s: %s used, %s left", e.Currency, e.Max, e.Window, e.Used, e.Allowance)
}

// PayoutChange is a statement about a payout: what the provider answered
// to its create call, a verified webhook, or a status query.
// ApplyPayoutStatus carries it out in ONE transaction: record the
// notification (a known DedupKey makes the change a duplicate that
// changes nothing), move the status forward if the transition is allowed,
// fill in what is missing, and when the status changed to succeeded,
// failed or reversed insert one event ("payout.<status>") and one pending
// delivery per route.
type PayoutChange struct {
	// ID finds the payout; when empty, (Provider, Reference).
	ID        string
	Provider  string
	Reference string
	// Status is the new status; "" changes no status (fills fields only).
	Status string
	// FromQuery: the statement is the provider's own answer to a status
	// query, the only word that may turn a failed payout into a succeeded one.
	FromQuery         bool
	ProviderReference string
	Fee               string
	ReceiverName      string
	Channel           string
	Message           string
	Raw               json.RawMessage
	Notification      *Notification // optional
	// NextSyncAt, when not zero, is when sync asks next.
	NextSyncAt time.Time
	// Routes returns the routes an event of this type goes to.
	Routes func(eventType string) []string
	// EventPayload builds the event body inside the transaction.
	EventPayload func(p Payout, eventID, eventType string, at time.Time) ([]byte, error)
	Now          time.Time
}

// PayoutResult says what ApplyPayoutStatus did.
type PayoutResult struct {
	Payout    Payout
	Changed   bool   // status changed
	Duplicate bool   // the notification's DedupKey was already recorded
	EventID   string // the event emitted, or ""
}

// PayoutStore holds payouts.
type PayoutStore interface {
	// CreatePayout inserts p (status pending unless set) before the
	// provider is called. It is refused with ErrConflict when (provider,
	// reference) exists, and with *LimitError when p.Amount plus the
	// amounts of the currency's payouts created within lim.Window (all
	// but failed ones) exceeds lim.MaxPerWindow; the check and the insert
	// are one atomic step, also across processes sharing the store. A
	// refund (p.PaymentID set, lim.RefundOf set) that would take the
	// payment's refunds past lim.RefundOf is refused with *RefundError,
	// in the same atomic step.
	CreatePayout(ctx context.Context, p Payout, lim PayoutLimit) error
	Payout(ctx context.Context, id string) (Payout, error)
	PayoutByReference(ctx context.Context, provider, reference string) (Payout, error)
	// ListPayouts lists payouts, newest first.
	ListPayouts(ctx context.Context, f PayoutFilter) ([]Payout, error)
	ApplyPayoutStatus(ctx context.Context, c PayoutChange) (PayoutResult, error)
	// DuePayouts returns pending/unknown payouts whose NextSyncAt <= now.
	DuePayouts(ctx context.Context, now time.Time, limit int) ([]Payout, error)
	SchedulePayoutSync(ctx context.Context, id string, next time.Time, attempts int) error
	// PayoutTotal is what CreatePayout counts against a limit: the sum of
	// the currency's payouts (all but failed) created after since.
	PayoutTotal(ctx context.Context, currency string, since time.Time) (string, error)
}

// ---------------------------------------------------------------------------
// Audit trail of money-out requests (append-only: the store offers no way to
// change or delete an entry, and the tables refuse it).

// AuditEntry is one money-out request and what came of it.
type AuditEntry struct {
	ID      string // "aud_" + random
	At      time.Time
	Token   string // name of the API token that made the request
	Action  string // "payout.create", "refund.create", "payment.cancel"
	Subject string // the payout, refund or payment it is about, "" when none was stored
	Request json.RawMessage
	Result  string // "created", "failed", "unknown", "rejected", "refused", "replayed", ...
	Status  int    // HTTP status answered
	Detail  string
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Token   string
	Action  string
	Subject string
	Limit   int // 0 = implementation default (100)
}

// AuditStore is the append-only audit trail.
type AuditStore interface {
	// AppendAudit stores e (a zero At is now, an empty ID a new one).
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit lists entries, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
