package ingest

import (
	"context"
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
}

// clickpesaPayout hands a ClickPesa payout webhook, its checksum already
// checked when the provider has a key, to the payout settler.
func (in *Ingester) clickpesaPayout(ctx context.Context, ri *routeInfo, body []byte, signed bool) result {
	code, outcome, detail := in.payouts.Notification(ctx, ri.provider.ID(), ri.route.Name, body, signed)
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
