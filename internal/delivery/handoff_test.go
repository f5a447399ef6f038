package delivery

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// claimCounter counts the deliveries the worker claimed from the store
// (alone or along with attempts to record).
type claimCounter struct {
	state.OutboxStore
	claimed atomic.Int32
	sleeps  atomic.Int32 // NextDue calls: the worker is about to sleep
}

func (s *claimCounter) ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	ds, err := s.OutboxStore.ClaimDeliveries(ctx, route, owner, now, lease, limit)
	s.claimed.Add(int32(len(ds)))
	return ds, err
}

func (s *claimCounter) RecordAttempts(ctx context.Context, rs []state.AttemptResult, c state.Claim) ([]error, []state.Delivery, error) {
	errs, ds, err := s.OutboxStore.RecordAttempts(ctx, rs, c)
	s.claimed.Add(int32(len(ds)))
	return errs, ds, err
}

func (s *claimCounter) NextDue(ctx context.Context, route string) (time.Time, error) {
	s.sleeps.Add(1)
	return s.OutboxStore.NextDue(ctx, route)
}

// startIdle starts a dispatcher on e's store, counted by a claimCounter,
// whose workers poll once an hour, and returns once every worker has
// made its first claim and gone to sleep: from then on only a poke, or a
// handoff, makes one send anything.
func (e *env) startIdle(cfg Config) (*Dispatcher, *claimCounter) {
	e.t.Helper()
	st := &claimCounter{OutboxStore: e.st}
	cfg.Store, cfg.PollInterval = st, time.Hour
	d := e.start(cfg)
	testkit.Eventually(e.t, "the workers to go to sleep", func() bool { return int(st.sleeps.Load()) >= len(cfg.Routes) })
	return d, st
}

