package ingest

import (
	"context"
	"encoding/json"
	"strings"
)

// PayoutSettler settles a payout webhook (payouts.Service does): signed
// says the webhook's checksum verified with the provider's key, so its
// claims may be bound to the stored payout; otherwise the settler confirms
// with the provider's status query. It answers with the HTTP status to
// give the provider, an outcome word and a detail for refusals, and
// answers 2xx only once the statement is durably recorded.
type PayoutSettler interface {
	Notification(ctx context.Context, providerID, route string, body []byte, signed bool) (code int, outcome, detail string)
	// AzamPayDisbursement settles an AzamPay disbursement callback, which
	// carries no proof: the settler confirms it with the provider.
	AzamPayDisbursement(ctx context.Context, providerID, route string, body []byte) (code int, outcome, detail string)
}

// clickpesaPayout hands a ClickPesa payout webhook, its checksum already
// checked when the provider has a key, to the payout settler.
func (in *Ingester) clickpesaPayout(ctx context.Context, ri *routeInfo, body []byte, signed bool) result {
	return payoutResult(in.payouts.Notification(ctx, ri.provider.ID(), ri.route.Name, body, signed))
}

// isDisbursementCallback reports whether an AzamPay callback is about a
// disbursement (it names initiatorReferenceId) rather than a checkout.
func isDisbursementCallback(body []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	_, ok := probe["initiatorReferenceId"]
	return ok
}

// payoutResult turns a payout settler's answer into ingest's.
func payoutResult(code int, outcome, detail string) result {
	if code >= 200 && code < 300 {
		return result{code: code, outcome: outcome}
	}
	reason := strings.ReplaceAll(outcome, " ", "_")
	switch {
	case code == 404:
		reason = "unknown_payout"
	case code == 422:
		reason = "mismatch"
	case code == 400:
		reason = "malformed"
	case code >= 500:
		reason = "payout_error"
	}
	return reject(code, reason, detail, nil)
}
