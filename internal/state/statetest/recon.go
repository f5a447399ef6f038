package statetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunRecon is the conformance suite of state.ReconStore: runs are leased
// (one running run per provider, taken over when the lease ends or its
// owner is dead, resumed with its checkpoint), what a run saw at the
// provider finds duplicates and the payments and payouts it did not see
// (each kind apart), and a
// difference is recorded once per key, with its event only when it opens.
func RunRecon(t *testing.T, open func(t *testing.T) state.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"StartReconRun", testStartReconRun},
		{"CheckpointAndFinish", testCheckpointAndFinish},
		{"RecordSeen", testRecordSeen},
		{"WindowPayments", testWindowPayments},
		{"SeenKinds", testSeenKinds},
		{"WindowPayouts", testWindowPayouts},
		{"PayoutDifference", testPayoutDifference},
		{"RecordDifference", testRecordDifference},
		{"DifferenceStates", testDifferenceStates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

var (
	winFrom = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	winTo   = winFrom.Add(24 * time.Hour)
)

func start(owner string, now time.Time) state.ReconStart {
	return state.ReconStart{Provider: "clickpesa.tz", From: winFrom, To: winTo, Owner: owner, Lease: time.Minute, Now: now}
}

func testStartReconRun(t *testing.T, open Opener) {
	s := open(t)
	r, resumed, err := s.StartReconRun(ctx(t), start("a", t0))
	check(t, err, "start a run")
	checkID(t, "rcn_", r.ID)
	if resumed || r.Status != state.RunRunning || r.Owner != "a" {
		t.Fatalf("new run = %+v resumed %v, want a running run of a", r, resumed)
	}
	sameTime(t, "lease", r.LeaseUntil, t0.Add(time.Minute))
	sameTime(t, "from", r.From, winFrom)

	again, resumed, err := s.StartReconRun(ctx(t), start("a", t0.Add(time.Second)))
	check(t, err, "start again by the same owner")
	if !resumed || again.ID != r.ID {
		t.Errorf("the same owner got run %s resumed %v, want %s resumed", again.ID, resumed, r.ID)
	}

	var busy *state.ReconBusyError
	_, _, err = s.StartReconRun(ctx(t), start("b", t0.Add(2*time.Second)))
	if !errors.As(err, &busy) || busy.Run.ID != r.ID {
		t.Fatalf("another owner during the lease: err %v, want *ReconBusyError naming %s", err, r.ID)
	}
	other := start("b", t0.Add(2*time.Second))
	other.From, other.To = winTo, winTo.Add(time.Hour)
	if _, _, err = s.StartReconRun(ctx(t), other); !errors.As(err, &busy) {
		t.Fatalf("another window during the lease: err %v, want *ReconBusyError", err)
	}
	pesapal := start("b", t0)
	pesapal.Provider = "pesapal.ke"
	_, _, err = s.StartReconRun(ctx(t), pesapal)
	check(t, err, "another provider runs alongside")

	dead := start("b", t0.Add(3*time.Second))
	dead.Dead = func(owner string) bool { return owner == "a" }
	took, resumed, err := s.StartReconRun(ctx(t), dead)
	check(t, err, "take over from a dead owner")
	if !resumed || took.ID != r.ID || took.Owner != "b" {
		t.Errorf("take over = %+v resumed %v, want run %s owned by b", took, resumed, r.ID)
	}

	// Lease over, another window: the old run is abandoned.
	late := start("c", t0.Add(time.Hour))
	late.From, late.To = winTo, winTo.Add(time.Hour)
	fresh, resumed, err := s.StartReconRun(ctx(t), late)
	check(t, err, "start another window after the lease")
	if resumed || fresh.ID == r.ID {
		t.Errorf("another window got %s resumed %v, want a new run", fresh.ID, resumed)
	}
	old, err := s.ReconRun(ctx(t), r.ID)
	check(t, err, "read the old run")
	if old.Status != state.RunAbandoned {
		t.Errorf("replaced run status = %q, want %q", old.Status, state.RunAbandoned)
	}
	runs, err := s.ListReconRuns(ctx(t), state.ReconRunFilter{Provider: "clickpesa.tz", Limit: 10})
	check(t, err, "list runs")
	if got := idsOf(runs, func(r state.ReconRun) string { return r.ID }); !slices.Equal(got, []string{fresh.ID, r.ID}) {
		t.Errorf("runs = %v, want newest first [%s %s]", got, fresh.ID, r.ID)
	}
	page, err := s.ListReconRuns(ctx(t), state.ReconRunFilter{Provider: "clickpesa.tz", After: fresh.ID, Limit: 1})
	check(t, err, "list runs after the newest")
	if got := idsOf(page, func(r state.ReconRun) string { return r.ID }); !slices.Equal(got, []string{r.ID}) {
		t.Errorf("runs after %s = %v, want [%s]", fresh.ID, got, r.ID)
	}
	if others, err := s.ListReconRuns(ctx(t), state.ReconRunFilter{Provider: "azampay.tz"}); err != nil || len(others) != 0 {
		t.Errorf("runs of another provider = %v, %v; want none", others, err)
	}
	_, err = s.ListReconRuns(ctx(t), state.ReconRunFilter{After: "rcn_nope"})
	wantErrIs(t, err, state.ErrNotFound, "list runs after an unknown run")
	_, _, err = s.StartReconRun(ctx(t), state.ReconStart{Provider: "x", Owner: "a", From: winTo, To: winFrom, Lease: time.Minute})
	wantErrIs(t, err, state.ErrInvalid, "an empty window")
}

func testCheckpointAndFinish(t *testing.T, open Opener) {
	s := open(t)
	r, _, err := s.StartReconRun(ctx(t), start("a", t0))
	check(t, err, "start")
	r.Phase, r.Cursor, r.Counters = "payments", "300", state.ReconCounters{ProviderCalls: 3, ProviderItems: 300, Total: 1000}
	check(t, s.CheckpointReconRun(ctx(t), r, time.Minute, t0.Add(time.Second)), "checkpoint")
	stranger := r
	stranger.Owner = "b"
	wantErrIs(t, s.CheckpointReconRun(ctx(t), stranger, time.Minute, t0), state.ErrConflict, "checkpoint by another owner")

	// A crashed owner's successor resumes from the checkpoint.
	next := start("b", t0.Add(2*time.Minute))
	resumedRun, resumed, err := s.StartReconRun(ctx(t), next)
	check(t, err, "resume after the lease")
	if !resumed || resumedRun.Phase != "payments" || resumedRun.Cursor != "300" || resumedRun.Counters != r.Counters {
		t.Fatalf("resumed = %+v, want the checkpoint (payments, 300, %+v)", resumedRun, r.Counters)
	}
	wantErrIs(t, s.CheckpointReconRun(ctx(t), r, time.Minute, t0), state.ErrConflict, "checkpoint by the owner that lost the lease")

	_, err = s.RecordSeen(ctx(t), r.ID, []state.SeenTxn{{ProviderTxn: "T1", Reference: "R1"}})
	check(t, err, "record seen")
	done, err := s.FinishReconRun(ctx(t), resumedRun, state.RunDone, "", t0.Add(3*time.Minute))
	check(t, err, "finish")
	if done.Status != state.RunDone || !done.LeaseUntil.IsZero() {
		t.Errorf("finished run = %+v, want done without a lease", done)
	}
	sameTime(t, "finished at", done.FinishedAt, t0.Add(3*time.Minute))
	// The next run over the window is a new one.
	n, resumed, err := s.StartReconRun(ctx(t), start("c", t0.Add(4*time.Minute)))
	check(t, err, "start after finish")
	if resumed || n.ID == r.ID {
		t.Errorf("after finish got %s resumed %v, want a new run", n.ID, resumed)
	}
	_, err = s.FinishReconRun(ctx(t), resumedRun, state.RunDone, "", t0)
	wantErrIs(t, err, state.ErrConflict, "finish twice")
}

func testRecordSeen(t *testing.T, open Opener) {
	s := open(t)
	dups, err := s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{ProviderTxn: "T1", Reference: "R1"}, {ProviderTxn: "T2", Reference: "R2"}})
	check(t, err, "record seen")
	if len(dups) != 0 {
		t.Errorf("dups = %v, want none", dups)
	}
	dups, err = s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{ProviderTxn: "T1", Reference: "R1"}, {ProviderTxn: "T3", Reference: "R2"}, {ProviderTxn: "T4", Reference: "R4"}})
	check(t, err, "record seen again")
	if !slices.Equal(dups, []string{"R2"}) {
		t.Errorf("dups = %v, want [R2] (T1 seen twice is one transaction)", dups)
	}
	dups, err = s.RecordSeen(ctx(t), "rcn_2", []state.SeenTxn{{ProviderTxn: "T3", Reference: "R2"}})
	check(t, err, "record seen by another run")
	if len(dups) != 0 {
		t.Errorf("another run's dups = %v, want none", dups)
	}
}

