package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunPayouts runs the conformance suite of state.PayoutStore and
// state.AuditStore; each subtest opens its own store. open2, when not nil,
// opens a second store on the same data as the first one open returned in
// the test (two processes), for the limit test across replicas.
func RunPayouts(t *testing.T, open Opener, open2 func(t *testing.T, first state.Store) state.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"CreatePayout", testCreatePayout},
		{"ListPayouts", testListPayouts},
		{"PayoutTransitions", testPayoutTransitions},
		{"PayoutNotificationDuplicate", testPayoutDuplicate},
		{"DuePayouts", testDuePayouts},
		{"PayoutLimit", testPayoutLimit},
		{"RefundCap", testRefundCap},
		{"RefundEvents", testRefundEvents},
		{"Audit", testAudit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
	t.Run("ConcurrentPayoutsAgainstLimit", func(t *testing.T) {
		s := open(t)
		testConcurrentLimit(t, s, s)
	})
	t.Run("ConcurrentRefundsOfOnePayment", func(t *testing.T) {
		s := open(t)
		testConcurrentRefunds(t, s, s)
	})
	if open2 != nil {
		t.Run("ConcurrentPayoutsAgainstLimitTwoStores", func(t *testing.T) {
			s := open(t)
			testConcurrentLimit(t, s, open2(t, s))
		})
		t.Run("ConcurrentRefundsOfOnePaymentTwoStores", func(t *testing.T) {
			s := open(t)
			testConcurrentRefunds(t, s, open2(t, s))
		})
	}
}

func payout(id, provider, ref, amount string) state.Payout {
	return state.Payout{
		ID: id, Provider: provider, Reference: ref, Amount: amount, Currency: "TZS",
		DestinationType: state.DestinationMobileMoney, Phone: "255712345670", Description: "salary",
		Token: "finance", CreatedAt: t0, NextSyncAt: t0.Add(time.Minute),
	}
}

func createPayout(t testing.TB, s state.Store, p state.Payout) {
	t.Helper()
	check(t, s.CreatePayout(context.Background(), p, state.PayoutLimit{}), "create payout "+p.ID)
}

func testCreatePayout(t *testing.T, open Opener) {
	s := open(t)
	p := payout("po_1", "clickpesa.tz", "PO1", "1000.50")
	p.Raw = json.RawMessage(`{"a":1}`)
	createPayout(t, s, p)
	got, err := s.Payout(ctx(t), "po_1")
	check(t, err, "read payout")
	if got.Status != state.PayoutPending {
		t.Errorf("status = %q, want pending (the default)", got.Status)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, t0)
	sameTime(t, "UpdatedAt", got.UpdatedAt, t0)
	sameTime(t, "NextSyncAt", got.NextSyncAt, t0.Add(time.Minute))
	if got.Amount != "1000.50" || got.Phone != p.Phone || got.Token != "finance" || got.Description != "salary" ||
		got.DestinationType != state.DestinationMobileMoney || string(got.Raw) != `{"a":1}` {
		t.Errorf("payout read back = %+v, want the fields written (%+v)", got, p)
	}
	byRef, err := s.PayoutByReference(ctx(t), "clickpesa.tz", "PO1")
	check(t, err, "read payout by reference")
	if byRef.ID != "po_1" {
		t.Errorf("PayoutByReference = %s, want po_1", byRef.ID)
	}
	wantErrIs(t, s.CreatePayout(ctx(t), payout("po_2", "clickpesa.tz", "PO1", "5"), state.PayoutLimit{}), state.ErrConflict, "reuse reference")
	wantErrIs(t, s.CreatePayout(ctx(t), payout("po_1", "clickpesa.tz", "PO9", "5"), state.PayoutLimit{}), state.ErrConflict, "reuse ID")
	createPayout(t, s, payout("po_3", "clickpesa.other", "PO1", "5")) // references are per provider
	_, err = s.Payout(ctx(t), "po_nope")
	wantErrIs(t, err, state.ErrNotFound, "read missing payout")
	_, err = s.PayoutByReference(ctx(t), "clickpesa.tz", "NOPE")
	wantErrIs(t, err, state.ErrNotFound, "read missing reference")
	for _, bad := range []string{"", "0", "-5", "1e3", "abc"} {
		if err := s.CreatePayout(ctx(t), payout("po_bad", "clickpesa.tz", "BAD", bad), state.PayoutLimit{}); err == nil {
			t.Errorf("CreatePayout with amount %q succeeded; want an error", bad)
		}
	}
}

