package payouts

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
)

// mismatch reports why a provider's statement contradicts the stored
// payout (its provider reference, currency or amount), or "".
func mismatch(p state.Payout, out Outcome) string {
	if p.ProviderReference != "" && out.ProviderReference != "" && p.ProviderReference != out.ProviderReference {
		return fmt.Sprintf("provider reference %s, the payout has %s", out.ProviderReference, p.ProviderReference)
	}
	if out.Currency != "" && !strings.EqualFold(out.Currency, p.Currency) {
		return fmt.Sprintf("currency %s, the payout is in %s", out.Currency, p.Currency)
	}
	switch {
	case out.Amount != "":
		if !sameAmount(out.Amount, p.Amount) {
			return fmt.Sprintf("amount %s, the payout is for %s", out.Amount, p.Amount)
		}
	case out.Total != "":
		// Only the total (fee included) is known: it must be the amount
		// plus the fee the provider states (or the stored fee).
		fee := out.Fee
		if fee == "" {
			fee = p.Fee
		}
		want, ok1 := addAmounts(p.Amount, fee)
		if !ok1 || !sameAmount(out.Total, want) {
			return fmt.Sprintf("total %s, the payout is for %s plus a fee of %s", out.Total, p.Amount, fee)
		}
	}
	return ""
}

// withoutChecksum is a webhook body without its checksum or any echoed
// credential.
func withoutChecksum(body []byte) []byte {
	if b := providers.WithoutCredentials(body); b != nil {
		return b
	}
	return []byte("{}")
}

func parseAmount(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 40 || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

func sameAmount(a, b string) bool {
	x, ok1 := parseAmount(a)
	y, ok2 := parseAmount(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

func addAmounts(a, b string) (string, bool) {
	x, ok1 := parseAmount(a)
	y, ok2 := parseAmount(b)
	if !ok1 || !ok2 {
		return "", false
	}
	return new(big.Rat).Add(x, y).FloatString(2), true
}

// Notification settles a ClickPesa payout webhook that arrived on route for
// providerID. signed says its checksum verified with the provider's key;
// then its claims are bound to the stored payout (reference, provider
// reference, currency, amount) and applied. An unsigned webhook, or one
// about a reference finconnectd never sent, is only a hint: the provider's
// own status query decides. It returns the HTTP status to answer with, an
// outcome word for logs and metrics, and a detail for refusals. Only a
// committed (or duplicate) statement is answered 2xx.
func (s *Service) Notification(ctx context.Context, providerID, route string, body []byte, signed bool) (code int, outcome, detail string) {
	wh, err := clickpesa.ParsePayoutWebhook(body)
	if err != nil {
		return http.StatusBadRequest, "rejected", "Not a ClickPesa payout webhook: " + err.Error()
	}
	body = withoutChecksum(body) // what is stored and forwarded carries no signature
	wh.Raw = body
	ref := wh.Payout.OrderReference
	if ref == "" {
		return http.StatusBadRequest, "rejected", "The payout webhook names no orderReference."
	}
	p, err := s.store.PayoutByReference(ctx, providerID, ref)
	switch {
	case errors.Is(err, state.ErrNotFound):
		// Not a payout finconnectd sent: ask whether the provider knows it.
		if _, refused := s.queryForHook(ctx, providerID, state.Payout{Provider: providerID, Reference: ref}); refused != nil {
			return refused.code, refused.outcome, refused.detail
		}
		return http.StatusOK, "ignored", ""
	case err != nil:
		s.log.Error("look up payout for webhook", "reference", ref, "error", err)
		return http.StatusInternalServerError, "failed", "The notification could not be recorded; retry later."
	}
	out := Outcome{
		Status: clickpesa.MapPayoutStatus(wh.Payout.Status), ProviderReference: wh.Payout.ID, Fee: wh.Payout.Fee,
		Total: wh.Payout.Amount, Currency: wh.Payout.Currency, ReceiverName: wh.Payout.AccountName,
		Channel: wh.Payout.ChannelProvider, Message: wh.Message, Raw: wh.Raw,
	}
	fromQuery := false
	if !signed {
		q, refused := s.queryForHook(ctx, providerID, p)
		if refused != nil {
			return refused.code, refused.outcome, refused.detail
		}
		out, fromQuery = q, true
	}
	if why := mismatch(p, out); why != "" {
		return http.StatusUnprocessableEntity, "rejected", "The notification does not match the payout: " + why + "."
	}
	dedup := out.ProviderReference
	if dedup == "" {
		dedup = ref
	}
	return s.recordHook(ctx, state.PayoutChange{
		ID: p.ID, Status: out.Status, FromQuery: fromQuery, ProviderReference: out.ProviderReference, Fee: out.Fee,
		ReceiverName: out.ReceiverName, Channel: out.Channel, Message: out.Message, Raw: out.Raw,
		Notification: &state.Notification{Route: route, DedupKey: "payout:" + dedup + ":" + out.Status, Body: body},
	})
}

// hookAnswer is the answer to give a provider's payout notification.
type hookAnswer struct {
	code            int
	outcome, detail string
}

// queryForHook asks the provider about p to confirm a notification; when
// it cannot, refused is the answer to give (the provider does not know the
// payout: 404; no client or no answer: retry later).
func (s *Service) queryForHook(ctx context.Context, providerID string, p state.Payout) (out Outcome, refused *hookAnswer) {
	prov, ok := s.runtime().provider(providerID)
	if !ok {
		return Outcome{}, &hookAnswer{http.StatusServiceUnavailable, "failed", "No payout client for this provider; retry later."}
	}
	qctx, cancel := context.WithTimeout(ctx, s.previewTimeout)
	defer cancel()
	out, err := prov.Query(qctx, p)
	switch {
	case notFound(err):
		return Outcome{}, &hookAnswer{http.StatusNotFound, "rejected", "The provider does not know this payout."}
	case err != nil:
		return Outcome{}, &hookAnswer{http.StatusInternalServerError, "failed", "The payout could not be confirmed with the provider; retry later."}
	}
	return out, nil
}

// recordHook applies a notification's proven statement and says how to
// answer it: 2xx only once it is committed (or a duplicate).
func (s *Service) recordHook(ctx context.Context, c state.PayoutChange) (code int, outcome, detail string) {
	res, err := s.apply(ctx, c)
	if err != nil {
		s.log.Error("record payout notification", "payout_id", c.ID, "error", err)
		return http.StatusInternalServerError, "failed", "The notification could not be recorded; retry later."
	}
	switch {
	case res.Duplicate:
		return http.StatusOK, "duplicate", ""
	case res.Changed:
		return http.StatusOK, "accepted", ""
	}
	return http.StatusOK, "unchanged", ""
}
