package payouts

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/state"
)

// disbursementCallback is the part of AzamPay's disbursement callback
// finconnectd reads: initiatorReferenceId is the externalReferenceId we
// sent (the payout's reference), pgReferenceId AzamPay's id.
type disbursementCallback struct {
	InitiatorReferenceID string `json:"initiatorReferenceId"`
	PgReferenceID        string `json:"pgReferenceId"`
	Status               string `json:"status"`
}

// AzamPayDisbursement handles an AzamPay disbursement callback. AzamPay
// documents no signature or other proof for it, so it is only a hint:
// the payout it names is asked about with the disbursement status query,
// by the pgReferenceId stored from AzamPay's answer to the disburse call,
// and the callback must name that same id. A payout whose disburse answer
// never came has no stored id, and the status answer does not name our
// reference, so the callback's id cannot be bound to the payout: nothing
// changes (an operator settles it). It answers like Notification.
func (s *Service) AzamPayDisbursement(ctx context.Context, providerID, route string, body []byte) (code int, outcome, detail string) {
	var cb disbursementCallback
	if err := json.Unmarshal(body, &cb); err != nil {
		return http.StatusBadRequest, "rejected", "Not an AzamPay disbursement callback: the body is not the documented JSON object."
	}
	ref, pg := strings.TrimSpace(cb.InitiatorReferenceID), strings.TrimSpace(cb.PgReferenceID)
	if ref == "" {
		return http.StatusBadRequest, "rejected", "The disbursement callback names no initiatorReferenceId."
	}
	p, err := s.store.PayoutByReference(ctx, providerID, ref)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return http.StatusOK, "ignored", "" // not a payout finconnectd sent: nothing to change
	case err != nil:
		s.log.Error("look up payout for disbursement callback", "reference", ref, "error", err)
		return http.StatusInternalServerError, "failed", "The notification could not be recorded; retry later."
	}
	if p.ProviderReference == "" {
		s.log.Warn("disbursement callback for a payout without a pgReferenceId: it cannot be confirmed; settle it from the AzamPay portal",
			"payout_id", p.ID, "reference", ref)
		return http.StatusOK, "unconfirmed", ""
	}
	if pg != "" && pg != p.ProviderReference {
		return http.StatusUnprocessableEntity, "rejected", "The notification does not match the payout: another pgReferenceId."
	}
	out, refused := s.queryForHook(ctx, providerID, p)
	if refused != nil {
		return refused.code, refused.outcome, refused.detail
	}
	clean := providers.WithoutCredentials(body)
	if clean == nil {
		clean = json.RawMessage("{}")
	}
	return s.recordHook(ctx, state.PayoutChange{
		ID: p.ID, Status: out.Status, FromQuery: true, ProviderReference: out.ProviderReference,
		Channel: out.Channel, Message: out.Message, Raw: out.Raw,
		Notification: &state.Notification{Route: route, DedupKey: "payout:" + p.ProviderReference + ":" + out.Status, Body: clean},
	})
}
