// Package state defines the store finconnectd keeps everything durable in:
// reconcile state (resources, lineage, serial, the state lock), payments,
// idempotency keys, the notification inbox and the event outbox.
//
// This package holds the interface and its types only; implementations live
// in state/sqlite (default) and state/postgres, and statetest holds the
// conformance suite every implementation must pass. Nothing above the store
// speaks SQL. This package imports nothing internal and must not.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors callers branch on (wrapped; use errors.Is).
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key is taken (payment reference, idempotency key).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a statement carries a malformed field (an amount that is
	// not plain decimal money, an unknown status or source).
	ErrInvalid = errors.New("invalid statement")
	// ErrMismatch: a statement contradicts the stored payment (another
	// amount or currency).
	ErrMismatch = errors.New("statement does not match the payment")
)

// Store is everything finconnectd persists. Implementations are safe for
// concurrent use by many goroutines and, for postgres, many processes.
type Store interface {
	StateStore
	PaymentStore
	OutboxStore
	PayoutStore
	AuditStore
	ReconStore
	ScheduleStore
	// Ping reports whether the store is reachable (readyz).
	Ping(ctx context.Context) error
	Close() error
}

// ---------------------------------------------------------------------------
// Reconcile state

// Meta identifies a state's history: Lineage is random and fixed at creation,
// Serial is bumped by every resource write.
type Meta struct {
	Lineage string
	Serial  int64
}

// Resource is one managed object, e.g. "ipn.orders" or "key.azampay.tz".
// Attributes hold what the provider returned and non-secret config only.
type Resource struct {
	Address    string // "ipn.orders"
	Type       string // "ipn" | "key"
	Attributes json.RawMessage
	UpdatedAt  time.Time
}

// LockInfo describes the holder of the state lock.
type LockInfo struct {
	ID        string // random, given by the locker
	Host      string
	PID       int
	Operation string // "apply", "reconcile", ...
	Since     time.Time
	// Scope is where PID means the holder's process (procscope.Scope: the
	// machine boot and PID namespace); "" when unknown. A lock is taken
	// over from a gone PID only by a store in the same Host and the same
	// non-empty Scope. (Added after the first release: older lock rows
	// read back with Scope "".)
	Scope string
}

// LockedError is returned by Lock when someone else holds the lock.
type LockedError struct{ Holder LockInfo }

func (e *LockedError) Error() string {
	return fmt.Sprintf("state is locked by %s (pid %d on %s) since %s, lock ID %s",
		e.Holder.Operation, e.Holder.PID, e.Holder.Host, e.Holder.Since.UTC().Format(time.RFC3339), e.Holder.ID)
}

// StateStore is the reconcile state.
type StateStore interface {
	// Meta returns lineage and serial; a new store gets a fresh lineage at open.
	Meta(ctx context.Context) (Meta, error)
	Resources(ctx context.Context) ([]Resource, error) // ordered by address
	Resource(ctx context.Context, address string) (Resource, error)
	// PutResource inserts or replaces a resource and bumps the serial, in one transaction.
	PutResource(ctx context.Context, r Resource) (Meta, error)
	// DeleteResource removes a resource (ErrNotFound if absent) and bumps the serial.
	DeleteResource(ctx context.Context, address string) (Meta, error)

	// Lock takes the state lock or returns *LockedError naming the holder. A
	// lock held by a process that no longer exists is taken over when the
	// store can see it: same host and same non-empty LockInfo.Scope as the
	// store's own process (see LockInfo.Scope).
	Lock(ctx context.Context, info LockInfo) error
	// Unlock releases the lock if id holds it (no error if nobody holds it).
	Unlock(ctx context.Context, id string) error
	// ForceUnlock releases the lock whoever holds it, if its ID is id.
	ForceUnlock(ctx context.Context, id string) error
	// LockHolder reports the current holder, if any.
	LockHolder(ctx context.Context) (LockInfo, bool, error)
}

// ---------------------------------------------------------------------------
// Payments, idempotency and status changes

