// Package ingest serves the public webhook routes: it receives a provider's
// notification on a route's path, bounds and parses it, verifies it (the
// ClickPesa checksum, the AzamPay RSA signature, or, for PesaPal IPNs and
// unsigned ClickPesa webhooks, the provider's own status query), checks the
// amount and currency against the stored payment, records it through the
// settle.Settler (one store transaction: inbox row, payment update, event,
// deliveries) and only then answers the provider in the form it expects.
//
// It never trusts an unsigned notification, never answers 2xx before the
// store committed, never logs a secret or a full phone number, and does not
// deliver events (the delivery dispatcher does) nor own a listener (the
// daemon does).
package ingest
