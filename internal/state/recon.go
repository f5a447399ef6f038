package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ---------------------------------------------------------------------------
// Reconciliation: runs that compare our payments with the provider's own
// records over a time window, and the differences they find.

// DiffClass classifies a difference between our records and a provider's.
type DiffClass string

// Difference classes.
const (
	// DiffMissingAtProvider: we hold a payment the provider has no record of.
	DiffMissingAtProvider DiffClass = "missing_at_provider"
	// DiffUnknownToUs: the provider holds a transaction we never started
	// or never heard of (dashboard, payment link).
	DiffUnknownToUs DiffClass = "unknown_to_us"
	// DiffStatusDiffers: both sides hold the payment in statuses that
	// disagree in a way the provider's word cannot settle by itself.
	DiffStatusDiffers DiffClass = "status_differs"
	// DiffAmountDiffers: the amount or the currency differs.
	DiffAmountDiffers DiffClass = "amount_differs"
	// DiffReversedAfterSuccess: the provider reversed a payment we hold
	// as succeeded.
	DiffReversedAfterSuccess DiffClass = "reversed_after_success"
	// DiffDuplicateAtProvider: several provider transactions carry one
	// of our references.
	DiffDuplicateAtProvider DiffClass = "duplicate_at_provider"
	// DiffStuckUnknown: our payment is still unknown and the provider's
	// records do not settle it.
	DiffStuckUnknown DiffClass = "stuck_unknown"
)

// DiffClasses lists every class, in a stable order.
func DiffClasses() []DiffClass {
	return []DiffClass{DiffMissingAtProvider, DiffUnknownToUs, DiffStatusDiffers, DiffAmountDiffers,
		DiffReversedAfterSuccess, DiffDuplicateAtProvider, DiffStuckUnknown}
}

// Valid reports whether c is one of the classes above.
func (c DiffClass) Valid() bool {
	for _, k := range DiffClasses() {
		if c == k {
			return true
		}
	}
	return false
}

// Difference states.
const (
	// DiffOpen: found, waiting for a person.
	DiffOpen = "open"
	// DiffHealed: the provider's own answer proved a status and the run
	// applied it (through Transition, with its event). Closed.
	DiffHealed = "healed"
	// DiffResolved: a person says it is dealt with. A later run that finds
	// it again opens it again.
	DiffResolved = "resolved"
	// DiffAcknowledged: a person knows and accepts it; later runs leave it be.
	DiffAcknowledged = "acknowledged"
)

// Reconciliation run statuses.
const (
	RunRunning   = "running"
	RunDone      = "done"
	RunFailed    = "failed"
	RunAbandoned = "abandoned" // an unfinished run replaced by a run over another window
)

// ReconCounters are a run's progress figures. A resumed run may count
// the page it was interrupted in twice; the differences it found are
// counted from the differences themselves.
type ReconCounters struct {
	ProviderCalls int `json:"provider_calls"`
	ProviderItems int `json:"provider_items"`
	OurPayments   int `json:"our_payments"`
	OurPayouts    int `json:"our_payouts"`
	Matched       int `json:"matched"`
	Healed        int `json:"healed"`
	Differences   int `json:"differences"`
	// Total is the provider's own count of the window's transactions
	// (when it gives one), for progress.
	Total int `json:"total"`
	// PayoutTotal is the same for the provider's payouts.
	PayoutTotal int `json:"payout_total"`
}