func testWindowPayments(t *testing.T, open Opener) {
	s := open(t)
	mk := func(id, provider, ref string, at time.Time, status state.PaymentStatus) {
		p := payment(id, provider, ref, at)
		p.Status, p.ProviderReference = status, "P"+ref
		createPayment(t, s, p)
	}
	mk("pay_before", "clickpesa.tz", "B", winFrom.Add(-time.Nanosecond*1000), "pending")
	mk("pay_a", "clickpesa.tz", "A", winFrom, "pending")
	mk("pay_b", "clickpesa.tz", "B2", winFrom.Add(time.Hour), "succeeded")
	mk("pay_c", "clickpesa.tz", "C", winFrom.Add(time.Hour), "failed")
	mk("pay_other", "pesapal.ke", "A", winFrom.Add(time.Hour), "pending")
	mk("pay_end", "clickpesa.tz", "E", winTo, "pending")
	list := func(f state.WindowFilter) []string {
		t.Helper()
		f.Provider, f.From, f.To = "clickpesa.tz", winFrom, winTo
		ps, err := s.WindowPayments(ctx(t), f)
		check(t, err, "window payments")
		return ids(ps)
	}
	if got := list(state.WindowFilter{}); !slices.Equal(got, []string{"pay_a", "pay_b", "pay_c"}) {
		t.Errorf("window = %v, want [pay_a pay_b pay_c]", got)
	}
	if got := list(state.WindowFilter{Limit: 2}); !slices.Equal(got, []string{"pay_a", "pay_b"}) {
		t.Errorf("first page = %v", got)
	}
	if got := list(state.WindowFilter{AfterCreated: winFrom.Add(time.Hour), AfterID: "pay_b"}); !slices.Equal(got, []string{"pay_c"}) {
		t.Errorf("after pay_b = %v, want [pay_c]", got)
	}
	_, err := s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{ProviderTxn: "T1", Reference: "A"}})
	check(t, err, "record seen")
	if got := list(state.WindowFilter{UnseenIn: "rcn_1"}); !slices.Equal(got, []string{"pay_b", "pay_c"}) {
		t.Errorf("unseen = %v, want [pay_b pay_c]", got)
	}
	apply(t, s, state.StatusChange{Provider: "clickpesa.tz", Reference: "C", Status: "failed", Now: t0,
		Notification: notification("ntf_c", "clickpesa.tz", "PC:failed")})
	if got := list(state.WindowFilter{SkipNotified: true}); !slices.Equal(got, []string{"pay_a", "pay_b"}) {
		t.Errorf("not proven by a notification = %v, want [pay_a pay_b]", got)
	}
	got, err := s.PaymentsByReferences(ctx(t), "clickpesa.tz", []string{"A", "C", "Z"})
	check(t, err, "payments by references")
	gotIDs := ids(got)
	slices.Sort(gotIDs)
	if !slices.Equal(gotIDs, []string{"pay_a", "pay_c"}) {
		t.Errorf("by references = %v, want [pay_a pay_c]", gotIDs)
	}
}

