// Package providers is the contract between finconnectd and the payment
// providers it speaks to: the normalized payment vocabulary, the request and
// result types every provider client maps to and from its own wire format, and
// the error classification callers branch on (retryable, permanent,
// authentication, unknown outcome).
//
// The per-provider packages (pesapal, clickpesa, azampay) implement it; the
// shared token cache lives in tokencache. This package imports nothing
// internal but secret, and must not: it is a leaf.
package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kind names a provider implementation as written in HCL: provider "KIND" "NAME".
type Kind string

const (
	PesaPal   Kind = "pesapal"
	ClickPesa Kind = "clickpesa"
	AzamPay   Kind = "azampay"
)

// Status is finconnectd's payment status vocabulary.
type Status string

const (
	StatusPending   Status = "pending"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusReversed  Status = "reversed"
	// StatusUnknown: we asked the provider to start a payment and do not know
	// whether it did (timeout, connection broken mid-request). Never re-sent
	// blindly; sync settles it by querying.
	StatusUnknown Status = "unknown"
)

// Terminal reports whether no further status change is expected (reversed may
// still follow succeeded; callers treat succeeded as terminal for sync).
func (s Status) Terminal() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusReversed
}

// PaymentRequest is a normalized payment initiation. Amount is a decimal
// string ("1500.00") and is never converted through float64 for money
// arithmetic; Phone is digits with country code ("255712345678").
type PaymentRequest struct {
	Reference   string // merchant reference: PesaPal id, ClickPesa orderReference, AzamPay externalId
	Amount      string
	Currency    string
	Phone       string
	Description string
	Email       string
	FirstName   string
	LastName    string
	CallbackURL string // PesaPal browser redirect target

	// NotificationID is PesaPal's notification_id (the ipn_id of the chosen ipn).
	NotificationID string
	// MNO is AzamPay's provider field (Airtel, Tigo, Halopesa, Azampesa, Mpesa);
	// empty means infer from the phone prefix.
	MNO string
	// ProviderData is merged into the provider's JSON payload last: the escape
	// hatch for fields this API does not name.
	ProviderData map[string]any
}

// PaymentResult is what the provider answered to an initiation.
type PaymentResult struct {
	ProviderReference string // PesaPal order_tracking_id, ClickPesa id, AzamPay transactionId
	RedirectURL       string // PesaPal hosted page
	Status            Status // usually pending
	Raw               json.RawMessage
}

// PaymentQuery identifies a payment at the provider. Clients use whichever
// field their status endpoint needs (PesaPal: ProviderReference; ClickPesa:
// Reference; AzamPay: ProviderReference plus MNO).
type PaymentQuery struct {
	Reference         string
	ProviderReference string
	MNO               string
}

// PaymentStatus is the provider's authoritative answer about one payment.
type PaymentStatus struct {
	Status            Status
	Reference         string
	ProviderReference string
	Amount            string // decimal string as reported
	Currency          string
	Phone             string
	ConfirmationCode  string
	Message           string // provider's human text (failure reason)
	Raw               json.RawMessage
}

// Payer is what the pay API, sync and webhook verification need from every
// provider client.
type Payer interface {
	InitiatePayment(ctx context.Context, req PaymentRequest) (PaymentResult, error)
	QueryPayment(ctx context.Context, q PaymentQuery) (PaymentStatus, error)
}

// CallObserver is told about every provider HTTP call, for metrics:
// provider kind, operation ("request_token", "submit_order" ...), outcome
// ("ok", "retryable", "permanent", "auth", "unknown_outcome") and latency.
type CallObserver func(provider Kind, operation, outcome string, elapsed time.Duration)

// ErrorKind classifies a provider failure for the caller's retry decision.
type ErrorKind int

const (
	// Retryable: transport error, timeout or 5xx/429 on a call that is safe to repeat.
	Retryable ErrorKind = iota + 1
	// Permanent: the provider rejected the request (validation, duplicate...).
	Permanent
	// Auth: credentials rejected; retrying will not help until config changes.
	Auth
	// UnknownOutcome: a payment initiation whose result we did not get
	// (timeout, connection reset after sending). Never retried blindly.
	UnknownOutcome
)

func (k ErrorKind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case Auth:
		return "auth"
	case UnknownOutcome:
		return "unknown_outcome"
	}
	return "unclassified"
}

// Error is the one error type provider clients return for provider failures.
// It never carries a token or secret.
type Error struct {
	Provider   Kind
	Block      string // the config block, e.g. `provider "pesapal" "ke"`, when known
	Op         string // operation, e.g. "submit order"
	Kind       ErrorKind
	HTTPStatus int    // 0 when no response
	Code       string // provider's error code, when it gave one
	Message    string // provider's message, when it gave one
	Err        error  // underlying cause (transport), may be nil
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s", e.Provider, e.Op)
	if e.Block != "" {
		msg = fmt.Sprintf("%s (%s)", msg, e.Block)
	}
	msg += ": " + e.Kind.String()
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(", HTTP %d", e.HTTPStatus)
	}
	if e.Code != "" {
		msg += ", code " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the classification of err, or 0 when err is not an *Error.
func KindOf(err error) ErrorKind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return 0
}

// IsRetryable reports whether repeating the call is safe and may succeed.
func IsRetryable(err error) bool { return KindOf(err) == Retryable }

// IsUnknownOutcome reports whether an initiation may or may not have happened.
func IsUnknownOutcome(err error) bool { return KindOf(err) == UnknownOutcome }

// IsAuth reports whether the provider rejected our credentials.
func IsAuth(err error) bool { return KindOf(err) == Auth }

// IsPermanent reports whether the provider rejected the request itself.
func IsPermanent(err error) bool { return KindOf(err) == Permanent }

// CodeNotFound is the Code of a Permanent error by which a provider says
// it has no record of what a status query asked about, whatever its own
// wording (AzamPay's 404, PesaPal's unknown order tracking id).
const CodeNotFound = "not_found"

// IsNotFound reports whether the provider said it has no record of the
// payment a status query asked about.
func IsNotFound(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Kind == Permanent && pe.Code == CodeNotFound
}