func testListPayouts(t *testing.T, open Opener) {
	s := open(t)
	for i, ref := range []string{"A", "B", "C"} {
		p := payout(fmt.Sprintf("po_%d", i), "clickpesa.tz", ref, "10")
		p.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		if ref == "B" {
			p.PaymentID = "pay_x"
		}
		createPayout(t, s, p)
	}
	all, err := s.ListPayouts(ctx(t), state.PayoutFilter{})
	check(t, err, "list payouts")
	if got := idsOf(all, func(p state.Payout) string { return p.ID }); fmt.Sprint(got) != "[po_2 po_1 po_0]" {
		t.Errorf("list = %v, want newest first [po_2 po_1 po_0]", got)
	}
	one, err := s.ListPayouts(ctx(t), state.PayoutFilter{PaymentID: "pay_x"})
	check(t, err, "list payouts of a payment")
	if len(one) != 1 || one[0].ID != "po_1" {
		t.Errorf("list by payment = %v, want [po_1]", one)
	}
	lim, err := s.ListPayouts(ctx(t), state.PayoutFilter{Limit: 2, Status: state.PayoutPending})
	check(t, err, "list payouts with limit")
	if len(lim) != 2 {
		t.Errorf("limit 2 returned %d", len(lim))
	}
}

// payoutRecorder builds event payloads and routes.
type payoutRecorder struct {
	mu    sync.Mutex
	types []string
}

func (r *payoutRecorder) change(c state.PayoutChange) state.PayoutChange {
	c.Routes = func(eventType string) []string { return []string{"erp"} }
	c.EventPayload = func(p state.Payout, eventID, eventType string, at time.Time) ([]byte, error) {
		r.mu.Lock()
		r.types = append(r.types, eventType)
		r.mu.Unlock()
		return json.Marshal(map[string]string{"type": eventType, "payout_id": p.ID, "status": p.Status})
	}
	if c.Now.IsZero() {
		c.Now = t0.Add(time.Minute)
	}
	return c
}

func testPayoutTransitions(t *testing.T, open Opener) {
	steps := []struct {
		status    string
		fromQuery bool
		want      string
		event     string
	}{
		{state.PayoutUnknown, false, state.PayoutUnknown, ""},
		{state.PayoutPending, false, state.PayoutPending, ""},
		{state.PayoutFailed, false, state.PayoutFailed, "payout.failed"},
		{state.PayoutPending, false, state.PayoutFailed, ""},   // backwards: nothing
		{state.PayoutSucceeded, false, state.PayoutFailed, ""}, // a notification alone cannot revive it
		{state.PayoutSucceeded, true, state.PayoutSucceeded, "payout.succeeded"},
		{state.PayoutFailed, true, state.PayoutSucceeded, ""},
		{state.PayoutReversed, false, state.PayoutReversed, "payout.reversed"},
		{state.PayoutSucceeded, true, state.PayoutReversed, ""},
	}
	s := open(t)
	createPayout(t, s, payout("po_t", "clickpesa.tz", "PT", "100"))
	rec := &payoutRecorder{}
	for i, st := range steps {
		res, err := s.ApplyPayoutStatus(ctx(t), rec.change(state.PayoutChange{
			Provider: "clickpesa.tz", Reference: "PT", Status: st.status, FromQuery: st.fromQuery,
			ProviderReference: "PAY1", Fee: "4.50", Message: fmt.Sprintf("step %d", i),
		}))
		check(t, err, fmt.Sprintf("step %d: apply %s", i, st.status))
		if res.Payout.Status != st.want {
			t.Errorf("step %d (%s, query %v): status = %s, want %s", i, st.status, st.fromQuery, res.Payout.Status, st.want)
		}
		if (res.EventID != "") != (st.event != "") {
			t.Errorf("step %d: event %q, want one: %v", i, res.EventID, st.event != "")
		}
		if st.event != "" && res.EventID != "" {
			ev, ds, _, err := s.EventDetail(ctx(t), res.EventID)
			check(t, err, "read event")
			if ev.Type != st.event || ev.PaymentID != "po_t" || len(ds) != 1 || ds[0].Route != "erp" {
				t.Errorf("step %d: event %+v with %d deliveries, want %s for po_t to erp", i, ev, len(ds), st.event)
			}
		}
	}
	got, err := s.Payout(ctx(t), "po_t")
	check(t, err, "read payout")
	if got.ProviderReference != "PAY1" || got.Fee != "4.50" {
		t.Errorf("fields = %q %q, want PAY1 4.50 filled in", got.ProviderReference, got.Fee)
	}
	// By ID, filling only.
	res, err := s.ApplyPayoutStatus(ctx(t), state.PayoutChange{ID: "po_t", ReceiverName: "JOHN DOE", Now: t0.Add(time.Hour)})
	check(t, err, "fill by id")
	if res.Changed || res.Payout.ReceiverName != "JOHN DOE" {
		t.Errorf("fill by id = %+v, want the name filled, no change", res)
	}
	_, err = s.ApplyPayoutStatus(ctx(t), state.PayoutChange{Provider: "clickpesa.tz", Reference: "NONE", Status: "failed"})
	wantErrIs(t, err, state.ErrNotFound, "apply to missing payout")
	if _, err := s.ApplyPayoutStatus(ctx(t), state.PayoutChange{ID: "po_t", Status: "weird"}); err == nil {
		t.Error("an unknown status was accepted")
	}
}

