package payments

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// TestTimeoutAfterNotification is outcome 6 as it happens with real
// timeouts: the provider holds its answer past finconnectd's initiation
// timeout, and the provider's notification (applied here as ingest applies
// it) settles the payment while the call is still waiting. The timeout
// must not rewind the payment to unknown nor erase the reference the
// notification brought; sync and ?refresh=true afterwards emit no second
// event; the sandbox got exactly one push.
func TestTimeoutAfterNotification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{initiateTimeout: 1500 * time.Millisecond,
		settings: sandbox.Settings{SlowAnswer: sandbox.Duration(20 * time.Second)}})
	for _, provider := range []string{"pesapal.ke", "clickpesa.tz", "azampay.tz"} {
		t.Run(provider, func(t *testing.T) {
			h.t = t
			ref := "LATE6" + strings.ToUpper(provider[:2])
			answered := make(chan response, 1)
			go func() { answered <- h.pay("", paymentBody(provider, ref, phoneFor(provider, 6))) }()
			// The payment row exists once the provider call is under way
			// (the emulator lists the push only after answering it).
			eventually(t, 10*time.Second, "payment "+ref+" to be stored", func() bool {
				_, err := h.store.PaymentByReference(context.Background(), provider, ref)
				return err == nil
			})
			body := paymentBody(provider, ref, "")
			res, err := h.svc.settler.Apply(context.Background(), settle.Statement{
				ProviderID: provider, Source: state.SourceNotification,
				Status: providers.PaymentStatus{Status: providers.StatusSucceeded, Reference: ref, ProviderReference: "NTF-" + ref,
					Amount: body["amount"].(string), Currency: body["currency"].(string), ConfirmationCode: "CONF6"},
				Notification: &state.Notification{Route: "hooks", DedupKey: "NTF-" + ref + ":succeeded", Body: []byte(`{}`)},
			})
			if err != nil || !res.Changed || res.EventID == "" {
				t.Fatalf("the notification: %+v, %v; want it to settle the payment", res, err)
			}
			r := <-answered
			if r.status != http.StatusGatewayTimeout {
				t.Fatalf("POST: %d %s, want 504 (the provider held its answer)", r.status, r.body)
			}
			var prob problemWithPayment
			r.decode(t, &prob)
			if prob.Payment == nil || prob.Payment.Status != "succeeded" {
				t.Errorf("the 504 shows the payment as %+v, want succeeded (settled before the timeout)", prob.Payment)
			}
			stored := h.mustStored(res.Payment.ID)
			if stored.Status != state.StatusSucceeded || stored.ProviderReference != "NTF-"+ref || stored.ConfirmationCode != "CONF6" {
				t.Errorf("stored after the timeout: %s %q %q; want succeeded with the notification's reference and code",
					stored.Status, stored.ProviderReference, stored.ConfirmationCode)
			}
			if provider == "clickpesa.tz" { // asked by our reference: the provider still says succeeded
				h.waitProvider(View(stored))
				if got := h.get(stored.ID, true); got.Status != "succeeded" {
					t.Errorf("?refresh=true: %s, want succeeded", got.Status)
				}
			}
			h.clock.Advance(2 * time.Minute)
			if err := h.svc.Sync(context.Background()); err != nil {
				t.Errorf("sync: %v", err)
			}
			if evs := h.store.EventsOf(stored.ID); len(evs) != 1 || evs[0].Type != "payment.succeeded" || evs[0].ID != res.EventID {
				t.Errorf("events %+v, want only %s", evs, res.EventID)
			}
			// The emulator lists a request once it has answered it.
			eventually(t, 10*time.Second, "the push of "+ref+" in the emulator's list", func() bool { return h.pushes(ref) > 0 })
			if n := h.pushes(ref); n != 1 {
				t.Errorf("pushes = %d, want 1", n)
			}
		})
	}
}
