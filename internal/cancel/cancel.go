package cancel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// cancelledMessage is the payment's message once finconnectd cancelled it.
const cancelledMessage = "cancelled by the merchant"

// handleCancel is POST /v1/payments/{id}/cancel: a PesaPal order still
// pending (or unknown, with its tracking ID) is cancelled at PesaPal and
// then failed through the transition rule. Anything else is refused with
// nothing sent: 404 no such payment, 422 a provider without cancellation,
// 409 a payment past pending (or one PesaPal says it cannot cancel).
func (s *Service) handleCancel(r *http.Request) (result, json.RawMessage) {
	id := r.PathValue("id")
	p, err := s.store.Payment(r.Context(), id)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return problemResult(httpapi.NewProblem(http.StatusNotFound, "not-found", "Payment not found", fmt.Sprintf("No payment %q.", id)), "", "rejected"), nil
	case err != nil:
		s.log.Error("read payment", "payment_id", id, "error", err)
		return problemResult(httpapi.NewProblem(http.StatusInternalServerError, "store-error", "Store unavailable",
			"finconnectd could not read the payment; nothing was sent. See the daemon's log."), id, "failed"), nil
	}
	c, ok := s.cancellers(p.Provider)
	if !ok {
		return problemResult(httpapi.NewProblem(http.StatusUnprocessableEntity, "cancel-not-supported", "Cancellation not supported",
			fmt.Sprintf("%s has no way to cancel a payment; only PesaPal orders can be cancelled. A ClickPesa or AzamPay push the customer has not answered expires on its own.", p.Provider)), p.ID, "rejected"), nil
	}
	if !p.Status.Open() {
		return problemResult(httpapi.NewProblem(http.StatusConflict, "payment-not-cancellable", "Payment cannot be cancelled",
			fmt.Sprintf("Payment %s is %s; only a pending order can be cancelled. A succeeded payment is refunded instead (POST /v1/payments/%s/refunds).", p.ID, p.Status, p.ID)), p.ID, "rejected"), nil
	}
	if p.ProviderReference == "" {
		return problemResult(httpapi.NewProblem(http.StatusConflict, "payment-not-cancellable", "Payment cannot be cancelled yet",
			fmt.Sprintf("Payment %s has no PesaPal order tracking ID yet (its creation's outcome is unknown); sync will settle it first. Nothing was sent.", p.ID)), p.ID, "rejected"), nil
	}

	log := s.log.With("payment_id", p.ID, "provider", p.Provider, "reference", p.Reference)
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.callTimeout)
	resp, err := c.CancelOrder(callCtx, p.ProviderReference)
	cancel()
	if err != nil {
		log.Warn("cancel order failed", "error", err)
		switch {
		case providers.IsPermanent(err):
			return problemResult(httpapi.NewProblem(http.StatusConflict, "payment-not-cancellable", "Provider refused the cancellation",
				fmt.Sprintf("%s did not cancel payment %s: %s. The payment is unchanged; sync follows its status.", p.Provider, p.ID, providerMessage(err))), p.ID, "refused"), nil
		case isTimeout(err):
			return problemResult(httpapi.NewProblem(http.StatusGatewayTimeout, "provider-timeout", "Provider timed out",
				fmt.Sprintf("%s did not answer the cancellation in time; it may have taken effect. Payment %s is unchanged here; sync follows its status.", p.Provider, p.ID)), p.ID, "unknown"), nil
		}
		return problemResult(httpapi.NewProblem(http.StatusBadGateway, "provider-error", "Provider error",
			fmt.Sprintf("%s failed while cancelling payment %s (%s); it may have taken effect. The payment is unchanged here; sync follows its status.", p.Provider, p.ID, providerMessage(err))), p.ID, "unknown"), nil
	}
	ctx, cancel2 := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel2()
	res, err := s.settler.Apply(ctx, settle.Statement{
		ProviderID: p.Provider, Source: state.SourceRefund,
		Status: providers.PaymentStatus{Status: providers.StatusFailed, Reference: p.Reference, ProviderReference: p.ProviderReference,
			Message: cancelledMessage, Raw: resp.Raw},
	})
	if err != nil {
		log.Error("record cancellation", "error", err)
		return problemResult(httpapi.NewProblem(http.StatusInternalServerError, "store-error", "Cancellation not recorded",
			fmt.Sprintf("%s cancelled payment %s but finconnectd could not record it; sync will.", p.Provider, p.ID)), p.ID, "failed"), nil
	}
	log.Info("payment cancelled", "status", res.Payment.Status, "event_id", res.EventID)
	if res.Payment.Status != state.StatusFailed {
		// Settled otherwise meanwhile (paid just before the cancellation).
		return problemResult(httpapi.NewProblem(http.StatusConflict, "payment-not-cancellable", "Payment settled meanwhile",
			fmt.Sprintf("Payment %s became %s before the cancellation was recorded.", p.ID, res.Payment.Status)), p.ID, "refused"), nil
	}
	return result{status: http.StatusOK, body: paymentView(res.Payment), subject: p.ID, result: "cancelled"}, nil
}