func testPayoutDuplicate(t *testing.T, open Opener) {
	s := open(t)
	createPayout(t, s, payout("po_d", "clickpesa.tz", "PD", "100"))
	rec := &payoutRecorder{}
	var events []string
	for i := range 3 {
		res, err := s.ApplyPayoutStatus(ctx(t), rec.change(state.PayoutChange{
			Provider: "clickpesa.tz", Reference: "PD", Status: state.PayoutSucceeded,
			Notification: &state.Notification{ID: fmt.Sprintf("ntf_%d", i), Route: "cp", DedupKey: "payout:PAY1:succeeded", Body: []byte(`{}`)},
		}))
		check(t, err, "apply notification")
		if i > 0 && !res.Duplicate {
			t.Errorf("notification %d not a duplicate", i)
		}
		if res.EventID != "" {
			events = append(events, res.EventID)
		}
	}
	if len(events) != 1 {
		t.Errorf("events = %v, want exactly one", events)
	}
}

func testDuePayouts(t *testing.T, open Opener) {
	s := open(t)
	for i, st := range []string{state.PayoutPending, state.PayoutUnknown, state.PayoutSucceeded, state.PayoutPending} {
		p := payout(fmt.Sprintf("po_%d", i), "clickpesa.tz", fmt.Sprintf("R%d", i), "1")
		p.Status = st
		p.NextSyncAt = t0.Add(time.Duration(i) * time.Minute)
		createPayout(t, s, p)
	}
	due, err := s.DuePayouts(ctx(t), t0.Add(2*time.Minute), 0)
	check(t, err, "due payouts")
	if got := idsOf(due, func(p state.Payout) string { return p.ID }); fmt.Sprint(got) != "[po_0 po_1]" {
		t.Errorf("due = %v, want [po_0 po_1]", got)
	}
	check(t, s.SchedulePayoutSync(ctx(t), "po_0", t0.Add(time.Hour), 3), "schedule")
	p, err := s.Payout(ctx(t), "po_0")
	check(t, err, "read")
	sameTime(t, "NextSyncAt", p.NextSyncAt, t0.Add(time.Hour))
	if p.SyncAttempts != 3 {
		t.Errorf("SyncAttempts = %d, want 3", p.SyncAttempts)
	}
	wantErrIs(t, s.SchedulePayoutSync(ctx(t), "po_none", t0, 1), state.ErrNotFound, "schedule missing")
}