// Payment is one payment known to this installation.
type Payment struct {
	ID                string        // "pay_" + random
	Provider          string        // provider ID, "pesapal.ke"
	Reference         string        // merchant reference, unique per provider
	Status            PaymentStatus // moves only as Transition allows
	Amount            string        // decimal string (money.Parse)
	Currency          string
	Phone             string
	Description       string
	MNO               string // AzamPay provider (network)
	IPN               string // ipn name used (PesaPal)
	ProviderReference string
	RedirectURL       string
	ConfirmationCode  string
	Message           string          // provider's latest human text
	Raw               json.RawMessage // latest provider answer (no secrets)
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// Sync bookkeeping: when to ask the provider next, and how often we did.
	NextSyncAt   time.Time
	SyncAttempts int
}

// PaymentFilter selects payments; zero fields match everything.
type PaymentFilter struct {
	Provider  string
	Reference string
	Status    PaymentStatus
	Limit     int // 0 = implementation default (100)
	// After is a payment ID: list only the payments after it in the
	// list's order (newest first), so pages stay stable while payments
	// are added. ErrNotFound when no payment has this ID.
	After string
}

// PaymentInitiation records what the provider answered to an initiation
// (or that its outcome is unknown). RecordInitiation applies it through
// Transition with SourceInitiation: a payment a notification or a sync
// has already moved on keeps its status and only gains what it is missing
// (ProviderReference, RedirectURL). It never emits an event.
type PaymentInitiation struct {
	Status            PaymentStatus // pending | unknown | failed
	ProviderReference string
	RedirectURL       string
	Message           string
	Raw               json.RawMessage
	NextSyncAt        time.Time

	// IdempotencyKey, when set, is completed in the same transaction (as
	// CompleteIdempotencyKey would) with the answer Answer builds from the
	// payment as recorded, so the answer and the payment commit together.
	// A key that is not claimed is left as it is. Answer may be called
	// more than once (the last call is what was committed) and must only
	// build its answer from p.
	IdempotencyKey string
	Answer         func(p Payment) (statusCode int, body []byte)
}

// Notification is a raw provider notification, kept for audit and dedup.
type Notification struct {
	ID         string // "ntf_" + random
	Route      string
	Provider   string
	DedupKey   string // e.g. provider reference + status; unique per provider
	Body       []byte
	ReceivedAt time.Time
	// PaymentID is the payment it was about, once ApplyStatus found or
	// created it ("" for a payout's, or one that matched no payment).
	PaymentID string
}

// StatusEntry is one change of a payment's status.
type StatusEntry struct {
	PaymentID      string
	From           PaymentStatus // "" when the statement created the payment
	To             PaymentStatus
	Source         Source
	NotificationID string // the notification that said so, when one did
	At             time.Time
}

// StatusChange is a verified statement about a payment's status, from a
// webhook, a sync, a refresh or anything later. ApplyStatus carries it out
// in ONE transaction: record the notification (if any; a known DedupKey
// makes the whole change a duplicate that changes nothing), find or create
// the payment, apply Transition(payment status, Status, Source), and when
// the status moved insert one event and one pending delivery per route —
// unless the payment already has an event of that type (one event per
// status reached, whichever path stated it first).
//
// A Refused statement leaves the status and emits nothing, but fills in
// what the payment is missing (provider reference, confirmation code,
// amount, currency, phone). A statement of succeeded or reversed whose
// Amount or Currency is malformed is an error wrapping ErrInvalid; one
// whose amount or currency differs from the payment's wraps ErrMismatch;
// either way nothing changes.
type StatusChange struct {
	Provider          string // provider ID
	Reference         string // lookup key; if empty, ProviderReference is used
	ProviderReference string
	Status            PaymentStatus
	Source            Source // who says so; zero means SourceNotification (the least trusted)
	Amount            string // decimal text; filled into the payment when it has none
	Currency          string
	Phone             string
	ConfirmationCode  string
	Message           string
	Raw               json.RawMessage
	Notification      *Notification // optional
	// CreateIfMissing creates the payment (status from the change) when none
	// matches; otherwise ErrNotFound.
	CreateIfMissing bool
	// EventType is the event to emit on change ("payment.succeeded"); empty = no event.
	EventType string
	// Routes receive one delivery each when an event is emitted.
	Routes []string
	// EventPayload builds the event body from the updated payment and event
	// id, inside the transaction.
	EventPayload func(p Payment, eventID string, at time.Time) ([]byte, error)
	// Leases are, by route, the leases the event's deliveries are
	// inserted under: a dispatcher that made room for them sends them as
	// soon as the change is stored (StatusResult.Deliveries hands them
	// over), without claiming them. A route left out gets an unleased
	// delivery, for whichever worker claims it.
	Leases map[string]Lease
	Now    time.Time
}

