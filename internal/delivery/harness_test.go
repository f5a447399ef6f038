package delivery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// newClock is the tests' clock: deliveries are scheduled by it, so a test
// moves time forward instead of waiting.
func newClock() *testkit.ManualClock {
	return testkit.NewManualClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
}

// env is one test's store and clock.
type env struct {
	t   testing.TB
	st  *sqlite.Store
	clk *testkit.ManualClock
	reg *prometheus.Registry
	seq atomic.Int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, clk: newClock(), reg: prometheus.NewRegistry()}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), sqlite.Options{Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.st = st
	return e
}

// enqueue queues one payment.succeeded event for routes and returns its ID.
func (e *env) enqueue(routes ...string) string {
	e.t.Helper()
	n := e.seq.Add(1)
	res, err := e.st.ApplyStatus(context.Background(), state.StatusChange{
		Provider: "clickpesa.tz", Reference: fmt.Sprintf("ORDER-%03d", n), Status: "succeeded",
		Amount: "1000", Currency: "TZS", CreateIfMissing: true,
		EventType: "payment.succeeded", Routes: routes, Now: e.clk.Now(),
		EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `{"type":"payment.succeeded","timestamp":%q,"data":{"payment_id":%q,"reference":%q,"status":"succeeded"}}`,
				at.UTC().Format(time.RFC3339), p.ID, p.Reference), nil
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if res.EventID == "" {
		e.t.Fatal("no event emitted")
	}
	return res.EventID
}

// detail reads an event's deliveries and attempts.
func (e *env) detail(id string) (state.Event, []state.Delivery, []state.Attempt) {
	e.t.Helper()
	ev, dels, atts, err := e.st.EventDetail(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev, dels, atts
}

// waitDelivery polls until the event's delivery to route satisfies ok.
func (e *env) waitDelivery(id, route string, what string, ok func(state.Delivery) bool) state.Delivery {
	e.t.Helper()
	var last state.Delivery
	defer func() {
		if e.t.Failed() {
			e.t.Logf("event %s to %s: last %+v", id, route, last)
		}
	}()
	testkit.Eventually(e.t, fmt.Sprintf("event %s to %s to be %s", id, route, what), func() bool {
		_, dels, _ := e.detail(id)
		for _, d := range dels {
			if d.Route == route {
				last = d
				return ok(d)
			}
		}
		return false
	})
	return last
}

func (e *env) waitStatus(id, route, status string) state.Delivery {
	e.t.Helper()
	return e.waitDelivery(id, route, status, func(d state.Delivery) bool { return d.Status == status })
}

func (e *env) waitAttempts(id, route string, n int) state.Delivery {
	e.t.Helper()
	return e.waitDelivery(id, route, strconv.Itoa(n)+" attempts", func(d state.Delivery) bool { return d.Attempts >= n })
}

// route builds a route forwarding to url.
func route(name, url string, mods ...func(*config.Route)) *config.Route {
	r := &config.Route{
		Name: name, Provider: "clickpesa.tz", Path: "/webhooks/" + name, Events: config.EventTypes(),
		Forward: config.Forward{URL: url, Secret: secret.New(vecSecret), Timeout: 5 * time.Second},
		Retry:   config.Retry{MaxAttempts: 15, MaxAge: 72 * time.Hour},
	}
	for _, m := range mods {
		m(r)
	}
	return r
}

// start builds and starts a dispatcher; it is stopped at cleanup.
func (e *env) start(cfg Config) *Dispatcher {
	e.t.Helper()
	if cfg.Store == nil {
		cfg.Store = e.st
	}
	if cfg.Now == nil {
		cfg.Now = e.clk.Now
	}
	if cfg.Registerer == nil {
		cfg.Registerer = e.reg
	}
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Owner == "" {
		cfg.Owner = "test-owner"
	}
	d, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	})
	return d
}

// received is one request a receiver got.
type received struct {
	ID, Timestamp, Signature string
	ContentType, UserAgent   string
	Body                     []byte
	VerifyErr                error
}

// receiver is an event receiver on 127.0.0.1 that verifies signatures
// and answers with respond (default 204).
type receiver struct {
	t       testing.TB
	srv     *httptest.Server
	key     []byte
	now     func() time.Time
	mu      sync.Mutex
	got     []received
	respond func(w http.ResponseWriter, r *http.Request, n int) // n: 1-based request count
}

func newReceiver(t testing.TB, now func() time.Time, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	key, err := DecodeSecret(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	rv := &receiver{t: t, key: key, now: now, respond: respond}
	rv.srv = httptest.NewServer(http.HandlerFunc(rv.serve))
	t.Cleanup(rv.srv.Close)
	return rv
}

func (rv *receiver) URL() string { return rv.srv.URL + "/hook" }

func (rv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	got := received{
		ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"), Signature: r.Header.Get("webhook-signature"),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"), Body: body,
	}
	got.VerifyErr = Verify(rv.key, got.ID, got.Timestamp, got.Signature, body, rv.now(), time.Minute)
	rv.mu.Lock()
	rv.got = append(rv.got, got)
	n := len(rv.got)
	rv.mu.Unlock()
	if rv.respond != nil {
		rv.respond(w, r, n)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rv *receiver) requests() []received {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]received(nil), rv.got...)
}

// status answers every request with code.
func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}
