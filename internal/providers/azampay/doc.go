// Package azampay is finconnectd's client for AzamPay (docs/providers/azampay.md):
// GenerateToken on the authenticator host, MNO checkout, payment partners,
// the collection status query and the public-key fetch on the checkout host,
// plus parsing and RSA signature verification of the callbacks AzamPay posts.
//
// It implements providers.Payer. It must not log or return credentials,
// tokens, or the callback's user/password fields, and holds no package-level
// state.
package azampay
