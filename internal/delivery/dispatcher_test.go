package delivery

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func TestDeliveredWithSignedHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}})
	id := e.enqueue("orders")
	dl := e.waitStatus(id, "orders", state.DeliveryDelivered)
	if dl.Attempts != 1 || dl.LastStatusCode != http.StatusNoContent || dl.LastError != "" {
		t.Fatalf("delivery %+v", dl)
	}
	ev, _, atts := e.detail(id)
	reqs := rv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.VerifyErr != nil {
		t.Errorf("receiver could not verify: %v", r.VerifyErr)
	}
	if r.ID != id {
		t.Errorf("webhook-id %q, want the event ID %q", r.ID, id)
	}
	if r.Timestamp != strconv.FormatInt(e.clk.Now().Unix(), 10) {
		t.Errorf("webhook-timestamp %q", r.Timestamp)
	}
	if r.ContentType != "application/json" || !strings.HasPrefix(r.UserAgent, "finconnectd/") || strings.ContainsAny(r.UserAgent, "() ") {
		t.Errorf("Content-Type %q, User-Agent %q", r.ContentType, r.UserAgent)
	}
	if !bytes.Equal(r.Body, ev.Payload) {
		t.Errorf("body %s, want the event payload %s", r.Body, ev.Payload)
	}
	if len(atts) != 1 || atts[0].StatusCode != http.StatusNoContent || atts[0].Error != "" || atts[0].N != 1 {
		t.Errorf("attempts %+v", atts)
	}
	testkit.Eventually(t, "the delivered counter", func() bool {
		return testutil.ToFloat64(d.m.deliveries.WithLabelValues("orders", resultDelivered)) == 1
	})
	if n := testutil.CollectAndCount(d.m.duration); n != 1 {
		t.Errorf("duration histogram series %d, want 1", n)
	}
}