// Lease is a delivery's lease: only Owner attempts it until Until.
type Lease struct {
	Owner string
	Until time.Time
}

// StatusResult says what ApplyStatus did.
type StatusResult struct {
	Payment   Payment
	Outcome   Outcome // what Transition decided (Same for a duplicate)
	Changed   bool    // status changed (Outcome == Moved)
	Duplicate bool    // the notification's DedupKey was already recorded
	EventID   string  // the event emitted, or ""
	// Deliveries are the emitted event's deliveries as inserted (their
	// Event and Lease filled), in the order of StatusChange.Routes.
	Deliveries []Delivery
}

// IdempotencyRecord is a stored Idempotency-Key.
type IdempotencyRecord struct {
	Key         string
	RequestHash string
	Done        bool // false while the first request is in flight
	StatusCode  int
	Body        []byte
	PaymentID   string
	CreatedAt   time.Time
}

// PaymentStore holds payments and the pay API's idempotency keys.
type PaymentStore interface {
	// CreatePayment inserts p; ErrConflict when (provider, reference) exists.
	CreatePayment(ctx context.Context, p Payment) error
	Payment(ctx context.Context, id string) (Payment, error)
	PaymentByReference(ctx context.Context, provider, reference string) (Payment, error)
	ListPayments(ctx context.Context, f PaymentFilter) ([]Payment, error)
	RecordInitiation(ctx context.Context, id string, in PaymentInitiation, now time.Time) (Payment, error)
	// DuePayments returns pending/unknown payments whose NextSyncAt <= now.
	DuePayments(ctx context.Context, now time.Time, limit int) ([]Payment, error)
	ScheduleSync(ctx context.Context, id string, next time.Time, attempts int) error
	ApplyStatus(ctx context.Context, c StatusChange) (StatusResult, error)
	// PaymentHistory lists the status changes of a payment, oldest first
	// (at most 1,000).
	// ApplyStatus and RecordInitiation record one in the transaction that
	// changes the status (a payment created by a statement: From is "").
	PaymentHistory(ctx context.Context, id string) ([]StatusEntry, error)
	// PaymentNotifications lists the provider notifications an ApplyStatus
	// recorded for a payment (its duplicates excepted), oldest first (at
	// most 1,000).
	PaymentNotifications(ctx context.Context, id string) ([]Notification, error)

	// ClaimIdempotencyKey stores key as in flight and returns (rec, true), or
	// returns the existing record and false.
	ClaimIdempotencyKey(ctx context.Context, key, requestHash string, now time.Time) (IdempotencyRecord, bool, error)
	// ClaimKeyAndCreatePayment is ClaimIdempotencyKey and, when the key was
	// claimed, CreatePayment(p), in one transaction: a key already stored
	// returns its record and false and writes nothing; a claimed key whose
	// payment cannot be written is not kept either, except when p's
	// (provider, reference) is taken: then the key stays claimed (in
	// flight, to be completed with the answer) and the error wraps
	// ErrConflict.
	ClaimKeyAndCreatePayment(ctx context.Context, key, requestHash string, now time.Time, p Payment) (IdempotencyRecord, bool, error)
	// CompleteIdempotencyKey stores the answer given to the first request.
	CompleteIdempotencyKey(ctx context.Context, key string, statusCode int, body []byte, paymentID string) error
	// ReleaseIdempotencyKey forgets an in-flight key (the request failed before anything was started).
	ReleaseIdempotencyKey(ctx context.Context, key string) error
}

// ---------------------------------------------------------------------------
// Events and deliveries (the outbox)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its first or next attempt
	DeliveryDelivered = "delivered" // a 2xx ended it
	DeliveryDead      = "dead"      // attempts or age exhausted, or 410; replayable
)

// Event is one payment status change, the body every route receives.
type Event struct {
	ID        string // "evt_" + random; the webhook-id, stable across retries
	Type      string
	PaymentID string
	Provider  string
	Payload   []byte // the JSON body delivered
	CreatedAt time.Time
}

// Delivery is one event on its way to one route.
type Delivery struct {
	ID             string
	EventID        string
	Route          string
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	LastStatusCode int
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Event          Event // filled by ClaimDeliveries and EventDetail
	// Lease is the lease it was inserted under (StatusChange.Leases);
	// reads leave it zero.
	Lease Lease
}

