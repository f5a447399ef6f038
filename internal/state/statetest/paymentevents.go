package statetest

import (
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunPaymentEvents is the conformance suite of OutboxStore.PaymentEvents:
// a payment's events are found by its ID, newest first, within the limit,
// whatever other payments' events there are.
func RunPaymentEvents(t *testing.T, open func(t *testing.T) state.Store) {
	t.Run("PaymentEvents", func(t *testing.T) {
		t.Parallel()
		testPaymentEvents(t, open)
	})
}

func testPaymentEvents(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	first := change("pesapal.ke", "PE1", state.StatusSucceeded, rec, "erp")
	first.CreateIfMissing = true
	res := apply(t, s, first)
	payID, ev1 := res.Payment.ID, res.EventID
	// Other payments' events, before and after.
	other := emit(t, s, "PE2", "erp", "crm")
	second := change("pesapal.ke", "PE1", state.StatusReversed, rec, "erp", "crm")
	second.Now = t0.Add(2 * time.Minute)
	ev2 := apply(t, s, second).EventID
	emit(t, s, "PE3", "erp")
	if ev1 == "" || ev2 == "" || other == "" {
		t.Fatalf("events not emitted: %q %q %q", ev1, ev2, other)
	}

	got, err := s.PaymentEvents(ctx(t), payID, 0)
	check(t, err, "list a payment's events")
	if len(got) != 2 || got[0].ID != ev2 || got[1].ID != ev1 {
		t.Fatalf("events of %s = %v, want [%s %s]", payID, eventIDs(got), ev2, ev1)
	}
	want := []struct {
		typ string
		at  time.Time
	}{{"payment.reversed", t0.Add(2 * time.Minute)}, {"payment.succeeded", t0.Add(time.Minute)}}
	for i, e := range got {
		if e.Type != want[i].typ || e.PaymentID != payID || e.Provider != "pesapal.ke" || len(e.Payload) == 0 {
			t.Errorf("event %d = %+v, want a %s of %s with its payload", i, e, want[i].typ, payID)
		}
		sameTime(t, "event created", e.CreatedAt, want[i].at)
	}
	newest, err := s.PaymentEvents(ctx(t), payID, 1)
	check(t, err, "list a payment's newest event")
	if len(newest) != 1 || newest[0].ID != ev2 {
		t.Errorf("limit 1 = %v, want [%s]", eventIDs(newest), ev2)
	}
	none, err := s.PaymentEvents(ctx(t), "pay_nobody", 0)
	check(t, err, "list the events of an unknown payment")
	if len(none) != 0 {
		t.Errorf("an unknown payment has events %v", eventIDs(none))
	}
}

func eventIDs(evs []state.Event) []string {
	return idsOf(evs, func(e state.Event) string { return e.ID })
}
