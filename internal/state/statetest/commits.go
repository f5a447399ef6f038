package statetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// testCommitObserver: every committed write is reported once, a refused
// one never, and nothing after ObserveCommits(nil).
func testCommitObserver(t *testing.T, open Opener) {
	s := open(t)
	co, ok := s.(state.CommitObserver)
	if !ok {
		t.Fatalf("%T does not report its commits (state.CommitObserver)", s)
	}
	var (
		mu             sync.Mutex
		commits, wrote int
		badTook        time.Duration
	)
	co.ObserveCommits(func(writes int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		commits++
		wrote += writes
		if took <= 0 {
			badTook = took
		}
	})

	// 20 payments at once, and a 21st that reuses one's reference: one of
	// the two is refused (a conflict), whichever comes second.
	const n = 20
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("ORDER-C%d", i%n)
			errs[i] = s.CreatePayment(ctx(t), payment(fmt.Sprintf("pay_c%d", i), "pesapal.ke", ref, t0))
		}()
	}
	wg.Wait()
	refused := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, state.ErrConflict):
			refused++
		case err != nil:
			t.Fatalf("create payment %d: %v", i, err)
		}
	}
	if refused != 1 {
		t.Fatalf("%d creations refused, want 1", refused)
	}
	mu.Lock()
	if wrote != n || commits < 1 || commits > n || badTook != 0 {
		t.Errorf("reported %d writes in %d commits (a commit took %v), want %d writes in 1 to %d commits, each taking some time",
			wrote, commits, badTook, n, n)
	}
	mu.Unlock()

	co.ObserveCommits(nil)
	createPayment(t, s, payment("pay_after", "pesapal.ke", "ORDER-AFTER", t0))
	mu.Lock()
	defer mu.Unlock()
	if wrote != n {
		t.Errorf("a commit after ObserveCommits(nil) was reported (%d writes, want %d)", wrote, n)
	}
}