// Attempt is one delivery attempt.
type Attempt struct {
	DeliveryID string
	N          int
	At         time.Time
	Duration   time.Duration
	StatusCode int    // 0 when there was no response
	Error      string // never a secret
}

// AttemptResult is what a worker reports after an attempt.
type AttemptResult struct {
	DeliveryID string
	Owner      string // lease owner that claimed it
	Attempt    Attempt
	Status     string    // new status: pending (retry at NextAttemptAt), delivered or dead
	NextAt     time.Time // when Status is pending
}

// Claim asks RecordAttempts to claim deliveries as ClaimDeliveries does,
// in the same transaction. A zero Limit claims nothing (unlike
// ClaimDeliveries, where it means the default).
type Claim struct {
	Route string
	Owner string
	Now   time.Time
	Lease time.Duration
	Limit int
}

// EventFilter selects deliveries for listing; zero fields match everything.
type EventFilter struct {
	Status string // delivery status
	Route  string
	Limit  int // 0 = 100
	// After is a delivery ID: list only the deliveries after it in the
	// list's order (newest first). ErrNotFound when there is no such
	// delivery.
	After string
}

// QueueStats is for metrics: how much is waiting and for how long.
type QueueStats struct {
	Pending       int
	OldestPending time.Time // zero when none
}

// OutboxStore holds events, deliveries and attempts.
type OutboxStore interface {
	// ClaimDeliveries leases up to limit due pending deliveries of one route
	// (NextAttemptAt <= now, no live lease) to owner until now+lease. A
	// crashed owner's rows come back when the lease ends, or earlier when
	// ReleaseLeases releases them.
	ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// RecordAttempt stores an attempt and the delivery's new status, and releases the lease.
	RecordAttempt(ctx context.Context, r AttemptResult) error
	// RecordAttempts records several attempts in one transaction, each
	// as RecordAttempt would, in order (a second result for a delivery
	// finds the lease the first released), and then, when claim.Limit is
	// positive, claims in the same transaction what ClaimDeliveries would
	// with claim's arguments. errs[i] is rs[i]'s own failure (a lost
	// lease wraps ErrConflict, an unknown delivery ErrNotFound), which
	// stores nothing of rs[i]; every result without one is committed, all
	// together and with the claim, when err is nil. A non-nil err (the
	// transaction failed) means nothing was recorded or claimed.
	RecordAttempts(ctx context.Context, rs []AttemptResult, claim Claim) (errs []error, claimed []Delivery, err error)
	// ReleaseLeases ends the leases still live at now (zero: the store's
	// clock) of every owner dead reports as dead, so that deliveries a
	// crashed process had claimed can be claimed again at once rather
	// than when their lease runs out. Only the lease goes: the deliveries
	// stay pending, due as they were, with their attempts; delivered and
	// dead deliveries are never touched. It returns how many deliveries
	// it released per owner (owners with none are left out). dead is
	// called once per distinct owner of a live lease, inside the store's
	// write transaction: it must be quick and must not use the store. An
	// owner that is still running and reports an attempt on a released
	// delivery gets the ErrConflict of a lost lease.
	ReleaseLeases(ctx context.Context, now time.Time, dead func(owner string) bool) (map[string]int, error)
	// ListDeliveries lists deliveries (with their event) newest first.
	ListDeliveries(ctx context.Context, f EventFilter) ([]Delivery, error)
	// EventDetail returns an event, its deliveries and their attempts.
	EventDetail(ctx context.Context, id string) (Event, []Delivery, []Attempt, error)
	// PaymentEvents lists the events about one payment (or payout: its
	// ID is the events' PaymentID too), newest first, at most limit
	// (0 = 100); none for an ID no event names.
	PaymentEvents(ctx context.Context, paymentID string, limit int) ([]Event, error)
	// ReplayEvent puts every delivery of the event back to pending, due now,
	// with its attempt budget restarted. ErrNotFound for an unknown event.
	ReplayEvent(ctx context.Context, id string, now time.Time) error
	// NextDue returns the earliest NextAttemptAt among pending deliveries of a
	// route (zero when none), so workers can sleep until then.
	NextDue(ctx context.Context, route string) (time.Time, error)
	Stats(ctx context.Context) (QueueStats, error)
}
