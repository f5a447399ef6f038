// Package payouts is money going out through the pay API: POST /v1/payouts
// previews a payout with the provider (fee, receiver name, balance; no
// money moves), writes the payout row (pending) BEFORE asking the provider
// to send it, then records what the provider answered; GET /v1/payouts/{id}
// and GET /v1/payouts show what is known; Sync asks providers about
// payouts still pending or unknown; Notification settles a provider's
// payout webhook once it is proven (checksum verified and bound to the
// stored payout, or confirmed by the provider's own status query).
//
// A payout whose create call has an unknown outcome is never sent again:
// it is marked unknown and only ever queried. Status changes go through
// the store's one transition rule and emit payout.succeeded, payout.failed
// or payout.reversed into the same outbox as payment events.
//
// Refunds are money out too: POST /v1/payments/{id}/refunds pays a
// payment back, through PesaPal's own refund (a Refunder) or as a payout
// to the payer (ClickPesa, when the provider block allows it). A refund is
// a payout row with PaymentID set: the same durability, limits, audit and
// sync; it emits refund.succeeded or refund.failed, and once it succeeds
// the payment moves to partially_refunded or refunded through the payment
// status rule (a PaymentSettler). RefundAware wraps the settler payment
// notifications go through, so that PesaPal reporting a refunded payment
// as reversed settles the refund rather than a reversal.
//
// It must not log or return secrets, holds no package-level state, and
// does not authenticate requests itself: the daemon puts its routes
// behind the API token check.
package payouts