// ReconRun is one reconciliation of one provider over [From, To).
type ReconRun struct {
	ID       string // "rcn_" + random
	Provider string
	From, To time.Time
	Status   string // RunRunning, RunDone, RunFailed, RunAbandoned
	// Phase and Cursor are the checkpoint: where a resumed run goes on.
	// The store keeps them and does not read them.
	Phase      string
	Cursor     string
	Counters   ReconCounters
	Owner      string // who holds the lease (HOST/SCOPE/PID/RANDOM)
	LeaseUntil time.Time
	Error      string
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// ReconBusyError is StartReconRun's refusal: another live owner is
// reconciling this provider.
type ReconBusyError struct{ Run ReconRun }

func (e *ReconBusyError) Error() string {
	return fmt.Sprintf("a reconciliation of %s is already running (run %s, owner %s, lease until %s)",
		e.Run.Provider, e.Run.ID, e.Run.Owner, e.Run.LeaseUntil.UTC().Format(time.RFC3339))
}

// ReconStart asks StartReconRun for a run.
type ReconStart struct {
	Provider string
	From, To time.Time
	Owner    string
	Lease    time.Duration
	// Dead reports whether the owner of a live lease is gone (same rule
	// as the delivery leases, see OutboxStore.ReleaseLeases); nil: never.
	// It is called inside the store's write transaction and must be quick.
	Dead func(owner string) bool
	Now  time.Time
}

// Subject kinds: what a provider transaction or a difference is about.
const (
	SubjectPayment = "payment"
	SubjectPayout  = "payout"
)

// SeenTxn is one provider transaction a run has read.
type SeenTxn struct {
	// Kind is SubjectPayment ("" too) or SubjectPayout: payments and
	// payouts are matched separately, their references and transaction
	// IDs may coincide.
	Kind        string
	ProviderTxn string // the provider's own transaction ID
	Reference   string // our reference it carries
}

// SeenKind is t's kind, SubjectPayment when unset.
func (t SeenTxn) SeenKind() string {
	if t.Kind == "" {
		return SubjectPayment
	}
	return t.Kind
}

// WindowFilter selects payments (WindowPayments) or payouts
// (WindowPayouts) of one provider created in [From, To), in (CreatedAt,
// ID) order, after the keyset (AfterCreated, AfterID).
type WindowFilter struct {
	Provider     string
	From, To     time.Time
	AfterCreated time.Time // zero with AfterID "": from the start
	AfterID      string
	Limit        int // 0 = 100
	// UnseenIn, when set, leaves out the payments (payouts) whose
	// reference run UnseenIn has seen at the provider as a payment
	// (payout) (RecordSeen).
	UnseenIn string
	// SkipNotified leaves out the payments whose current settled status
	// (succeeded or failed) a provider notification stated. Payments only.
	SkipNotified bool
}

// ReconRunFilter selects reconciliation runs, newest first; zero fields
// match everything.
type ReconRunFilter struct {
	Provider string
	Limit    int // 0 = 100
	// After is a run ID: list only the ones after it.
	After string
}

// Difference is one thing a run found that differs between our records
// and the provider's. Ours and Theirs are both sides' records, as JSON,
// without credentials.
type Difference struct {
	ID        string // "dif_" + random
	RunID     string // the run that found it (last opened it)
	Provider  string
	Class     DiffClass
	Key       string // unique per provider: the same difference found again
	Reference string
	PaymentID string // "" when we hold no payment (or it is about a payout)
	// PayoutID is our payout the difference is about; "" when it is
	// about a payment or we hold no payout.
	PayoutID    string
	ProviderTxn string // the provider's transaction ID, "" when it holds none
	Detail      string
	Ours        json.RawMessage
	Theirs      json.RawMessage
	State       string // DiffOpen, DiffHealed, DiffResolved, DiffAcknowledged
	By          string // who resolved or acknowledged it
	Note        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DifferenceEvent is the event RecordDifference emits with a difference
// that opens (as one transaction).
type DifferenceEvent struct {
	Type    string   // "reconciliation.difference"
	Routes  []string // one delivery each
	Payload func(d Difference, eventID string, at time.Time) ([]byte, error)
}

// DifferenceFilter selects differences, newest first; zero fields match
// everything.
type DifferenceFilter struct {
	Provider string
	Class    DiffClass
	State    string
	RunID    string
	Limit    int // 0 = 100
	// After is a difference ID: list only the ones after it.
	After string
	// From, To, when set, keep the differences of runs over windows
	// overlapping [From, To).
	From, To time.Time
}

// ReconStore holds reconciliation runs and differences.
type ReconStore interface {
	// StartReconRun resumes the unfinished run of (Provider, From, To),
	// taking its lease, or starts a new one. It returns *ReconBusyError
	// while another owner's lease on an unfinished run of the provider is
	// live (and that owner is not Dead); an unfinished run of another
	// window whose lease is over becomes RunAbandoned. resumed says the
	// run existed.
	StartReconRun(ctx context.Context, s ReconStart) (run ReconRun, resumed bool, err error)
	// CheckpointReconRun stores r's Phase, Cursor and Counters and renews
	// the lease until now+lease. ErrConflict when r.Owner no longer holds it.
	CheckpointReconRun(ctx context.Context, r ReconRun, lease time.Duration, now time.Time) error
	// FinishReconRun ends r with status (RunDone or RunFailed) and errText,
	// releases the lease and forgets the transactions it saw.
	// ErrConflict when r.Owner no longer holds it.
	FinishReconRun(ctx context.Context, r ReconRun, status, errText string, now time.Time) (ReconRun, error)
	ReconRun(ctx context.Context, id string) (ReconRun, error)
	// ListReconRuns lists runs newest first (see ReconRunFilter).
	// ErrNotFound when f.After names no run.
	ListReconRuns(ctx context.Context, f ReconRunFilter) ([]ReconRun, error)

	// RecordSeen remembers the provider transactions run has read (again:
	// recording one twice is harmless) and returns, among the references
	// of txns, those that now have more than one provider transaction of
	// the same kind. A call records transactions of one kind.
	RecordSeen(ctx context.Context, runID string, txns []SeenTxn) (dups []string, err error)
	// WindowPayments lists payments of a window (see WindowFilter).
	WindowPayments(ctx context.Context, f WindowFilter) ([]Payment, error)
	// PaymentsByReferences returns the provider's payments with these
	// references (those that exist), in one query.
	PaymentsByReferences(ctx context.Context, provider string, refs []string) ([]Payment, error)
	// WindowPayouts lists payouts of a window (see WindowFilter).
	WindowPayouts(ctx context.Context, f WindowFilter) ([]Payout, error)
	// PayoutsByReferences returns the provider's payouts with these
	// references (those that exist), in one query.
	PayoutsByReferences(ctx context.Context, provider string, refs []string) ([]Payout, error)

	// RecordDifference stores d unless a difference with its (Provider,
	// Key) is open, healed or acknowledged already (then it returns that
	// one and false). A resolved one is opened again. When d opens (new or
	// again) in state open and ev is given, the event and its deliveries
	// are inserted in the same transaction.
	RecordDifference(ctx context.Context, d Difference, ev *DifferenceEvent) (Difference, bool, error)
	Difference(ctx context.Context, id string) (Difference, error)
	ListDifferences(ctx context.Context, f DifferenceFilter) ([]Difference, error)
	// SetDifferenceState moves an open (or acknowledged) difference to
	// DiffResolved or DiffAcknowledged, with who and why. ErrNotFound for
	// an unknown ID; ErrConflict when it is healed or already in that state.
	SetDifferenceState(ctx context.Context, id, newState, by, note string, now time.Time) (Difference, error)
	// OpenDifferenceCounts counts the open differences per class.
	OpenDifferenceCounts(ctx context.Context) (map[DiffClass]int, error)
}
