// Package delivery sends queued events to the routes' forward URLs, signed
// the Standard Webhooks way (https://www.standardwebhooks.com): one worker
// per route claims due deliveries from the outbox (state.OutboxStore) under a
// lease, POSTs them with webhook-id / webhook-timestamp / webhook-signature
// headers, and records each attempt: delivered on 2xx, dead on 410 or when
// the route's retry budget (retry.max_attempts, retry.max_age) is spent,
// otherwise retried on a backoff schedule with jitter (Retry-After honoured
// on 429 and 503).
//
// It also serves the events API (GET /v1/events, GET /v1/events/{id},
// POST /v1/events/{id}/replay) and holds the signing functions receivers
// and the dev sink use to verify what it sends.
//
// Delivery is at least once: a worker that dies mid-POST leaves its lease
// to expire and the event is sent again with the same webhook-id. A
// dispatcher starting where it sees the same PIDs releases at once the
// leases of a process that no longer exists there (NewOwner, OwnerDead);
// which owners that is, and why, is docs/DESIGN.md "Leases and their owner
// scope". Order between events, even of one payment, is not promised.
//
// It imports only config, state, secret, version, httpapi and procscope; it must not
// import the daemon (the daemon adapts to it) and must never log or store
// a route's secret, a signature, or a forward URL's query string.
package delivery