// testSeenKinds: a payment and a payout may carry one reference and one
// provider transaction ID; what a run saw of one kind says nothing about
// the other.
func testSeenKinds(t *testing.T, open Opener) {
	s := open(t)
	dups, err := s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{ProviderTxn: "T1", Reference: "R1"}})
	check(t, err, "record a payment")
	if len(dups) != 0 {
		t.Errorf("dups = %v, want none", dups)
	}
	payouts := func(txns ...state.SeenTxn) []string {
		t.Helper()
		for i := range txns {
			txns[i].Kind = state.SubjectPayout
		}
		dups, err := s.RecordSeen(ctx(t), "rcn_1", txns)
		check(t, err, "record payouts")
		return dups
	}
	if got := payouts(state.SeenTxn{ProviderTxn: "T1", Reference: "R1"}, state.SeenTxn{ProviderTxn: "T2", Reference: "R1"}); !slices.Equal(got, []string{"R1"}) {
		t.Errorf("payout dups = %v, want [R1] (two payouts; the payment T1 does not count)", got)
	}
	dups, err = s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{Kind: state.SubjectPayment, ProviderTxn: "T1", Reference: "R1"}})
	check(t, err, "record the payment again")
	if len(dups) != 0 {
		t.Errorf("payment dups = %v, want none (the payouts of R1 do not count)", dups)
	}
}