// TestFailures: one attempt against a receiver that fails in some way; the
// delivery's new status, next attempt time and the stored error.
func TestFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		respond func(http.ResponseWriter, *http.Request, int)
		mods    []func(*config.Route)
		rand    float64
		status  string
		code    int
		delay   time.Duration // for pending: next attempt - now
		errHas  []string
		errNot  []string
	}{
		{name: "500 retries after 5s", respond: status(500), rand: 0.5, status: state.DeliveryPending, code: 500, delay: 5 * time.Second,
			errHas: []string{"HTTP 500 Internal Server Error"}},
		{name: "500 jitter low", respond: status(500), rand: 0, status: state.DeliveryPending, code: 500, delay: 4 * time.Second},
		{name: "500 jitter high", respond: status(500), rand: 0.999999, status: state.DeliveryPending, code: 500, delay: 6*time.Second - 5*time.Microsecond},
		{name: "body in error, cleaned and cut", rand: 0.5, status: state.DeliveryPending, code: 502, delay: 5 * time.Second,
			respond: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(502)
				_, _ = w.Write([]byte("upstream\x1b[2J\n down " + strings.Repeat("x", 500)))
			},
			errHas: []string{"HTTP 502 Bad Gateway: upstream [2J down xxx"}, errNot: []string{"\x1b", "\n", strings.Repeat("x", 200)}},
		{name: "302 not followed", rand: 0.5, status: state.DeliveryPending, code: 302, delay: 5 * time.Second,
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				if r.URL.Path != "/hook" {
					w.WriteHeader(299) // never reached unless followed
					return
				}
				w.Header().Set("Location", "http://user:pw@"+r.Host+"/moved?token=sekrit")
				w.WriteHeader(302)
			},
			errHas: []string{"HTTP 302 Found", "redirects are not followed", "/moved"}, errNot: []string{"sekrit", "pw@"}},
		{name: "410 is dead at once", respond: status(410), status: state.DeliveryDead, code: 410, errHas: []string{"HTTP 410 Gone"}},
		{name: "429 Retry-After seconds", status: state.DeliveryPending, code: 429, delay: 120 * time.Second,
			respond: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(429)
			}},
		{name: "503 Retry-After date", status: state.DeliveryPending, code: 503, delay: time.Hour,
			respond: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", newClock().Now().Add(time.Hour).Format(http.TimeFormat))
				w.WriteHeader(503)
			}},
		{name: "429 Retry-After too short is 5s", status: state.DeliveryPending, code: 429, delay: 5 * time.Second,
			respond: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(429)
			}},
		{name: "429 Retry-After capped at 24h", status: state.DeliveryPending, code: 429, delay: 24 * time.Hour,
			respond: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", "9999999999")
				w.WriteHeader(429)
			}},
		{name: "429 without Retry-After backs off", respond: status(429), rand: 0.5, status: state.DeliveryPending, code: 429, delay: 5 * time.Second},
		{name: "timeout", rand: 0.5, status: state.DeliveryPending, code: 0, delay: 5 * time.Second,
			mods: []func(*config.Route){func(r *config.Route) { r.Forward.Timeout = 100 * time.Millisecond }},
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				<-r.Context().Done() // hangs until the client gives up
			},
			errHas: []string{"no answer within 100ms (forward.timeout)"}},
		{name: "max_attempts 1 is dead", respond: status(500), status: state.DeliveryDead, code: 500,
			mods:   []func(*config.Route){func(r *config.Route) { r.Retry.MaxAttempts = 1 }},
			errHas: []string{"HTTP 500", "retry.max_attempts (1) reached"}},
		{name: "max_age before the next attempt is dead", respond: status(500), rand: 0.5, status: state.DeliveryDead, code: 500,
			mods:   []func(*config.Route){func(r *config.Route) { r.Retry.MaxAge = 3 * time.Second }},
			errHas: []string{"retry.max_age (3s)"}},
		{name: "secret and query never in the error", rand: 0.5, status: state.DeliveryPending, code: 500, delay: 5 * time.Second,
			mods: []func(*config.Route){func(r *config.Route) {
				r.Forward.URL = strings.Replace(r.Forward.URL, "http://", "http://alice:pa55word@", 1) + "?token=qu3rytoken"
			}},
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				// A receiver that echoes everything it got.
				w.WriteHeader(500)
				_, _ = w.Write([]byte(r.URL.String() + " " + r.Header.Get("Authorization") + " " +
					r.Header.Get("webhook-signature") + " " + vecSecret + " " + vecSecret[6:]))
			},
			errNot: []string{"qu3rytoken", "pa55word", vecSecret[6:], "v1,"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rv := newReceiver(t, e.clk.Now, c.respond)
			rnd := c.rand
			e.start(Config{Routes: []*config.Route{route("orders", rv.URL(), c.mods...)}, Rand: func() float64 { return rnd }})
			id := e.enqueue("orders")
			dl := e.waitAttempts(id, "orders", 1)
			if dl.Status != c.status || dl.LastStatusCode != c.code {
				t.Fatalf("status %s code %d, want %s %d; error %q", dl.Status, dl.LastStatusCode, c.status, c.code, dl.LastError)
			}
			if c.status == state.DeliveryPending {
				if got := dl.NextAttemptAt.Sub(e.clk.Now()); got < c.delay-time.Millisecond || got > c.delay+time.Millisecond {
					t.Errorf("next attempt in %s, want %s", got, c.delay)
				}
			}
			_, _, atts := e.detail(id)
			if len(atts) != 1 || atts[0].StatusCode != c.code || atts[0].Error != dl.LastError {
				t.Fatalf("attempts %+v", atts)
			}
			for _, s := range c.errHas {
				if !strings.Contains(dl.LastError, s) {
					t.Errorf("error %q lacks %q", dl.LastError, s)
				}
			}
			for _, s := range c.errNot {
				if strings.Contains(dl.LastError, s) {
					t.Errorf("error %q holds %q", dl.LastError, s)
				}
			}
			// An answered attempt was one request (redirects are not
			// followed). A request the client gave up on (timeout) may
			// never reach the receiver's handler: on a loaded machine the
			// client can give up before the request is even written.
			if n := len(rv.requests()); n > 1 || (c.code != 0 && n != 1) {
				t.Errorf("%d requests, want 1 (redirects are not followed)", n)
			}
		})
	}
}

func TestTransportErrorHidesQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	url := rv.URL() + "?token=qu3rytoken"
	rv.srv.Close() // connection refused from now on
	e.start(Config{Routes: []*config.Route{route("orders", url)}})
	id := e.enqueue("orders")
	dl := e.waitAttempts(id, "orders", 1)
	if dl.Status != state.DeliveryPending || dl.LastStatusCode != 0 || dl.LastError == "" {
		t.Fatalf("delivery %+v", dl)
	}
	if strings.Contains(dl.LastError, "qu3rytoken") || strings.Contains(dl.LastError, "?") {
		t.Fatalf("error holds the query: %q", dl.LastError)
	}
}

// TestRetriesUntilMaxAttempts: the same webhook-id on every attempt, the
// schedule's steps between them, dead after max_attempts.
func TestRetriesUntilMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, status(500))
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL(), func(r *config.Route) { r.Retry.MaxAttempts = 4 })}})
	id := e.enqueue("orders")
	for n := 1; n <= 4; n++ {
		dl := e.waitAttempts(id, "orders", n)
		if n < 4 {
			want := Schedule()[n-1]
			if dl.Status != state.DeliveryPending || dl.NextAttemptAt.Sub(e.clk.Now()) != want {
				t.Fatalf("after attempt %d: %s, next in %s, want pending in %s", n, dl.Status, dl.NextAttemptAt.Sub(e.clk.Now()), want)
			}
			e.clk.Advance(want)
			d.Notify()
			continue
		}
		if dl.Status != state.DeliveryDead || !strings.Contains(dl.LastError, "retry.max_attempts (4)") {
			t.Fatalf("after the last attempt: %+v", dl)
		}
	}
	reqs := rv.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		if r.ID != id || r.VerifyErr != nil {
			t.Errorf("request %d: webhook-id %q (want %q), verify %v", i+1, r.ID, id, r.VerifyErr)
		}
	}
	if reqs[0].Timestamp == reqs[3].Timestamp {
		t.Errorf("webhook-timestamp did not move between attempts")
	}
	testkit.Eventually(t, "counters", func() bool {
		return testutil.ToFloat64(d.m.deliveries.WithLabelValues("orders", resultRetry)) == 3 &&
			testutil.ToFloat64(d.m.deliveries.WithLabelValues("orders", resultDead)) == 1
	})
}

func TestBackoffSchedule(t *testing.T) {
	t.Parallel()
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
		10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i, w := range want {
		n := i + 1
		if got := backoff(n, 0.5); got != w {
			t.Errorf("backoff(%d) = %s, want %s", n, got, w)
		}
		if lo, hi := backoff(n, 0), backoff(n, 0.9999999); lo != w*8/10 || hi <= w*119/100 || hi > w*12/10 {
			t.Errorf("backoff(%d) jitter [%s, %s], want ±20%% of %s", n, lo, hi, w)
		}
	}
	if got := backoff(1, 7); got != 5*time.Second {
		t.Errorf("out-of-range random: %s", got)
	}
}

