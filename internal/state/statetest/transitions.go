package statetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// The payment-status rule as the store must apply it, written out here
// independently of state.Transition: which moves each status allows, and
// the one move that needs a provider's answer to a query.
var allowedMoves = map[state.PaymentStatus][]state.PaymentStatus{
	state.StatusPending:           {state.StatusSucceeded, state.StatusFailed, state.StatusUnknown},
	state.StatusUnknown:           {state.StatusSucceeded, state.StatusFailed, state.StatusPending},
	state.StatusFailed:            {state.StatusSucceeded}, // provider query only
	state.StatusSucceeded:         {state.StatusReversed, state.StatusRefunded, state.StatusPartiallyRefunded},
	state.StatusPartiallyRefunded: {state.StatusRefunded},
	state.StatusReversed:          nil,
	state.StatusRefunded:          nil,
}

var allSources = []state.Source{state.SourceInitiation, state.SourceNotification, state.SourceStatusQuery,
	state.SourceRefresh, state.SourceReconciliation, state.SourceRefund}

// wantOutcome is what a statement of to from src must do to a payment in from.
func wantOutcome(from, to state.PaymentStatus, src state.Source) state.Outcome {
	if from == to {
		return state.Same
	}
	if !slices.Contains(allowedMoves[from], to) {
		return state.Refused
	}
	if from == state.StatusFailed && src != state.SourceStatusQuery && src != state.SourceRefresh && src != state.SourceReconciliation {
		return state.Refused
	}
	return state.Moved
}

func eventType(s state.PaymentStatus) string {
	if s == state.StatusUnknown {
		return ""
	}
	return "payment." + string(s)
}

// paymentIn creates a payment in status with no provider reference.
func paymentIn(t testing.TB, s state.Store, id, ref string, status state.PaymentStatus) state.Payment {
	t.Helper()
	p := payment(id, "clickpesa.tz", ref, t0)
	p.Status, p.Message = status, "before"
	if !status.Open() {
		p.NextSyncAt = time.Time{}
	}
	createPayment(t, s, p)
	return p
}

// eventsOf lists a payment's events (type -> IDs) through the outbox: the
// tests here deliver each payment's events to a route named after its
// reference (route).
func eventsOf(t testing.TB, s state.Store, paymentID, route string) map[string][]string {
	t.Helper()
	ds, err := s.ListDeliveries(context.Background(), state.EventFilter{Route: route, Limit: 1000})
	check(t, err, "list deliveries")
	seen := map[string]bool{}
	out := map[string][]string{}
	for _, d := range ds {
		if d.Event.PaymentID == paymentID && !seen[d.Event.ID] {
			seen[d.Event.ID] = true
			out[d.Event.Type] = append(out[d.Event.Type], d.Event.ID)
		}
	}
	return out
}

// testTransitionTable states every status, from every source, about a
// payment in every status, and checks what the store did: the status, the
// fields a refused statement may still fill in, and the event.
func testTransitionTable(t *testing.T, open Opener) {
	s := open(t)
	n := 0
	for _, from := range state.PaymentStatuses() {
		for _, to := range state.PaymentStatuses() {
			for _, src := range allSources {
				n++
				id, ref := fmt.Sprintf("pay_t%03d", n), fmt.Sprintf("T%03d", n)
				name := fmt.Sprintf("%s+%s/%s", from, to, src)
				paymentIn(t, s, id, ref, from)
				c := change("clickpesa.tz", ref, to, nil, ref)
				c.Source, c.ProviderReference, c.ConfirmationCode, c.Message = src, "CP-"+ref, "CODE", "stated"
				res, err := s.ApplyStatus(ctx(t), c)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want := wantOutcome(from, to, src)
				if got := state.Transition(from, to, src); got != want {
					t.Errorf("%s: state.Transition = %v, want %v", name, got, want)
				}
				stored, err := s.Payment(ctx(t), id)
				check(t, err, name)
				wantStatus, wantMsg := from, "before"
				if want != state.Refused {
					wantMsg = "stated"
				}
				if want == state.Moved {
					wantStatus = to
				}
				if res.Outcome != want || res.Changed != (want == state.Moved) || stored.Status != wantStatus || stored.Message != wantMsg {
					t.Errorf("%s: outcome %v changed %v, stored %s %q; want %v, %s %q", name, res.Outcome, res.Changed, stored.Status, stored.Message, want, wantStatus, wantMsg)
				}
				if stored.ProviderReference != "CP-"+ref || stored.ConfirmationCode != "CODE" {
					t.Errorf("%s: provider reference %q, confirmation %q: missing fields are filled in whatever the outcome", name, stored.ProviderReference, stored.ConfirmationCode)
				}
				if stored.Status.Open() != !stored.NextSyncAt.IsZero() {
					t.Errorf("%s: %s payment scheduled at %v", name, stored.Status, stored.NextSyncAt)
				}
				evs := eventsOf(t, s, id, ref)
				wantEvents := 0
				if want == state.Moved && eventType(to) != "" {
					wantEvents = 1
				}
				if len(evs[eventType(to)]) != wantEvents || len(evs) != wantEvents || (wantEvents == 1) != (res.EventID != "") {
					t.Errorf("%s: events %v (result %q), want %d of type %s", name, evs, res.EventID, wantEvents, eventType(to))
				}
			}
		}
	}
}

