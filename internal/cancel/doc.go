// Package cancel is POST /v1/payments/{id}/cancel: it cancels a PesaPal
// order that is still pending (PesaPal's CancelOrder), so the customer can
// no longer pay it. Refunds of paid payments are money out and live with
// payouts (internal/payouts).
//
// The payment's status changes only through the store's one transition
// rule (settle.Settler → state.Transition, with state.SourceRefund), never
// by writing a status. Every request, refused or not, is appended to the
// audit trail with the name of the token that made it.
//
// It must not log or return secrets, holds no package-level state, and
// does not authenticate requests itself: the daemon puts its routes
// behind the API token check; they need the refunds scope.
package cancel
