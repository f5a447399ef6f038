package state

import "fmt"

// PaymentStatus is a payment's status. A status moves only as Transition
// allows; every writer (initiation answer, notification, sync, refresh,
// reconciliation, refunds) goes through it inside the store's transaction.
type PaymentStatus string

// Payment statuses.
const (
	// StatusPending: started at the provider (or being started); the
	// customer has not answered yet.
	StatusPending PaymentStatus = "pending"
	// StatusUnknown: finconnectd asked the provider to start the payment
	// and does not know whether it did (timeout, broken connection, a 5xx,
	// or a stop in the middle). Never re-sent; sync or a notification
	// settles it.
	StatusUnknown PaymentStatus = "unknown"
	// StatusSucceeded: the customer paid.
	StatusSucceeded PaymentStatus = "succeeded"
	// StatusFailed: the payment did not happen (declined, cancelled,
	// insufficient funds, rejected or never started).
	StatusFailed PaymentStatus = "failed"
	// StatusReversed: a succeeded payment was reversed by the provider or
	// the network. Final.
	StatusReversed PaymentStatus = "reversed"
	// StatusPartiallyRefunded: part of a succeeded payment was refunded.
	StatusPartiallyRefunded PaymentStatus = "partially_refunded"
	// StatusRefunded: the whole of a succeeded payment was refunded. Final.
	StatusRefunded PaymentStatus = "refunded"
)

// PaymentStatuses lists every status, in the order a payment can reach them.
func PaymentStatuses() []PaymentStatus {
	return []PaymentStatus{StatusPending, StatusUnknown, StatusSucceeded, StatusFailed,
		StatusReversed, StatusPartiallyRefunded, StatusRefunded}
}

// Valid reports whether s is one of the statuses above.
func (s PaymentStatus) Valid() bool {
	switch s {
	case StatusPending, StatusUnknown, StatusSucceeded, StatusFailed,
		StatusReversed, StatusPartiallyRefunded, StatusRefunded:
		return true
	}
	return false
}

// Open reports whether the payment is still waiting for its outcome
// (pending or unknown): the statuses sync asks providers about.
func (s PaymentStatus) Open() bool { return s == StatusPending || s == StatusUnknown }

// Source says who made a statement about a payment's status. Transition
// uses it: only the provider's own answer to a question finconnectd asked
// (StatusQuery, Refresh, Reconciliation) may turn a failed payment into a
// succeeded one.
type Source string

// Statement sources.
const (
	// SourceInitiation: the provider's answer to starting the payment, or
	// finconnectd's own conclusion that the outcome of starting it is
	// unknown (timeout, broken connection, a stop in the middle).
	SourceInitiation Source = "initiation"
	// SourceNotification: a provider's notification (webhook, IPN,
	// callback) that ingest has proven.
	SourceNotification Source = "notification"
	// SourceStatusQuery: the provider's answer to a status query made by
	// payment sync (including "no such payment").
	SourceStatusQuery Source = "status_query"
	// SourceRefresh: the provider's answer to a status query made for
	// GET /v1/payments/{id}?refresh=true.
	SourceRefresh Source = "refresh"
	// SourceReconciliation: the provider's own records, read by a
	// reconciliation run (transaction lists, statements).
	SourceReconciliation Source = "reconciliation"
	// SourceRefund: the provider's answer to a refund, reversal or
	// cancellation finconnectd asked for.
	SourceRefund Source = "refund"
)

// Valid reports whether src is one of the sources above.
func (src Source) Valid() bool {
	switch src {
	case SourceInitiation, SourceNotification, SourceStatusQuery, SourceRefresh, SourceReconciliation, SourceRefund:
		return true
	}
	return false
}

// ProviderQuery reports whether src is the provider's own answer to a
// question finconnectd asked it (not something pushed to finconnectd).
func (src Source) ProviderQuery() bool {
	return src == SourceStatusQuery || src == SourceRefresh || src == SourceReconciliation
}

// Outcome is what a statement does to a payment's status.
type Outcome int

const (
	// Refused: the statement would move the status backwards, or its
	// source may not make this move (failed → succeeded on a
	// notification). The status stays, no event is emitted; the statement
	// may only fill in what the payment is missing (provider reference,
	// confirmation code, redirect URL, amount, currency, phone).
	Refused Outcome = iota
	// Same: the payment already has this status. Nothing is emitted; the
	// statement may fill in missing fields and refresh the provider's
	// latest message and raw answer.
	Same
	// Moved: the status becomes the statement's; the store emits the
	// event for the new status unless the payment already had one for it.
	Moved
)

func (o Outcome) String() string {
	switch o {
	case Refused:
		return "refused"
	case Same:
		return "same"
	case Moved:
		return "moved"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Transition is the one rule of payment status: what a statement that a
// payment in status from is now in status to, made by src, does. It is
// total and pure; unknown statuses or sources are Refused.
//
//	from                may become                        on whose word
//	pending             succeeded, failed, unknown        any source
//	unknown             succeeded, failed, pending        any source
//	failed              succeeded                         a provider query (Source.ProviderQuery)
//	succeeded           reversed, refunded,               any source
//	                    partially_refunded
//	partially_refunded  refunded                          any source
//	reversed, refunded  nothing (final)                   -
//
// A statement of the status the payment already has is Same (no second
// event); everything else is Refused. The store applies it inside its
// transaction for every writer, so whichever path states a status first
// wins and the others change nothing.
//
// Callers outside the store may use it to explain or predict a write
// (logs, metrics, API answers); the store's answer is what counts.
func Transition(from, to PaymentStatus, src Source) Outcome {
	if !from.Valid() || !to.Valid() || !src.Valid() {
		return Refused
	}
	if from == to {
		return Same
	}
	allowed := false
	switch from {
	case StatusPending:
		allowed = to == StatusSucceeded || to == StatusFailed || to == StatusUnknown
	case StatusUnknown:
		allowed = to == StatusSucceeded || to == StatusFailed || to == StatusPending
	case StatusFailed:
		allowed = to == StatusSucceeded && src.ProviderQuery()
	case StatusSucceeded:
		allowed = to == StatusReversed || to == StatusRefunded || to == StatusPartiallyRefunded
	case StatusPartiallyRefunded:
		allowed = to == StatusRefunded
	}
	if allowed {
		return Moved
	}
	return Refused
}
