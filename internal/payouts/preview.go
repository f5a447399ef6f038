package payouts

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/finconnectd/finconnectd/internal/httpapi"
)

// PreviewAnswer is the answer of POST /v1/payouts/preview: what the
// payout would be, before any money moves.
type PreviewAnswer struct {
	Provider    string      `json:"provider"`
	Reference   string      `json:"reference"`
	Amount      string      `json:"amount"`
	Currency    string      `json:"currency"`
	Destination Destination `json:"destination"`
	// Fee is what the provider charges on top; Total what the balance
	// loses (amount + fee); Balance what it holds now.
	Fee     string `json:"fee"`
	Total   string `json:"total"`
	Balance string `json:"balance"`
	// ReceiverName is the name the network or the bank gives the
	// destination ("" when the bank's name lookup is unavailable).
	ReceiverName     string `json:"receiver_name"`
	NameLookup       string `json:"name_lookup,omitempty"` // bank: RESOLVED | UNAVAILABLE
	Channel          string `json:"channel,omitempty"`
	TransferType     string `json:"transfer_type,omitempty"` // bank: ACH | RTGS
	EstimatedArrival string `json:"estimated_arrival,omitempty"`
}

// handlePreview is POST /v1/payouts/preview: the body of POST /v1/payouts,
// checked the same way (fields, guardrails, the rolling limit, the
// reference) and previewed with the provider. Nothing is stored and no
// money moves; the caller shows the fee and the receiver's name and then
// sends the payout.
func (s *Service) handlePreview(w http.ResponseWriter, r *http.Request) error {
	var req Request
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		var p *httpapi.Problem
		if !errors.As(err, &p) {
			p = httpapi.NewProblem(http.StatusBadRequest, "malformed", "Malformed JSON", "The body could not be read.")
		}
		return p
	}
	rt := s.runtime() // one configuration and its clients for the whole request
	v, prob := validate(rt.Config, req)
	if prob != nil {
		return prob
	}
	if prob := guardrails(rt.Config.Payouts, v.Order, false); prob != nil {
		return prob
	}
	v.limit = rollingLimit(rt.Config, v.Currency)
	prov, ok := rt.provider(v.Provider)
	if !ok {
		return httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
			fmt.Sprintf("No client is running for %s; check the daemon's log.", v.Provider))
	}
	if _, err := s.store.PayoutByReference(r.Context(), v.Provider, v.Reference); err == nil {
		s.referenceInUse(r.Context(), v).write(w)
		return nil
	}
	if prob := s.precheckLimit(r.Context(), v); prob != nil {
		return prob
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.previewTimeout)
	pv, err := prov.Preview(ctx, v.Order)
	cancel()
	if err != nil {
		s.previewRefused(r.Context(), v, err).write(w)
		return nil
	}
	httpapi.WriteJSON(w, http.StatusOK, PreviewAnswer{
		Provider: v.Provider, Reference: v.Reference, Amount: v.Amount, Currency: v.Currency,
		Destination: Destination{Type: v.Type, Phone: v.Phone, AccountNumber: v.AccountNumber, AccountName: v.AccountName, Bank: v.Bank},
		Fee:         pv.Fee, Total: pv.Total, Balance: pv.Balance, ReceiverName: pv.ReceiverName, NameLookup: pv.NameLookup,
		Channel: pv.Channel, TransferType: pv.TransferType, EstimatedArrival: pv.EstimatedArrival,
	})
	return nil
}
