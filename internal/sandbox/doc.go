// Package sandbox is finconnectd's provider emulator: PesaPal API 3.0,
// ClickPesa and AzamPay served on one loopback listener under the prefixes
// /pesapal, /clickpesa, /azampay-auth and /azampay, speaking the wire formats
// of docs/providers/*.md (status codes, body shapes, field names and casing,
// quirks).
//
// It simulates the customer: after Settings.Delay the USSD prompt resolves by
// the last digit of the payer's phone number (0 succeeds, 1 fails for
// insufficient funds, 2 the customer cancels, 3 succeeds without notification,
// 4 notifies twice, 5 initiate answers 500, 6 initiate answers only after
// Settings.SlowAnswer) and sends the provider's notification (PesaPal IPN,
// ClickPesa webhook with checksum, AzamPay callback signed with the
// emulator's RSA key), retrying while it is not acknowledged.
//
// It is used by `finconnectd sandbox`, by `serve -dev`, and in-process by
// tests. It must never contact anything but the URLs it is told to notify,
// never log or echo a credential, and every goroutine it starts ends on Stop.
// It imports nothing internal: it is an independent reading of the providers'
// documentation,
// so that the clients and the emulator check each other.
package sandbox
