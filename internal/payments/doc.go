// Package payments is the local pay API (docs/pay-api.md) and the payment status
// sync: POST /v1/payments validates a normalized payment, claims its
// Idempotency-Key, writes the payment row (pending) BEFORE calling the
// provider, then records what the provider answered; GET /v1/payments/{id}
// (optionally asking the provider now) and GET /v1/payments list what is
// known; Sync asks providers about payments still pending or unknown, with a
// per-payment backoff, and applies what they say through the Settler so the
// events are the same as a webhook's.
//
// It never re-sends an initiation whose outcome is unknown: such a payment is
// marked unknown and only ever queried. It must not log or return secrets,
// holds no package-level state, and does not mount authentication itself:
// the daemon puts RegisterAPI's routes behind httpapi.Authenticator.
package payments