// testInitiationTable records every initiation outcome on a payment in
// every status: a payment something else already moved on keeps its
// status and only gains what it was missing.
func testInitiationTable(t *testing.T, open Opener) {
	s := open(t)
	n := 0
	for _, from := range state.PaymentStatuses() {
		for _, to := range []state.PaymentStatus{state.StatusPending, state.StatusUnknown, state.StatusFailed} {
			n++
			id, ref := fmt.Sprintf("pay_i%03d", n), fmt.Sprintf("I%03d", n)
			name := fmt.Sprintf("%s+initiation %s", from, to)
			before := paymentIn(t, s, id, ref, from)
			next := t0.Add(5 * time.Minute)
			got, err := s.RecordInitiation(ctx(t), id, state.PaymentInitiation{Status: to, ProviderReference: "PR-" + ref,
				RedirectURL: "https://pay/" + ref, Message: "answered", NextSyncAt: next}, t0.Add(time.Second))
			check(t, err, name)
			stored, err := s.Payment(ctx(t), id)
			check(t, err, name)
			equalPayment(t, stored, got)
			want := wantOutcome(from, to, state.SourceInitiation)
			wantStatus, wantMsg, wantNext := from, "before", before.NextSyncAt
			if want != state.Refused {
				wantMsg = "answered"
			}
			if want == state.Moved {
				wantStatus = to
			}
			if want != state.Refused && wantStatus.Open() {
				wantNext = next
			}
			if !wantStatus.Open() {
				wantNext = time.Time{}
			}
			if stored.Status != wantStatus || stored.Message != wantMsg || !stored.NextSyncAt.Equal(wantNext) {
				t.Errorf("%s: stored %s %q next %v; want %s %q next %v", name, stored.Status, stored.Message, stored.NextSyncAt, wantStatus, wantMsg, wantNext)
			}
			if stored.ProviderReference != "PR-"+ref || stored.RedirectURL != "https://pay/"+ref {
				t.Errorf("%s: provider reference %q redirect %q, want them filled in", name, stored.ProviderReference, stored.RedirectURL)
			}
			if evs := eventsOf(t, s, id, ref); len(evs) != 0 {
				t.Errorf("%s: events %v; an initiation answer emits none", name, evs)
			}
		}
	}
	t.Run("keeps a provider reference it did not bring", func(t *testing.T) {
		paymentIn(t, s, "pay_keep", "KEEP", state.StatusPending)
		c := change("clickpesa.tz", "KEEP", state.StatusSucceeded, nil, "KEEP")
		c.ProviderReference = "CP-FIRST"
		apply(t, s, c)
		got, err := s.RecordInitiation(ctx(t), "pay_keep", state.PaymentInitiation{Status: state.StatusUnknown, Message: "timed out"}, t0)
		check(t, err, "late timeout")
		if got.Status != state.StatusSucceeded || got.ProviderReference != "CP-FIRST" || got.Message == "timed out" {
			t.Errorf("after a late timeout: %s %q %q; want succeeded, CP-FIRST, message kept", got.Status, got.ProviderReference, got.Message)
		}
	})
	t.Run("rejects a non-initiation status", func(t *testing.T) {
		_, err := s.RecordInitiation(ctx(t), "pay_keep", state.PaymentInitiation{Status: state.StatusSucceeded}, t0)
		wantErrIs(t, err, state.ErrInvalid, "initiation answering succeeded")
	})
}

