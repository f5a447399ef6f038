package statetest

import (
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunInitiationAfterSettle: the provider's notification can be applied
// before the answer to the initiation is recorded (a slow answer, a
// loaded machine); recording that answer must not undo the settled
// status.
func RunInitiationAfterSettle(t *testing.T, open func(t *testing.T) state.Store) {
	t.Run("RecordInitiationKeepsSettled", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createPayment(t, s, payment("pay_early", "clickpesa.tz", "EARLY1", t0))
		apply(t, s, change("clickpesa.tz", "EARLY1", "succeeded", &recorder{}))
		p, err := s.RecordInitiation(ctx(t), "pay_early", state.PaymentInitiation{
			Status: "pending", ProviderReference: "CP-EARLY1", NextSyncAt: t0.Add(time.Minute)}, t0.Add(2*time.Minute))
		check(t, err, "record the initiation's answer after the notification")
		stored, err := s.Payment(ctx(t), "pay_early")
		check(t, err, "read the payment")
		if p.Status != "succeeded" || stored.Status != "succeeded" {
			t.Errorf("after the initiation's late answer: returned %q, stored %q; want succeeded (the notification's)", p.Status, stored.Status)
		}
	})
}