func TestRetryAfterParse(t *testing.T) {
	t.Parallel()
	now := newClock().Now()
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"soon", 0, false},
		{"-5", 0, false},
		{"0", 5 * time.Second, true},
		{"30", 30 * time.Second, true},
		{" 30 ", 30 * time.Second, true},
		{"86401", 24 * time.Hour, true},
		{"99999999999999999999", 0, false},
		{now.Add(10 * time.Minute).Format(http.TimeFormat), 10 * time.Minute, true},
		{now.Add(-10 * time.Minute).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), 24 * time.Hour, true},
	}
	for _, c := range cases {
		got, ok := retryAfter(c.in, now)
		if ok != c.ok || got != c.want {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// hangingReceiver holds every request until release is closed (or the
// request ends), counting the requests it holds.
func hangingReceiver(t *testing.T, e *env) (rv *receiver, hung *atomic.Int32, release chan struct{}) {
	t.Helper()
	hung, release = new(atomic.Int32), make(chan struct{})
	rv = newReceiver(t, e.clk.Now, func(w http.ResponseWriter, r *http.Request, _ int) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	return rv, hung, release
}

// TestBlockedRouteDoesNotDelayAnother: route A's receiver hangs; route B's
// events are delivered meanwhile. Route A sets its own concurrency (4, not
// the default): it holds exactly that many requests.
func TestBlockedRouteDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	slow, hung, release := hangingReceiver(t, e)
	fast := newReceiver(t, e.clk.Now, nil)
	d := e.start(Config{Routes: []*config.Route{
		route("a", slow.URL(), func(r *config.Route) { r.Forward.Timeout, r.Forward.Concurrency = time.Minute, 4 }),
		route("b", fast.URL()),
	}})
	t.Cleanup(func() { close(release) }) // before the dispatcher stops (cleanups run last first)
	var aIDs []string
	for range 6 {
		aIDs = append(aIDs, e.enqueue("a"))
	}
	d.Notify()
	testkit.Eventually(t, "route a's receiver to hold 4 requests", func() bool { return hung.Load() == 4 })
	var bIDs []string
	for range 5 {
		bIDs = append(bIDs, e.enqueue("b"))
	}
	d.Notify()
	for _, id := range bIDs {
		e.waitStatus(id, "b", state.DeliveryDelivered)
	}
	if n := hung.Load(); n != 4 {
		t.Errorf("route a has %d requests in flight, want 4 (its concurrency)", n)
	}
	for _, id := range aIDs {
		_, dels, _ := e.detail(id)
		if dels[0].Attempts != 0 {
			t.Errorf("route a's %s has %d attempts recorded while its receiver hangs", id, dels[0].Attempts)
		}
	}
}

// TestConcurrencyChangeOnReload: a reload that changes a route's
// concurrency hands the route to a worker with the new limit; the old one
// keeps only the POSTs it had in flight.
func TestConcurrencyChangeOnReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv, hung, release := hangingReceiver(t, e)
	withConc := func(n int) *config.Route {
		return route("a", rv.URL(), func(r *config.Route) { r.Forward.Timeout, r.Forward.Concurrency = time.Minute, n })
	}
	d := e.start(Config{Routes: []*config.Route{withConc(2)}})
	t.Cleanup(func() { close(release) })
	var ids []string
	for range 10 {
		ids = append(ids, e.enqueue("a"))
	}
	d.Notify()
	testkit.Eventually(t, "the receiver to hold 2 requests", func() bool { return hung.Load() == 2 })
	d.SetRoutes([]*config.Route{withConc(5)})
	d.Notify()
	testkit.Eventually(t, "the receiver to hold 2 + 5 requests", func() bool { return hung.Load() == 7 })
	// The new worker's five slots are full and the old one claims no more.
	d.Notify()
	time.Sleep(200 * time.Millisecond)
	if n := hung.Load(); n != 7 {
		t.Fatalf("the receiver holds %d requests, want 7 (2 from the old worker, 5 from the new)", n)
	}
}

// TestConcurrencyPerRoute: at most Concurrency POSTs of one route at once.
func TestConcurrencyPerRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var (
		mu            sync.Mutex
		inFlight, top int
	)
	release := make(chan struct{})
	rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, r *http.Request, _ int) {
		mu.Lock()
		inFlight++
		top = max(top, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.WriteHeader(200)
	})
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Concurrency: 3})
	var ids []string
	for range 9 {
		ids = append(ids, e.enqueue("orders"))
	}
	d.Notify()
	testkit.Eventually(t, "3 requests in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inFlight == 3
	})
	close(release)
	for _, id := range ids {
		e.waitStatus(id, "orders", state.DeliveryDelivered)
	}
	mu.Lock()
	defer mu.Unlock()
	if top != 3 {
		t.Fatalf("at most %d in flight, want 3", top)
	}
}