func testPayoutLimit(t *testing.T, open Opener) {
	s := open(t)
	lim := state.PayoutLimit{MaxPerWindow: "1000", Window: 24 * time.Hour}
	mk := func(id, amount string, at time.Time) state.Payout {
		p := payout(id, "clickpesa.tz", id, amount)
		p.CreatedAt = at
		return p
	}
	check(t, s.CreatePayout(ctx(t), mk("old", "900", t0.Add(-25*time.Hour)), lim), "payout outside the window")
	check(t, s.CreatePayout(ctx(t), mk("a", "600", t0), lim), "first payout")
	failed := mk("f", "300", t0)
	failed.Status = state.PayoutFailed
	check(t, s.CreatePayout(ctx(t), failed, state.PayoutLimit{}), "failed payout") // failed ones do not count
	err := s.CreatePayout(ctx(t), mk("b", "400.50", t0.Add(time.Second)), lim)
	var le *state.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("over the limit: err = %v, want *state.LimitError", err)
	}
	if le.Allowance != "400.00" || le.Used != "600.00" || le.Max != "1000" || le.Currency != "TZS" {
		t.Errorf("limit error = %+v, want 600.00 used and 400.00 left of 1000 TZS", le)
	}
	if _, err := s.Payout(ctx(t), "b"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("the refused payout was stored (err %v)", err)
	}
	check(t, s.CreatePayout(ctx(t), mk("c", "400", t0.Add(2*time.Second)), lim), "payout up to the limit")
	usd := mk("u", "999", t0)
	usd.Currency = "USD"
	check(t, s.CreatePayout(ctx(t), usd, lim), "another currency has its own total")
	total, err := s.PayoutTotal(ctx(t), "TZS", t0.Add(-24*time.Hour))
	check(t, err, "total")
	if total != "1000" {
		t.Errorf("total = %q, want 1000", total)
	}
}

// testConcurrentLimit: twenty payouts of 100 against a limit of 1000, at
// once, through two stores (or one): exactly ten are taken.
func testConcurrentLimit(t *testing.T, s1, s2 state.Store) {
	lim := state.PayoutLimit{MaxPerWindow: "1000"}
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		created, capped int
		others          []error
	)
	start := make(chan struct{})
	for i := range 20 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p := payout(fmt.Sprintf("po_c%d", i), "clickpesa.tz", fmt.Sprintf("C%d", i), "100")
			p.CreatedAt = time.Time{} // the store's now
			err := s.CreatePayout(context.Background(), p, lim)
			var le *state.LimitError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.As(err, &le):
				capped++
			default:
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("unexpected errors: %v", others)
	}
	if created != 10 || capped != 10 {
		t.Errorf("created %d, refused %d; want 10 and 10", created, capped)
	}
	total, err := s1.PayoutTotal(context.Background(), "TZS", time.Now().Add(-time.Hour))
	check(t, err, "total")
	if total != "1000" {
		t.Errorf("total = %s, want 1000 (the limit, never more)", total)
	}
}

func testAudit(t *testing.T, open Opener) {
	s := open(t)
	for i, e := range []state.AuditEntry{
		{Token: "finance", Action: "payout.create", Subject: "po_1", Result: "created", Status: 201, Request: json.RawMessage(`{"amount":"1"}`)},
		{Token: "shop", Action: "payout.create", Result: "refused", Status: 403, Detail: "missing scope payouts"},
		{Token: "finance", Action: "refund.create", Subject: "rfd_1", Result: "created", Status: 201},
	} {
		e.At = t0.Add(time.Duration(i) * time.Second)
		check(t, s.AppendAudit(ctx(t), e), "append audit")
	}
	all, err := s.ListAudit(ctx(t), state.AuditFilter{})
	check(t, err, "list audit")
	if len(all) != 3 || all[0].Action != "refund.create" || all[2].Subject != "po_1" {
		t.Fatalf("audit = %+v, want three entries newest first", all)
	}
	checkID(t, "aud_", all[0].ID)
	sameTime(t, "At", all[2].At, t0)
	if string(all[2].Request) != `{"amount":"1"}` || all[2].Status != 201 || all[1].Detail != "missing scope payouts" {
		t.Errorf("entry read back = %+v", all[2])
	}
	shop, err := s.ListAudit(ctx(t), state.AuditFilter{Token: "shop"})
	check(t, err, "list by token")
	if len(shop) != 1 || shop[0].Result != "refused" {
		t.Errorf("by token = %+v", shop)
	}
	if err := s.AppendAudit(ctx(t), state.AuditEntry{}); err == nil {
		t.Error("an entry without action was stored")
	}
}

