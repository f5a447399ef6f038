package tokencache

import (
	"context"
	"errors"
	"fmt"
	"github.com/finconnectd/finconnectd/internal/testkit"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newClock() *testkit.ManualClock {
	return testkit.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// counter is a Fetch that hands out tok-1, tok-2 ... valid for life.
type counter struct {
	n     atomic.Int64
	clock *testkit.ManualClock
	life  time.Duration
	gate  chan struct{} // when non-nil, each fetch waits for it to close
	err   error
}

func (f *counter) fetch(ctx context.Context) (string, time.Time, error) {
	n := f.n.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
	}
	if f.err != nil {
		return "", time.Time{}, f.err
	}
	return fmt.Sprintf("tok-%d", n), f.clock.Now().Add(f.life), nil
}

func mustToken(t *testing.T, c *Cache) string {
	t.Helper()
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

func TestReuseUntilSkew(t *testing.T) {
	tests := []struct {
		name      string
		life      time.Duration
		skew      time.Duration
		advance   time.Duration
		wantToken string
	}{
		{"fresh token reused", 5 * time.Minute, time.Minute, 3*time.Minute + 59*time.Second, "tok-1"},
		{"inside skew window refetched", 5 * time.Minute, time.Minute, 4 * time.Minute, "tok-2"},
		{"expired refetched", 5 * time.Minute, time.Minute, time.Hour, "tok-2"},
		{"lifetime shorter than skew uses half", 10 * time.Second, time.Minute, 4 * time.Second, "tok-1"},
		{"lifetime shorter than skew, past half", 10 * time.Second, time.Minute, 5 * time.Second, "tok-2"},
		{"default skew 60s", 5 * time.Minute, 0, 4*time.Minute - time.Second, "tok-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := &counter{clock: clock, life: tt.life}
			c := New(f.fetch, Options{Skew: tt.skew, Now: clock.Now})
			if got := mustToken(t, c); got != "tok-1" {
				t.Fatalf("first token %q", got)
			}
			clock.Advance(tt.advance)
			if got := mustToken(t, c); got != tt.wantToken {
				t.Fatalf("token after %v = %q, want %q", tt.advance, got, tt.wantToken)
			}
		})
	}
}

func TestOneFetchForManyCallers(t *testing.T) {
	clock := newClock()
	f := &counter{clock: clock, life: 5 * time.Minute}
	c := New(f.fetch, Options{Skew: 30 * time.Second, Now: clock.Now})
	_ = mustToken(t, c)
	clock.Advance(10 * time.Minute) // the cached token is now expired
	f.gate = make(chan struct{})

	const callers = 100
	var wg sync.WaitGroup
	results := make(chan string, callers)
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			tok, err := c.Token(context.Background())
			if err != nil {
				errs <- err
				return
			}
			results <- tok
		})
	}
	// Wait until the single fetch is in flight, then let it finish.
	waitFor(t, func() bool { return f.n.Load() == 2 })
	close(f.gate)
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("Token: %v", err)
	}
	for tok := range results {
		if tok != "tok-2" {
			t.Fatalf("caller got %q, want tok-2", tok)
		}
	}
	if got := f.n.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (one initial, one refresh)", got)
	}
}

func TestFetchErrorNotCached(t *testing.T) {
	clock := newClock()
	boom := errors.New("boom")
	f := &counter{clock: clock, life: time.Hour, err: boom}
	c := New(f.fetch, Options{Now: clock.Now})
	if _, err := c.Token(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	f.err = nil
	if got := mustToken(t, c); got != "tok-2" {
		t.Fatalf("token %q, want tok-2 after a failed fetch", got)
	}
}

func TestCallerContextRespected(t *testing.T) {
	clock := newClock()
	f := &counter{clock: clock, life: time.Hour, gate: make(chan struct{})}
	c := New(f.fetch, Options{Now: clock.Now})

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx)
		gaveUp <- err
	}()
	waitFor(t, func() bool { return f.n.Load() == 1 })
	other := make(chan string, 1)
	go func() {
		tok, _ := c.Token(context.Background())
		other <- tok
	}()
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller err = %v", err)
	}
	close(f.gate)
	if tok := <-other; tok != "tok-1" {
		t.Fatalf("other caller got %q: the fetch must survive the first caller giving up", tok)
	}
	if _, err := c.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Token on a done context = %v", err)
	}
}

func TestInvalidate(t *testing.T) {
	clock := newClock()
	f := &counter{clock: clock, life: time.Hour}
	c := New(f.fetch, Options{Now: clock.Now})
	t1 := mustToken(t, c)
	c.Invalidate("not-the-current-one")
	if got := mustToken(t, c); got != t1 {
		t.Fatalf("stale invalidate dropped the token: %q", got)
	}
	c.Invalidate(t1)
	t2 := mustToken(t, c)
	if t2 == t1 {
		t.Fatal("invalidate did not drop the token")
	}
	c.Invalidate(t1) // a late 401 with the old token changes nothing
	if got := mustToken(t, c); got != t2 {
		t.Fatalf("late invalidate of an old token dropped the new one")
	}
	if exp, ok := c.Expires(); !ok || !exp.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("Expires = %v %v", exp, ok)
	}
	if got := f.n.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before deadline")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkTokenCached(b *testing.B) {
	f := &counter{clock: newClock(), life: time.Hour}
	c := New(f.fetch, Options{Now: f.clock.Now})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