// testOneEventPerStatus: whichever paths state a status, and however
// often, a payment has one event (one ID) per status it reached.
func testOneEventPerStatus(t *testing.T, open Opener) {
	s := open(t)
	t.Run("notification, late timeout, then sync", func(t *testing.T) {
		paymentIn(t, s, "pay_6", "SIX", state.StatusPending)
		n := change("clickpesa.tz", "SIX", state.StatusSucceeded, nil, "SIX")
		n.Notification = notification("ntf_6", "clickpesa.tz", "SIX:succeeded")
		first := apply(t, s, n)
		_, err := s.RecordInitiation(ctx(t), "pay_6", state.PaymentInitiation{Status: state.StatusUnknown, Message: "timed out"}, t0)
		check(t, err, "late timeout")
		q := change("clickpesa.tz", "SIX", state.StatusSucceeded, nil, "SIX")
		q.Source = state.SourceStatusQuery
		again := apply(t, s, q)
		if again.EventID != "" || again.Changed {
			t.Errorf("sync after the notification: %+v; want no change, no event", again)
		}
		if evs := eventsOf(t, s, "pay_6", "SIX"); len(evs) != 1 || len(evs["payment.succeeded"]) != 1 || evs["payment.succeeded"][0] != first.EventID {
			t.Errorf("events %v, want only %s", evs, first.EventID)
		}
	})
	t.Run("pending and unknown back and forth", func(t *testing.T) {
		paymentIn(t, s, "pay_pu", "PU", state.StatusPending)
		for i, st := range []state.PaymentStatus{"unknown", "pending", "unknown", "pending", "succeeded", "succeeded"} {
			c := change("clickpesa.tz", "PU", st, nil, "PU")
			c.Source = allSources[i%len(allSources)]
			apply(t, s, c)
		}
		evs := eventsOf(t, s, "pay_pu", "PU")
		if len(evs) != 2 || len(evs["payment.pending"]) != 1 || len(evs["payment.succeeded"]) != 1 {
			t.Errorf("events %v, want one payment.pending and one payment.succeeded", evs)
		}
	})
	t.Run("concurrent statements of one status from every path", func(t *testing.T) {
		paymentIn(t, s, "pay_cc", "CC", state.StatusUnknown)
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			ids []string
		)
		for i := range 12 {
			wg.Go(func() {
				c := change("clickpesa.tz", "CC", state.StatusSucceeded, nil, "CC")
				c.Source = allSources[1+i%3] // notification, status query, refresh
				if i%2 == 0 {
					c.Notification = notification(fmt.Sprintf("ntf_cc%d", i), "clickpesa.tz", fmt.Sprintf("CC:%d", i))
				}
				res, err := s.ApplyStatus(context.Background(), c)
				if err != nil {
					t.Errorf("statement %d: %v", i, err)
					return
				}
				if res.EventID != "" {
					mu.Lock()
					ids = append(ids, res.EventID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if evs := eventsOf(t, s, "pay_cc", "CC"); len(ids) != 1 || len(evs) != 1 || len(evs["payment.succeeded"]) != 1 {
			t.Errorf("results named events %v, stored %v; want exactly one payment.succeeded", ids, evs)
		}
	})
}

// statusRank orders statuses by how far a payment has come; a payment's
// rank never decreases.
func statusRank(s state.PaymentStatus) int {
	switch s {
	case state.StatusPending, state.StatusUnknown:
		return 0
	case state.StatusSucceeded, state.StatusFailed:
		return 1
	case state.StatusPartiallyRefunded:
		return 2
	}
	return 3
}

// step is one statement in the randomized test.
type step struct {
	initiation bool // RecordInitiation; else ApplyStatus
	status     state.PaymentStatus
	src        state.Source
	dedup      string // notification dedup key ("" = no notification)
}

// script is what the world says about one payment whose true outcome is
// final: the initiation answer, the provider's notifications (some sent
// twice, some stale) and sync answers, in the order they were produced.
func script(r *rand.Rand, ref string) []step {
	final := []state.PaymentStatus{state.StatusSucceeded, state.StatusFailed}[r.IntN(2)]
	init := []state.PaymentStatus{state.StatusPending, state.StatusUnknown}[r.IntN(2)]
	steps := []step{{initiation: true, status: init, src: state.SourceInitiation}}
	if r.IntN(3) == 0 {
		steps = append(steps, step{status: state.StatusPending, src: state.SourceNotification, dedup: ref + ":pending"})
	}
	for range 1 + r.IntN(3) { // the final notification, maybe resent
		steps = append(steps, step{status: final, src: state.SourceNotification, dedup: ref + ":" + string(final)})
	}
	for range r.IntN(4) { // sync and refresh answers, lagging or not
		st := final
		if r.IntN(2) == 0 {
			st = state.StatusPending
		}
		steps = append(steps, step{status: st, src: []state.Source{state.SourceStatusQuery, state.SourceRefresh}[r.IntN(2)]})
	}
	if final == state.StatusSucceeded && r.IntN(4) == 0 {
		steps = append(steps, step{status: state.StatusReversed, src: state.SourceNotification, dedup: ref + ":reversed"})
	}
	if final == state.StatusFailed && r.IntN(4) == 0 { // the provider flips a timed-out payment
		steps = append(steps, step{status: state.StatusSucceeded, src: []state.Source{state.SourceNotification, state.SourceStatusQuery}[r.IntN(2)]})
	}
	return steps
}

// testRandomInterleavings applies seeded random scripts in random orders
// and checks the invariants after every step: no backward move (failed →
// succeeded only on a provider query), the stored status is what the rule
// gives, a provider reference once known is kept, and every status reached
// through ApplyStatus has exactly one event with one ID.
func testRandomInterleavings(t *testing.T, open Opener) {
	s := open(t)
	const payments = 60
	r := rand.New(rand.NewPCG(10, 2026))
	for i := range payments {
		id, ref := fmt.Sprintf("pay_r%03d", i), fmt.Sprintf("R%03d", i)
		steps := script(r, ref)
		r.Shuffle(len(steps), func(a, b int) { steps[a], steps[b] = steps[b], steps[a] })
		paymentIn(t, s, id, ref, state.StatusPending)
		model := state.StatusPending
		reached := map[string]string{} // event type -> event ID
		for k, st := range steps {
			what := fmt.Sprintf("payment %s step %d (%s %s, order %v)", id, k, st.src, st.status, steps)
			prev, err := s.Payment(ctx(t), id)
			check(t, err, what)
			var got state.Payment
			if st.initiation {
				got, err = s.RecordInitiation(ctx(t), id, state.PaymentInitiation{Status: st.status, ProviderReference: "CP-" + ref}, t0)
				check(t, err, what)
			} else {
				c := change("clickpesa.tz", ref, st.status, nil, ref)
				c.Source, c.Amount, c.Currency = st.src, "1500", "TZS"
				if st.dedup != "" {
					c.Notification = notification("", "clickpesa.tz", st.dedup)
					c.ProviderReference = "CP-" + ref
				}
				res, err := s.ApplyStatus(ctx(t), c)
				check(t, err, what)
				got = res.Payment
				if res.EventID != "" {
					typ := eventType(st.status)
					if old, ok := reached[typ]; ok {
						t.Fatalf("%s: second %s event %s (first %s)", what, typ, res.EventID, old)
					}
					reached[typ] = res.EventID
				} else if res.Changed && eventType(st.status) != "" && reached[eventType(st.status)] == "" {
					t.Fatalf("%s: moved to %s without an event", what, st.status)
				}
			}
			if o := wantOutcome(model, st.status, st.src); o == state.Moved {
				model = st.status
			}
			if got.Status != model {
				t.Fatalf("%s: status %s, want %s", what, got.Status, model)
			}
			if statusRank(got.Status) < statusRank(prev.Status) ||
				prev.Status == state.StatusFailed && got.Status == state.StatusSucceeded && !st.src.ProviderQuery() {
				t.Fatalf("%s: moved backwards %s → %s", what, prev.Status, got.Status)
			}
			if prev.ProviderReference != "" && got.ProviderReference != prev.ProviderReference {
				t.Fatalf("%s: provider reference %q became %q", what, prev.ProviderReference, got.ProviderReference)
			}
		}
		evs := eventsOf(t, s, id, ref)
		for typ, ids := range evs {
			if len(ids) != 1 || reached[typ] != ids[0] {
				t.Errorf("payment %s: %s events %v, want exactly %s", id, typ, ids, reached[typ])
			}
		}
		if len(evs) != len(reached) {
			t.Errorf("payment %s: events %v, results named %v", id, evs, reached)
		}
	}
}