func testWindowPayouts(t *testing.T, open Opener) {
	s := open(t)
	mk := func(id, provider, ref string, at time.Time) {
		t.Helper()
		p := payout(id, provider, ref, "1000")
		p.CreatedAt = at
		createPayout(t, s, p)
	}
	mk("po_before", "clickpesa.tz", "B", winFrom.Add(-time.Microsecond))
	mk("po_a", "clickpesa.tz", "A", winFrom)
	mk("po_c", "clickpesa.tz", "C", winFrom.Add(time.Hour))
	mk("po_b", "clickpesa.tz", "B2", winFrom.Add(time.Hour))
	mk("po_other", "azampay.tz", "A", winFrom.Add(time.Hour))
	mk("po_end", "clickpesa.tz", "E", winTo)
	createPayment(t, s, payment("pay_a", "clickpesa.tz", "A", winFrom))
	list := func(f state.WindowFilter) []string {
		t.Helper()
		f.Provider, f.From, f.To = "clickpesa.tz", winFrom, winTo
		ps, err := s.WindowPayouts(ctx(t), f)
		check(t, err, "window payouts")
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	if got := list(state.WindowFilter{}); !slices.Equal(got, []string{"po_a", "po_b", "po_c"}) {
		t.Errorf("window = %v, want [po_a po_b po_c] (created_at, then ID)", got)
	}
	if got := list(state.WindowFilter{Limit: 2}); !slices.Equal(got, []string{"po_a", "po_b"}) {
		t.Errorf("first page = %v", got)
	}
	if got := list(state.WindowFilter{AfterCreated: winFrom.Add(time.Hour), AfterID: "po_b"}); !slices.Equal(got, []string{"po_c"}) {
		t.Errorf("after po_b = %v, want [po_c]", got)
	}
	// The payment A seen says nothing about the payout A.
	_, err := s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{ProviderTxn: "T1", Reference: "A"}})
	check(t, err, "record a payment seen")
	if got := list(state.WindowFilter{UnseenIn: "rcn_1"}); !slices.Equal(got, []string{"po_a", "po_b", "po_c"}) {
		t.Errorf("unseen after a payment = %v, want all three", got)
	}
	_, err = s.RecordSeen(ctx(t), "rcn_1", []state.SeenTxn{{Kind: state.SubjectPayout, ProviderTxn: "T9", Reference: "C"}})
	check(t, err, "record a payout seen")
	if got := list(state.WindowFilter{UnseenIn: "rcn_1"}); !slices.Equal(got, []string{"po_a", "po_b"}) {
		t.Errorf("unseen = %v, want [po_a po_b]", got)
	}
	pays, err := s.WindowPayments(ctx(t), state.WindowFilter{Provider: "clickpesa.tz", From: winFrom, To: winTo, UnseenIn: "rcn_1"})
	check(t, err, "window payments")
	if len(pays) != 0 {
		t.Errorf("unseen payments = %v, want none (the payment A was seen)", ids(pays))
	}
	got, err := s.PayoutsByReferences(ctx(t), "clickpesa.tz", []string{"A", "C", "Z"})
	check(t, err, "payouts by references")
	gotIDs := make([]string, 0, len(got))
	for _, p := range got {
		gotIDs = append(gotIDs, p.ID)
	}
	slices.Sort(gotIDs)
	if !slices.Equal(gotIDs, []string{"po_a", "po_c"}) {
		t.Errorf("by references = %v, want [po_a po_c]", gotIDs)
	}
	if got, err := s.PayoutsByReferences(ctx(t), "clickpesa.tz", nil); err != nil || len(got) != 0 {
		t.Errorf("no references = %v, %v", got, err)
	}
}

