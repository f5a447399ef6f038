package statetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunSyncClaim is the conformance suite of state.SyncClaimer: claims
// return due payments (pending or unknown, NextSyncAt passed) earliest
// first, lease them so that no other claim or DuePayments returns them
// until the lease ends, and concurrent claims never share a payment.
func RunSyncClaim(t *testing.T, open func(t *testing.T) state.Store) {
	t.Run("ClaimDuePayments", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c, ok := s.(state.SyncClaimer)
		if !ok {
			t.Fatalf("%T does not implement state.SyncClaimer", s)
		}
		mk := func(id, status string, next time.Time) {
			p := payment(id, "pesapal.ke", "R-"+id, t0)
			p.Status, p.NextSyncAt = state.PaymentStatus(status), next
			createPayment(t, s, p)
		}
		mk("pay_late", "pending", t0.Add(-time.Minute))
		mk("pay_early", "unknown", t0.Add(-time.Hour))
		mk("pay_now", "pending", t0)
		mk("pay_future", "pending", t0.Add(time.Second))
		mk("pay_done", "succeeded", t0.Add(-time.Hour))
		const lease = 5 * time.Minute
		claim := func(now time.Time, limit int) []string {
			t.Helper()
			got, err := c.ClaimDuePayments(ctx(t), now, lease, limit)
			check(t, err, "claim due payments")
			out := ids(got)
			slices.Sort(out)
			return out
		}
		if got := fmt.Sprint(claim(t0, 2)); got != "[pay_early pay_late]" {
			t.Errorf("first claim of 2 = %s, want the two earliest due [pay_early pay_late]", got)
		}
		if got := fmt.Sprint(claim(t0, 10)); got != "[pay_now]" {
			t.Errorf("second claim = %s, want [pay_now] (the others are leased)", got)
		}
		due, err := s.DuePayments(ctx(t), t0, 10)
		check(t, err, "due payments")
		if len(due) != 0 {
			t.Errorf("DuePayments while every due payment is leased = %v, want none", ids(due))
		}
		p, err := s.Payment(ctx(t), "pay_late")
		check(t, err, "payment")
		sameTime(t, "NextSyncAt of a claimed payment", p.NextSyncAt, t0.Add(lease))
		// The lease ends: due again (with pay_future, due by then).
		if got := fmt.Sprint(claim(t0.Add(lease), 10)); got != "[pay_early pay_future pay_late pay_now]" {
			t.Errorf("claim after the lease = %s, want [pay_early pay_future pay_late pay_now]", got)
		}
		if _, err := c.ClaimDuePayments(ctx(t), t0, 0, 10); err == nil {
			t.Error("a claim with no lease succeeded")
		}
	})
	t.Run("ClaimDuePaymentsConcurrent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := s.(state.SyncClaimer)
		const n = 40
		for i := range n {
			p := payment(fmt.Sprintf("pay_%02d", i), "clickpesa.tz", fmt.Sprintf("C%02d", i), t0)
			p.NextSyncAt = t0.Add(-time.Duration(i) * time.Second)
			createPayment(t, s, p)
		}
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
			errs = make(chan error, 8)
		)
		for range 8 {
			wg.Go(func() {
				for {
					got, err := c.ClaimDuePayments(ctx(t), t0, time.Minute, 3)
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, p := range got {
						seen[p.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent claim: %v", err)
		}
		if len(seen) != n {
			t.Errorf("claimed %d distinct payments, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("%s claimed %d times by concurrent claims, want once", id, k)
			}
		}
	})
}
