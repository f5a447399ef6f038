// Package pesapal is finconnectd's client for PesaPal API 3.0
// (docs/providers/pesapal.md): RequestToken, RegisterIPN, GetIpnList,
// SubmitOrderRequest, GetTransactionStatus, RefundRequest and CancelOrder,
// plus parsing of the IPN PesaPal sends (GET query, POST JSON, POST form) and
// the JSON acknowledgement it expects back.
//
// An IPN carries ids only and no signature: callers confirm every IPN with
// GetTransactionStatus. It implements providers.Payer. It must not log or
// return credentials or tokens, and holds no package-level state.
package pesapal