// testPayoutDifference: a difference about a payout names it, is read
// back with it, and its event names it.
func testPayoutDifference(t *testing.T, open Opener) {
	s := open(t)
	d := difference(state.DiffReversedAfterSuccess, "P")
	d.Key, d.PaymentID, d.PayoutID = "payout:reversed_after_success:P", "", "po_P"
	got, created, err := s.RecordDifference(ctx(t), d, diffEvent())
	check(t, err, "record")
	if !created || got.PayoutID != "po_P" || got.PaymentID != "" {
		t.Fatalf("recorded %+v created %v", got, created)
	}
	back, err := s.Difference(ctx(t), got.ID)
	check(t, err, "read")
	if back.PayoutID != "po_P" || back.PaymentID != "" {
		t.Errorf("read back payout %q payment %q, want po_P and none", back.PayoutID, back.PaymentID)
	}
	list, err := s.ListDifferences(ctx(t), state.DifferenceFilter{Class: state.DiffReversedAfterSuccess})
	check(t, err, "list")
	if len(list) != 1 || list[0].PayoutID != "po_P" {
		t.Errorf("listed %+v", list)
	}
	// Resolved, then found again: it opens again still naming the payout.
	_, err = s.SetDifferenceState(ctx(t), got.ID, state.DiffResolved, "ops", "", t0.Add(time.Second))
	check(t, err, "resolve")
	d.UpdatedAt = t0.Add(2 * time.Second)
	again, created, err := s.RecordDifference(ctx(t), d, diffEvent())
	check(t, err, "record again")
	if !created || again.ID != got.ID || again.PayoutID != "po_P" || again.State != state.DiffOpen {
		t.Errorf("opened again %+v created %v", again, created)
	}
	events := map[string]bool{}
	for _, dl := range allDeliveries(t, s) {
		ev, _, _, err := s.EventDetail(ctx(t), dl.EventID)
		check(t, err, "event detail")
		if ev.PaymentID != "po_P" {
			t.Errorf("event %s names %q, want po_P", ev.ID, ev.PaymentID)
		}
		events[ev.ID] = true
	}
	if len(events) != 2 {
		t.Errorf("events = %d, want 2 (opened, opened again)", len(events))
	}
}

func difference(class state.DiffClass, ref string) state.Difference {
	return state.Difference{
		RunID: "rcn_1", Provider: "clickpesa.tz", Class: class, Key: string(class) + ":" + ref, Reference: ref,
		PaymentID: "pay_" + ref, ProviderTxn: "T" + ref, Detail: "differs",
		Ours: json.RawMessage(`{"amount":"1000"}`), Theirs: json.RawMessage(`{"amount":"900"}`), CreatedAt: t0, UpdatedAt: t0,
	}
}

func diffEvent() *state.DifferenceEvent {
	return &state.DifferenceEvent{Type: "reconciliation.difference", Routes: []string{"r1", "r2"},
		Payload: func(d state.Difference, eventID string, _ time.Time) ([]byte, error) {
			return json.Marshal(map[string]string{"event_id": eventID, "difference_id": d.ID})
		}}
}

func testRecordDifference(t *testing.T, open Opener) {
	s := open(t)
	d, created, err := s.RecordDifference(ctx(t), difference(state.DiffAmountDiffers, "A"), diffEvent())
	check(t, err, "record")
	checkID(t, "dif_", d.ID)
	if !created || d.State != state.DiffOpen {
		t.Fatalf("recorded = %+v created %v, want a new open difference", d, created)
	}
	if n := len(allDeliveries(t, s)); n != 2 {
		t.Errorf("deliveries = %d, want 2 (one event, two routes)", n)
	}
	again, created, err := s.RecordDifference(ctx(t), difference(state.DiffAmountDiffers, "A"), diffEvent())
	check(t, err, "record again")
	if created || again.ID != d.ID {
		t.Errorf("found again = %s created %v, want %s not created", again.ID, created, d.ID)
	}
	healed := difference(state.DiffStatusDiffers, "B")
	healed.State = state.DiffHealed
	_, created, err = s.RecordDifference(ctx(t), healed, diffEvent())
	check(t, err, "record healed")
	if !created {
		t.Error("healed difference not created")
	}
	if n := len(allDeliveries(t, s)); n != 2 {
		t.Errorf("deliveries = %d after a healed difference, want still 2", n)
	}
	got, err := s.Difference(ctx(t), d.ID)
	check(t, err, "read")
	jsonEqual(t, "ours", got.Ours, `{"amount":"1000"}`)
	jsonEqual(t, "theirs", got.Theirs, `{"amount":"900"}`)
	if got.Class != state.DiffAmountDiffers || got.Reference != "A" || got.PaymentID != "pay_A" || got.ProviderTxn != "TA" {
		t.Errorf("read back %+v", got)
	}
	_, _, err = s.RecordDifference(ctx(t), state.Difference{Provider: "x", Key: "k", Class: "odd"}, nil)
	wantErrIs(t, err, state.ErrInvalid, "an unknown class")
	_, err = s.Difference(ctx(t), "dif_nope")
	wantErrIs(t, err, state.ErrNotFound, "an unknown difference")

	counts, err := s.OpenDifferenceCounts(ctx(t))
	check(t, err, "count")
	if counts[state.DiffAmountDiffers] != 1 || counts[state.DiffStatusDiffers] != 0 {
		t.Errorf("open counts = %v, want amount_differs 1 only", counts)
	}
}