// settleOne stores a succeeded payment through a Settler that hands its
// deliveries to d and returns the event's ID.
func (e *env) settleOne(d *Dispatcher, routes []*config.Route, notify func()) string {
	e.t.Helper()
	s := settle.New(settle.Options{Store: e.st, Routes: func() []*config.Route { return routes },
		Now: e.clk.Now, Notify: notify, Handoff: d})
	n := e.seq.Add(1)
	res, err := s.Apply(context.Background(), settle.Statement{ProviderID: "clickpesa.tz", CreateIfMissing: true,
		Status: providers.PaymentStatus{Status: providers.StatusSucceeded, Reference: fmt.Sprintf("ORDER-%03d", n), Amount: "1000", Currency: "TZS"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if res.EventID == "" {
		e.t.Fatal("no event emitted")
	}
	return res.EventID
}

// TestHandoffSendsWithoutClaim: a delivery the Settler stores with room
// reserved goes out at once, although the worker only looks at the store
// once an hour and nobody wakes it: nothing is claimed, and the attempt
// is recorded under the lease it was inserted with.
func TestHandoffSendsWithoutClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	routes := []*config.Route{route("orders", rv.URL())}
	d, st := e.startIdle(Config{Routes: routes})

	id := e.settleOne(d, routes, nil)
	dl := e.waitStatus(id, "orders", state.DeliveryDelivered)
	if dl.Attempts != 1 {
		t.Errorf("delivered after %d attempts, want 1", dl.Attempts)
	}
	if reqs := rv.requests(); len(reqs) != 1 || reqs[0].ID != id || reqs[0].VerifyErr != nil {
		t.Errorf("receiver got %+v; want event %s once, signed", reqs, id)
	}
	if n := st.claimed.Load(); n != 0 {
		t.Errorf("%d deliveries claimed; want none: the delivery was handed off", n)
	}
	w := d.workers["orders"]
	testkit.Eventually(t, "the claim slot to be given back", func() bool {
		return len(w.slots) == 0 && w.active.Load() == 0 && w.waiting.Load() == 0
	})
}

// TestHandoffWithoutRoom: when no POST slot of the route would be free,
// the delivery is stored unleased, the worker is woken, and it claims and
// sends it once there is room.
func TestHandoffWithoutRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	routes := []*config.Route{route("orders", rv.URL(), func(r *config.Route) { r.Forward.Concurrency = 1 })}
	d, st := e.startIdle(Config{Routes: routes})

	// Concurrency 1: one POST slot, reserved here.
	leases, held := d.Reserve([]string{"orders"})
	if _, ok := leases["orders"]; !ok {
		t.Fatalf("no room reserved while the POST slot was free: %v", leases)
	}
	if leases, done := d.Reserve([]string{"orders"}); len(leases) != 0 {
		t.Fatalf("room reserved beyond the POST slots: %v", leases)
	} else {
		done(nil)
	}

	id := e.settleOne(d, routes, d.Notify)
	if _, dels, _ := e.detail(id); len(dels) != 1 || dels[0].Attempts != 0 {
		t.Fatalf("deliveries %+v; want one, not attempted while no slot is free", dels)
	}
	held(nil) // its store failed: the room is given back
	e.waitStatus(id, "orders", state.DeliveryDelivered)
	if n := st.claimed.Load(); n != 1 {
		t.Errorf("%d deliveries claimed; want 1: there was no room to hand it off", n)
	}
}

// TestReserve: what Reserve leases and how done gives the room back.
func TestReserve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	timeout := 7 * time.Second
	routes := []*config.Route{route("a", rv.URL(), func(r *config.Route) { r.Forward.Timeout = timeout }), route("b", rv.URL())}
	d, _ := e.startIdle(Config{Routes: routes, Lease: time.Minute})

	leases, done := d.Reserve([]string{"a", "a", "gone"})
	want := state.Lease{Owner: "test-owner", Until: e.clk.Now().Add(time.Minute + timeout)}
	if len(leases) != 1 || !leases["a"].Until.Equal(want.Until) || leases["a"].Owner != want.Owner {
		t.Errorf("leases %+v; want only route a's, %+v (the claim lease: Lease plus forward.timeout)", leases, want)
	}
	a := d.workers["a"]
	if len(a.slots) != 1 || a.waiting.Load() != 1 || a.active.Load() != 1 {
		t.Errorf("route a: %d slots, %d waiting, %d active; want one reserved", len(a.slots), a.waiting.Load(), a.active.Load())
	}
	// A delivery leased to someone else is not sent: its room is freed.
	done([]state.Delivery{{ID: "dlv_x", Route: "a", Lease: state.Lease{Owner: "another"}}})
	done(nil) // a second call does nothing
	if len(a.slots) != 0 || a.waiting.Load() != 0 || a.active.Load() != 0 {
		t.Errorf("route a after done: %d slots, %d waiting, %d active; want none", len(a.slots), a.waiting.Load(), a.active.Load())
	}
	if reqs := rv.requests(); len(reqs) != 0 {
		t.Errorf("receiver got %d requests; want none", len(reqs))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if leases, _ := d.Reserve([]string{"a", "b"}); len(leases) != 0 {
		t.Errorf("leases after Stop: %+v; want none", leases)
	}
}

// TestReserveAheadOnlyWhileAnswering: beyond the free POST slots, room is
// reserved only while the receiver answers; a POST that got no HTTP
// answer (the connection dropped) does not count as one.
func TestReserveAheadOnlyWhileAnswering(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		answer    bool // the receiver answers 204 (else it drops the connection)
		wantAhead bool
	}{
		{"answered", true, true},
		{"connection dropped", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, _ *http.Request, _ int) {
				if tt.answer {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_ = conn.Close()
				}
			})
			routes := []*config.Route{route("orders", rv.URL(), func(r *config.Route) { r.Forward.Concurrency = 1 })}
			d, _ := e.startIdle(Config{Routes: routes})
			d.ahead = time.Hour // "lately" covers the whole test however slow the machine

			// reserve takes as much room as Reserve gives, and gives it back.
			reserve := func() int {
				var dones []func([]state.Delivery)
				defer func() {
					for _, done := range dones {
						done(nil)
					}
				}()
				for {
					leases, done := d.Reserve([]string{"orders"})
					if len(leases) == 0 {
						done(nil)
						return len(dones)
					}
					dones = append(dones, done)
				}
			}
			if n := reserve(); n != 1 {
				t.Fatalf("room for %d before any answer; want 1 (the free POST slot)", n)
			}
			id := e.settleOne(d, routes, nil)
			e.waitAttempts(id, "orders", 1)
			w := d.workers["orders"]
			testkit.Eventually(t, "the slots to be free", func() bool { return len(w.slots) == 0 && w.active.Load() == 0 })
			want := 1
			if tt.wantAhead {
				want = 2 // the claim slots: twice the concurrency
			}
			if n := reserve(); n != want {
				t.Errorf("room for %d after the first POST; want %d", n, want)
			}
		})
	}
}
