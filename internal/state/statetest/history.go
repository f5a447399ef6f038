package statetest

import (
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunPaymentHistory: ApplyStatus and RecordInitiation record each status
// change of a payment in the same transaction, and ApplyStatus links the
// notifications it records (not their duplicates) to their payment.
func RunPaymentHistory(t *testing.T, open func(t *testing.T) state.Store) {
	t.Run("PaymentHistory", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// A payment started through the API: pending, then the
		// initiation's answer makes it unknown, sync says pending, the
		// notification succeeded; a duplicate and a same-status
		// notification change nothing.
		createPayment(t, s, payment("pay_hist", "clickpesa.tz", "HIST1", t0))
		_, err := s.RecordInitiation(ctx(t), "pay_hist", state.PaymentInitiation{Status: "unknown"}, t0.Add(time.Second))
		check(t, err, "record the initiation")
		sync := change("clickpesa.tz", "HIST1", "pending", nil)
		sync.Source, sync.Now = state.SourceStatusQuery, t0.Add(2*time.Second)
		apply(t, s, sync)
		ok := change("clickpesa.tz", "HIST1", "succeeded", &recorder{})
		ok.Notification, ok.Now = notification("ntf_hist1", "clickpesa.tz", "HIST1:ok"), t0.Add(3*time.Second)
		apply(t, s, ok)
		dup := ok
		dup.Notification = notification("ntf_hist2", "clickpesa.tz", "HIST1:ok")
		if res := apply(t, s, dup); !res.Duplicate {
			t.Fatalf("the second notification with the same key is not a duplicate: %+v", res)
		}
		again := change("clickpesa.tz", "HIST1", "succeeded", nil)
		again.Notification, again.Now = notification("ntf_hist3", "clickpesa.tz", "HIST1:again"), t0.Add(4*time.Second)
		apply(t, s, again)

		hist, err := s.PaymentHistory(ctx(t), "pay_hist")
		check(t, err, "read the history")
		want := []state.StatusEntry{
			{PaymentID: "pay_hist", From: "pending", To: "unknown", Source: state.SourceInitiation, At: t0.Add(time.Second)},
			{PaymentID: "pay_hist", From: "unknown", To: "pending", Source: state.SourceStatusQuery, At: t0.Add(2 * time.Second)},
			{PaymentID: "pay_hist", From: "pending", To: "succeeded", Source: state.SourceNotification, NotificationID: "ntf_hist1", At: t0.Add(3 * time.Second)},
		}
		if len(hist) != len(want) {
			t.Fatalf("history %+v, want %+v", hist, want)
		}
		for i := range want {
			if got := hist[i]; got.PaymentID != want[i].PaymentID || got.From != want[i].From || got.To != want[i].To ||
				got.Source != want[i].Source || got.NotificationID != want[i].NotificationID || !got.At.Equal(want[i].At) {
				t.Errorf("entry %d: %+v, want %+v", i, got, want[i])
			}
		}

		ntfs, err := s.PaymentNotifications(ctx(t), "pay_hist")
		check(t, err, "read the notifications")
		var ids []string
		for _, n := range ntfs {
			ids = append(ids, n.ID)
			if n.PaymentID != "pay_hist" || n.Provider != "clickpesa.tz" || string(n.Body) != `{"n":1}` || !n.ReceivedAt.Equal(t0) {
				t.Errorf("notification %+v", n)
			}
		}
		if len(ids) != 2 || ids[0] != "ntf_hist1" || ids[1] != "ntf_hist3" {
			t.Errorf("notifications %v, want [ntf_hist1 ntf_hist3]", ids)
		}
	})
	t.Run("PaymentHistoryOfCreation", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := change("pesapal.ke", "HIST2", "succeeded", &recorder{})
		c.CreateIfMissing, c.Amount, c.Currency = true, "1000", "KES"
		c.Notification = notification("ntf_hist4", "pesapal.ke", "HIST2:ok")
		res := apply(t, s, c)
		hist, err := s.PaymentHistory(ctx(t), res.Payment.ID)
		check(t, err, "read the history")
		if len(hist) != 1 || hist[0].From != "" || hist[0].To != "succeeded" || hist[0].NotificationID != "ntf_hist4" {
			t.Errorf("history of a payment a notification created: %+v", hist)
		}
		// Stored before the payment existed, and linked to it after.
		ntfs, err := s.PaymentNotifications(ctx(t), res.Payment.ID)
		check(t, err, "read the notifications")
		if len(ntfs) != 1 || ntfs[0].ID != "ntf_hist4" || ntfs[0].PaymentID != res.Payment.ID {
			t.Errorf("notifications of a payment a notification created: %+v", ntfs)
		}
		for _, id := range []string{"pay_none", ""} {
			hist, err := s.PaymentHistory(ctx(t), id)
			check(t, err, "read the history of no payment")
			ntfs, err := s.PaymentNotifications(ctx(t), id)
			check(t, err, "read the notifications of no payment")
			if len(hist) != 0 || len(ntfs) != 0 {
				t.Errorf("payment %q: history %v, notifications %v", id, hist, ntfs)
			}
		}
	})
}