func testDifferenceStates(t *testing.T, open Opener) {
	s := open(t)
	rec := func(class state.DiffClass, ref string, at time.Time) state.Difference {
		t.Helper()
		d := difference(class, ref)
		d.CreatedAt, d.UpdatedAt = at, at
		got, _, err := s.RecordDifference(ctx(t), d, diffEvent())
		check(t, err, "record "+ref)
		return got
	}
	a := rec(state.DiffAmountDiffers, "A", t0)
	b := rec(state.DiffUnknownToUs, "B", t0.Add(time.Second))
	c := rec(state.DiffStuckUnknown, "C", t0.Add(2*time.Second))

	_, err := s.SetDifferenceState(ctx(t), a.ID, state.DiffResolved, "", "", t0)
	wantErrIs(t, err, state.ErrInvalid, "resolve without a name")
	_, err = s.SetDifferenceState(ctx(t), a.ID, state.DiffHealed, "ops", "", t0)
	wantErrIs(t, err, state.ErrInvalid, "set healed by hand")
	_, err = s.SetDifferenceState(ctx(t), "dif_nope", state.DiffResolved, "ops", "", t0)
	wantErrIs(t, err, state.ErrNotFound, "resolve an unknown difference")

	res, err := s.SetDifferenceState(ctx(t), a.ID, state.DiffResolved, "ops@shop", "refunded by hand", t0.Add(time.Minute))
	check(t, err, "resolve")
	if res.State != state.DiffResolved || res.By != "ops@shop" || res.Note != "refunded by hand" {
		t.Errorf("resolved = %+v", res)
	}
	_, err = s.SetDifferenceState(ctx(t), a.ID, state.DiffResolved, "ops", "", t0)
	wantErrIs(t, err, state.ErrConflict, "resolve twice")
	_, err = s.SetDifferenceState(ctx(t), b.ID, state.DiffAcknowledged, "ops", "known", t0.Add(time.Minute))
	check(t, err, "acknowledge")

	before := len(allDeliveries(t, s))
	// Found again: the resolved one opens again (with its event), the
	// acknowledged one stays.
	again := rec(state.DiffAmountDiffers, "A", t0.Add(time.Hour))
	if again.ID != a.ID || again.State != state.DiffOpen || again.By != "" {
		t.Errorf("resolved then found again = %+v, want %s open", again, a.ID)
	}
	if ack := rec(state.DiffUnknownToUs, "B", t0.Add(time.Hour)); ack.State != state.DiffAcknowledged {
		t.Errorf("acknowledged then found again = %q, want acknowledged", ack.State)
	}
	if n := len(allDeliveries(t, s)) - before; n != 2 {
		t.Errorf("new deliveries = %d, want 2 (the reopened difference's event only)", n)
	}

	list := func(f state.DifferenceFilter) []string {
		t.Helper()
		ds, err := s.ListDifferences(ctx(t), f)
		check(t, err, "list differences")
		return idsOf(ds, func(d state.Difference) string { return d.ID })
	}
	if got := list(state.DifferenceFilter{}); !slices.Equal(got, []string{c.ID, b.ID, a.ID}) {
		t.Errorf("all = %v, want newest first [%s %s %s]", got, c.ID, b.ID, a.ID)
	}
	if got := list(state.DifferenceFilter{State: state.DiffOpen}); !slices.Equal(got, []string{c.ID, a.ID}) {
		t.Errorf("open = %v", got)
	}
	if got := list(state.DifferenceFilter{Class: state.DiffUnknownToUs}); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("unknown_to_us = %v", got)
	}
	if got := list(state.DifferenceFilter{After: c.ID, Limit: 1}); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("after %s = %v, want [%s]", c.ID, got, b.ID)
	}
	_, err = s.ListDifferences(ctx(t), state.DifferenceFilter{After: "dif_nope"})
	wantErrIs(t, err, state.ErrNotFound, "list after an unknown difference")
}
