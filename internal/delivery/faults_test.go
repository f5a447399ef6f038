package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestStoreOutage: claims fail while the store is down; the worker keeps
// trying and delivers once it is back.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	ts := teststore.New(t)
	e := &env{t: t, st: ts.Store, clk: newClock(), reg: prometheus.NewRegistry()}
	rv := newReceiver(t, e.clk.Now, nil)
	var logs testkit.SyncBuffer
	ts.SetOutage(true)
	d := e.start(Config{Store: ts, Routes: []*config.Route{route("orders", rv.URL())}, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	id := e.enqueue("orders") // written beside the outage
	testkit.Eventually(t, "a logged claim failure", func() bool { return strings.Contains(logs.String(), "claim deliveries failed") })
	if len(rv.requests()) != 0 {
		t.Fatal("delivered during the outage")
	}
	ts.SetOutage(false)
	d.Notify()
	e.waitStatus(id, "orders", state.DeliveryDelivered)
}

// TestLeaseLostMidFlight: the event is replayed while its POST is in
// flight, so recording the attempt fails (the lease is gone); the worker
// logs it, moves on, and delivers the replayed delivery again with the
// same webhook-id.
func TestLeaseLostMidFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var n atomic.Int32
	release := make(chan struct{})
	rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, _ *http.Request, i int) {
		n.Add(1)
		if i == 1 {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	var logs testkit.SyncBuffer
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	id := e.enqueue("orders")
	d.Notify()
	testkit.Eventually(t, "the first POST", func() bool { return n.Load() == 1 })
	if err := e.st.ReplayEvent(context.Background(), id, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	close(release)
	testkit.Eventually(t, "the lost lease logged", func() bool { return strings.Contains(logs.String(), "recording the attempt failed") })
	d.Notify()
	e.waitStatus(id, "orders", state.DeliveryDelivered)
	reqs := rv.requests()
	if len(reqs) != 2 || reqs[0].ID != id || reqs[1].ID != id {
		t.Fatalf("requests %+v", reqs)
	}
	if _, _, atts := e.detail(id); len(atts) != 1 {
		t.Fatalf("attempts %+v, want only the second one recorded", atts)
	}
}

// TestRecordAttemptRetriedAfterStoreBlip: the store fails twice just as
// the answered attempt is recorded; the worker tries again and records it,
// so the event is POSTed once, not again after the lease ends.
func TestRecordAttemptRetriedAfterStoreBlip(t *testing.T) {
	t.Parallel()
	ts := teststore.New(t)
	e := &env{t: t, st: ts.Store, clk: newClock(), reg: prometheus.NewRegistry()}
	rv := newReceiver(t, e.clk.Now, nil)
	ts.FailRecordAttempts(2)
	d := e.start(Config{Store: ts, Routes: []*config.Route{route("orders", rv.URL())}})
	id := e.enqueue("orders")
	d.Notify()
	e.waitStatus(id, "orders", state.DeliveryDelivered)
	if reqs := rv.requests(); len(reqs) != 1 {
		t.Fatalf("POSTs = %d, want 1", len(reqs))
	}
	if _, _, atts := e.detail(id); len(atts) != 1 {
		t.Fatalf("attempts %+v, want one", atts)
	}
}
