package sandbox

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrUnknownPayment: Resend was asked about a payment the emulator never saw.
var ErrUnknownPayment = errors.New("unknown payment")

// ErrStillPending: ClickPesa and AzamPay only notify settled payments.
var ErrStillPending = errors.New("payment still pending: nothing to notify")

// Resend queues the provider's notification of a payment's current status
// once more (like the "resend IPN" button of PesaPal's dashboard), whatever its
// outcome digit says. id is, for "pesapal", the order tracking id or the
// merchant reference; for "clickpesa", the orderReference; for "azampay",
// the transactionId or the externalId.
func (e *Emulator) Resend(provider, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch provider {
	case providerPesaPal:
		o := e.pp.orders[id]
		if o == nil {
			o = e.pp.orders[e.pp.byRef[id]]
		}
		if o == nil {
			return fmt.Errorf("resend pesapal ipn for %q: %w", id, ErrUnknownPayment)
		}
		e.ppNotifyLocked(o, 1)
	case providerClickPesa:
		p := e.cp.payments[id]
		if p == nil {
			return fmt.Errorf("resend clickpesa webhook for %q: %w", id, ErrUnknownPayment)
		}
		if p.status == "PROCESSING" {
			return fmt.Errorf("resend clickpesa webhook for %q: %w", id, ErrStillPending)
		}
		e.cpQueueWebhookLocked(p, 1)
	case providerAzamPay:
		t := e.az.txns[id]
		if t == nil {
			t = e.az.txns[e.az.byExternal[id]]
		}
		if t == nil {
			return fmt.Errorf("resend azampay callback for %q: %w", id, ErrUnknownPayment)
		}
		if t.status == "pending" {
			return fmt.Errorf("resend azampay callback for %q: %w", id, ErrStillPending)
		}
		e.azQueueCallbackLocked(t, 1)
	default:
		return fmt.Errorf("resend for %q: unknown provider %q (pesapal, clickpesa or azampay)", id, provider)
	}
	return nil
}

// handleResend is POST /_sandbox/resend?provider=P&id=ID.
func (e *Emulator) handleResend(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	err := e.Resend(q.Get("provider"), q.Get("id"))
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, map[string]any{"queued": 1})
	case errors.Is(err, ErrUnknownPayment):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrStillPending):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
}