func refund(id, ref, amount string) state.Payout {
	p := payout(id, "clickpesa.tz", ref, amount)
	p.PaymentID = "pay_r"
	return p
}

// testRefundCap: a payment's refunds (all but failed ones) never take more
// than the payment's amount; the refusal stores nothing and says what is
// left.
func testRefundCap(t *testing.T, open Opener) {
	s := open(t)
	lim := state.PayoutLimit{RefundOf: "1000"}
	check(t, s.CreatePayout(ctx(t), refund("r1", "R1", "600"), lim), "first refund")
	failed := refund("rf", "RF", "300")
	failed.Status = state.PayoutFailed
	check(t, s.CreatePayout(ctx(t), failed, lim), "a failed refund") // does not count
	other := payout("o1", "clickpesa.tz", "O1", "900")
	check(t, s.CreatePayout(ctx(t), other, lim), "a payout that refunds nothing is not capped")
	err := s.CreatePayout(ctx(t), refund("r2", "R2", "400.50"), lim)
	var re *state.RefundError
	if !errors.As(err, &re) {
		t.Fatalf("over the payment: err = %v, want *state.RefundError", err)
	}
	if re.Left != "400.00" || re.Refunded != "600.00" || re.Amount != "1000" || re.PaymentID != "pay_r" {
		t.Errorf("refund error = %+v, want 600.00 refunded and 400.00 left of 1000", re)
	}
	if _, err := s.Payout(ctx(t), "r2"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("the refused refund was stored (err %v)", err)
	}
	check(t, s.CreatePayout(ctx(t), refund("r3", "R3", "400"), lim), "refund up to the payment's amount")
	list, err := s.ListPayouts(ctx(t), state.PayoutFilter{PaymentID: "pay_r"})
	check(t, err, "list refunds")
	if len(list) != 3 {
		t.Errorf("%d refunds listed for the payment, want 3", len(list))
	}
}

// testRefundEvents: a refund (a payout with PaymentID) reaching succeeded
// or failed emits refund.succeeded or refund.failed, not payout.*.
func testRefundEvents(t *testing.T, open Opener) {
	s := open(t)
	createPayout(t, s, refund("r1", "R1", "100"))
	createPayout(t, s, refund("r2", "R2", "100"))
	for id, st := range map[string]string{"r1": state.PayoutSucceeded, "r2": state.PayoutFailed} {
		res, err := s.ApplyPayoutStatus(ctx(t), state.PayoutChange{ID: id, Status: st, Now: t0.Add(time.Minute)})
		check(t, err, "settle "+id)
		if res.EventID == "" {
			t.Errorf("%s %s: no event", id, st)
			continue
		}
		ev, _, _, err := s.EventDetail(ctx(t), res.EventID)
		check(t, err, "read event of "+id)
		if ev.Type != "refund."+st || ev.PaymentID != id {
			t.Errorf("%s %s: event %+v, want refund.%s", id, st, ev, st)
		}
	}
}

// testConcurrentRefunds: twenty refunds of 100 of one payment of 1000, at
// once, through two stores (or one): exactly ten are taken.
func testConcurrentRefunds(t *testing.T, s1, s2 state.Store) {
	lim := state.PayoutLimit{RefundOf: "1000"}
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		created, capped int
		others          []error
	)
	start := make(chan struct{})
	for i := range 20 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.CreatePayout(context.Background(), refund(fmt.Sprintf("po_r%d", i), fmt.Sprintf("R%d", i), "100"), lim)
			var re *state.RefundError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.As(err, &re):
				capped++
			default:
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("unexpected errors: %v", others)
	}
	if created != 10 || capped != 10 {
		t.Errorf("created %d, refused %d; want 10 and 10", created, capped)
	}
}
