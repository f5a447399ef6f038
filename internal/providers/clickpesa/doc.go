// Package clickpesa is finconnectd's client for the ClickPesa API
// (docs/providers/clickpesa.md): token generation with the "Bearer "-prefixed token sent
// verbatim, USSD-push preview and initiation with the payload checksum when a
// checksum key is configured, payment queries by order reference, webhook
// parsing and the checksum algorithm (canonical and legacy) used both to sign
// requests and to verify webhooks.
//
// It implements providers.Payer. It must not log or return credentials,
// tokens or the checksum key, and it holds no package-level state.
package clickpesa