// TestLeaseOfCrashedWorkerComesBack: owner X claims and dies; owner Y
// delivers once X's lease has passed, with the same webhook-id.
func TestLeaseOfCrashedWorkerComesBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	leased := e.enqueue("orders")
	claimed, err := e.st.ClaimDeliveries(context.Background(), "orders", "owner-x", e.clk.Now(), 30*time.Second, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d", err, len(claimed))
	}
	free := e.enqueue("orders")
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Owner: "owner-y", Lease: time.Second})
	// Y has made a pass: the free event is delivered, the leased one not.
	e.waitStatus(free, "orders", state.DeliveryDelivered)
	if _, dels, _ := e.detail(leased); dels[0].Attempts != 0 || len(rv.requests()) != 1 {
		t.Fatalf("the leased delivery was sent before its lease ended: %+v", dels[0])
	}
	e.clk.Advance(31 * time.Second)
	d.Notify()
	e.waitStatus(leased, "orders", state.DeliveryDelivered)
	ids := []string{}
	for _, r := range rv.requests() {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	want := []string{free, leased}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("webhook-ids %v, want %v", ids, want)
	}
}

func TestReplayAfterDead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var gone atomic.Bool
	gone.Store(true)
	rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, _ *http.Request, _ int) {
		if gone.Load() {
			w.WriteHeader(410)
			return
		}
		w.WriteHeader(200)
	})
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, PollInterval: time.Hour})
	id := e.enqueue("orders")
	d.Notify()
	e.waitStatus(id, "orders", state.DeliveryDead)
	gone.Store(false)
	if err := e.st.ReplayEvent(context.Background(), id, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	d.Notify()
	dl := e.waitStatus(id, "orders", state.DeliveryDelivered)
	_, _, atts := e.detail(id)
	if len(atts) != 2 || atts[0].StatusCode != 410 || atts[1].StatusCode != 200 || dl.LastStatusCode != 200 {
		t.Fatalf("attempts %+v", atts)
	}
	reqs := rv.requests()
	if len(reqs) != 2 || reqs[0].ID != id || reqs[1].ID != id {
		t.Fatalf("requests %+v", reqs)
	}
}

// TestNotifyAndPoll: Notify wakes a worker that would sleep for an hour;
// without Notify, PollInterval bounds the wait (a replay by the CLI).
func TestNotifyAndPoll(t *testing.T) {
	t.Parallel()
	t.Run("notify", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		rv := newReceiver(t, e.clk.Now, nil)
		st := &nextDueCounter{OutboxStore: e.st}
		d := e.start(Config{Store: st, Routes: []*config.Route{route("orders", rv.URL())}, PollInterval: time.Hour})
		// After NextDue the worker sleeps for the PollInterval: only
		// Notify can wake it for an event queued from now on.
		testkit.Eventually(t, "the worker to go to sleep", func() bool { return st.calls.Load() > 0 })
		id := e.enqueue("orders")
		d.Notify()
		e.waitStatus(id, "orders", state.DeliveryDelivered)
	})
	t.Run("poll", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		rv := newReceiver(t, e.clk.Now, nil)
		e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, PollInterval: 20 * time.Millisecond})
		id := e.enqueue("orders") // no Notify: another process wrote it
		e.waitStatus(id, "orders", state.DeliveryDelivered)
	})
}

// nextDueCounter counts NextDue calls: a worker calls it just before it
// goes to sleep.
type nextDueCounter struct {
	state.OutboxStore
	calls atomic.Int32
}

func (s *nextDueCounter) NextDue(ctx context.Context, route string) (time.Time, error) {
	s.calls.Add(1)
	return s.OutboxStore.NextDue(ctx, route)
}

func TestSetRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rvA := newReceiver(t, e.clk.Now, nil)
	rvB := newReceiver(t, e.clk.Now, nil)
	rvA2 := newReceiver(t, e.clk.Now, nil)
	d := e.start(Config{Routes: []*config.Route{route("a", rvA.URL())}, PollInterval: 20 * time.Millisecond})

	b1 := e.enqueue("b")
	e.waitStatus(e.enqueue("a"), "a", state.DeliveryDelivered)
	if _, dels, _ := e.detail(b1); dels[0].Attempts != 0 {
		t.Fatalf("route b delivered before it was configured")
	}

	// Add b.
	d.SetRoutes([]*config.Route{route("a", rvA.URL()), route("b", rvB.URL())})
	e.waitStatus(b1, "b", state.DeliveryDelivered)

	// Change a's forward; remove nothing.
	d.SetRoutes([]*config.Route{route("a", rvA2.URL()), route("b", rvB.URL())})
	a2 := e.enqueue("a")
	e.waitStatus(a2, "a", state.DeliveryDelivered)
	if got := rvA2.requests(); len(got) != 1 || got[0].ID != a2 {
		t.Fatalf("the changed forward got %+v", got)
	}

	// Remove a: its events stay queued.
	d.SetRoutes([]*config.Route{route("b", rvB.URL())})
	if got := d.Routes(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("routes %v, want [b]", got)
	}
	a3 := e.enqueue("a")
	e.waitStatus(e.enqueue("b"), "b", state.DeliveryDelivered)
	if _, dels, _ := e.detail(a3); dels[0].Attempts != 0 || dels[0].Status != state.DeliveryPending {
		t.Fatalf("removed route a delivered: %+v", dels[0])
	}

	// A bad forward is refused, the previous one kept.
	bad := route("b", "ftp://nowhere")
	d.SetRoutes([]*config.Route{bad})
	e.waitStatus(e.enqueue("b"), "b", state.DeliveryDelivered)
}

// TestRemovedRouteRecordsInFlight: a route removed while its POST is in
// flight claims nothing more, but the answered attempt is still recorded.
func TestRemovedRouteRecordsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var got atomic.Int32
	rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, _ *http.Request, _ int) {
		got.Add(1)
		<-release
		w.WriteHeader(200)
	})
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Concurrency: 1})
	first := e.enqueue("orders")
	d.Notify()
	testkit.Eventually(t, "the POST", func() bool { return got.Load() == 1 })
	d.SetRoutes(nil)
	second := e.enqueue("orders")
	close(release)
	e.waitStatus(first, "orders", state.DeliveryDelivered)
	if _, dels, _ := e.detail(second); dels[0].Attempts != 0 || dels[0].Status != state.DeliveryPending {
		t.Fatalf("the removed route delivered an event queued after its removal: %+v", dels[0])
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	t.Run("lets in-flight finish", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		release := make(chan struct{})
		var got atomic.Int32
		rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, _ *http.Request, _ int) {
			got.Add(1)
			<-release
			w.WriteHeader(200)
		})
		d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}})
		id := e.enqueue("orders")
		testkit.Eventually(t, "the POST", func() bool { return got.Load() == 1 })
		errc := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errc <- d.Stop(ctx)
		}()
		close(release)
		if err := <-errc; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if _, dels, _ := e.detail(id); dels[0].Status != state.DeliveryDelivered {
			t.Fatalf("in-flight delivery not recorded: %+v", dels[0])
		}
		if err := d.Stop(context.Background()); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if err := d.Start(context.Background()); err == nil {
			t.Fatal("Start after Stop succeeded")
		}
	})
	t.Run("bounded by its context", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		var got atomic.Int32
		rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, r *http.Request, _ int) {
			got.Add(1)
			<-r.Context().Done() // never answers
		})
		d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL(), func(r *config.Route) { r.Forward.Timeout = time.Hour })}})
		id := e.enqueue("orders")
		testkit.Eventually(t, "the POST", func() bool { return got.Load() == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := d.Stop(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop: %v, want a deadline error", err)
		}
		if err2 := d.Stop(context.Background()); err2 == nil || err2.Error() != err.Error() {
			t.Fatalf("second Stop: %v, want the first result", err2)
		}
		// Nothing recorded: the lease comes back for the next process.
		if _, dels, _ := e.detail(id); dels[0].Attempts != 0 || dels[0].Status != state.DeliveryPending {
			t.Fatalf("interrupted delivery: %+v", dels[0])
		}
	})
	t.Run("before start", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		d, err := New(Config{Store: e.st})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{}, "no store"},
		{"bad secret", Config{Store: e.st, Routes: []*config.Route{route("a", "http://127.0.0.1:1/", func(r *config.Route) {
			r.Forward.Secret = secret.New("whsec_%%%notbase64")
		})}}, `route "a": forward.secret`},
		{"bad url", Config{Store: e.st, Routes: []*config.Route{route("a", "mailto:x@example.com")}}, "not an http(s) URL"},
		{"duplicate", Config{Store: e.st, Routes: []*config.Route{route("a", "http://127.0.0.1:1/"), route("a", "http://127.0.0.1:1/")}}, "given twice"},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "notbase64") {
			t.Errorf("%s: error repeats the secret: %v", c.name, err)
		}
	}
}

func TestQueueMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, err := New(Config{Store: e.st, Registerer: e.reg, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	_ = d
	e.enqueue("nowhere")
	e.enqueue("nowhere")
	e.clk.Advance(90 * time.Second)
	want := `
# HELP finconnectd_delivery_oldest_pending_age_seconds Age of the oldest pending delivery; 0 when none is pending.
# TYPE finconnectd_delivery_oldest_pending_age_seconds gauge
finconnectd_delivery_oldest_pending_age_seconds 90
# HELP finconnectd_delivery_queue_depth Deliveries waiting for their first or next attempt (status pending).
# TYPE finconnectd_delivery_queue_depth gauge
finconnectd_delivery_queue_depth 2
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want),
		"finconnectd_delivery_queue_depth", "finconnectd_delivery_oldest_pending_age_seconds"); err != nil {
		t.Fatal(err)
	}
	// A second dispatcher on the same registry (a rebuilt one) shares the series.
	if _, err := New(Config{Store: e.st, Registerer: e.reg, Now: e.clk.Now}); err != nil {
		t.Fatalf("second dispatcher on one registry: %v", err)
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 200, "plain"},
		{"  line\none\r\n\ttwo  ", 200, "line one two"},
		{"upstream\x1b[2J down", 200, "upstream [2J down"},
		{"a\u00a0b\u200bc", 200, "a b c"},
		{"h\u00e9llo", 2, "h"},                                    // é cut in half: dropped
		{"\xffbad byte first " + long, 20, "bad byte first xxxx"}, // the rest survives the invalid byte
		{"ok \ufffd kept", 200, "ok \ufffd kept"},
		{long, 10, "xxxxxxxxxx"},
	} {
		if got := cleanText([]byte(c.in), c.n); got != c.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// maxClaim records the largest number of deliveries one claim took.
type maxClaim struct {
	claimCounter
	max atomic.Int32
}

func (s *maxClaim) note(n int) {
	for {
		m := s.max.Load()
		if int32(n) <= m || s.max.CompareAndSwap(m, int32(n)) {
			return
		}
	}
}

func (s *maxClaim) ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	ds, err := s.claimCounter.ClaimDeliveries(ctx, route, owner, now, lease, limit)
	s.note(len(ds))
	return ds, err
}

func (s *maxClaim) RecordAttempts(ctx context.Context, rs []state.AttemptResult, c state.Claim) ([]error, []state.Delivery, error) {
	errs, ds, err := s.claimCounter.RecordAttempts(ctx, rs, c)
	s.note(len(ds))
	return errs, ds, err
}

// TestNoClaimAheadWithoutAnswers: a receiver whose POSTs get no HTTP
// answer (it drops every connection) is claimed no more deliveries than
// its free POST slots, whatever it failed before: none waits for a slot
// that another replica could have sent.
func TestNoClaimAheadWithoutAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, func(w http.ResponseWriter, _ *http.Request, _ int) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	})
	st := &maxClaim{claimCounter: claimCounter{OutboxStore: e.st}}
	d := e.start(Config{Store: st, Routes: []*config.Route{route("orders", rv.URL(), func(r *config.Route) { r.Forward.Concurrency = 1 })},
		PollInterval: 10 * time.Millisecond})
	var ids []string
	for range 6 {
		ids = append(ids, e.enqueue("orders"))
	}
	d.Notify()
	for _, id := range ids {
		e.waitAttempts(id, "orders", 1)
	}
	if m := st.max.Load(); m != 1 {
		t.Errorf("a claim took %d deliveries; want 1 at a time (one POST slot, no answers)", m)
	}
}
