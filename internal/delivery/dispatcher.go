package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/version"
)

// Defaults of Config.
const (
	DefaultLease        = 2 * time.Minute
	DefaultPollInterval = time.Second
	DefaultConcurrency  = config.DefaultForwardConcurrency
	// stopGrace is how long Stop waits, after its context ended and the
	// in-flight POSTs were cancelled, for the workers to notice.
	stopGrace = time.Second
	// maxStoreBackoff bounds the wait after a store error.
	maxStoreBackoff = 30 * time.Second
	// releaseTimeout bounds Start's release of dead owners' leases.
	releaseTimeout = 10 * time.Second
)

// Config wires a Dispatcher: what the daemon passes, plus knobs for tests.
type Config struct {
	Store  state.OutboxStore
	Routes []*config.Route
	Logger *slog.Logger
	// Registerer receives the delivery metrics (nil: a private registry).
	Registerer prometheus.Registerer
	// Now is the clock deliveries are scheduled and signed by (default
	// time.Now). Sleeping uses real time, bounded by PollInterval.
	Now func() time.Time
	// Owner names this process's leases (default: LocalOwner()). When it
	// is in NewOwner's form with this process's scope, Start releases the
	// leases of stopped processes it can see (see Start).
	Owner string
	// HTTPClient sends the POSTs (default: a client of its own). Its
	// redirect policy is replaced: redirects are never followed.
	HTTPClient *http.Client
	// Lease is how long a claimed delivery is ours (default 2 min); it is
	// raised to forward.timeout + 30 s for a route with a longer timeout.
	Lease time.Duration
	// PollInterval is the longest a worker sleeps without looking at the
	// store (default 1 s): replays written by another process (the CLI)
	// are picked up within it.
	PollInterval time.Duration
	// Concurrency is how many POSTs of a route are in flight at once when
	// the route's forward.concurrency is not set (default
	// DefaultConcurrency, at most config.MaxForwardConcurrency). Twice as
	// many deliveries of the route are claimed and not yet answered at
	// most; those beyond the free POST slots wait for one, at most one
	// POST long, under a lease that covers the wait. At most four times as
	// many answered attempts wait to be recorded.
	Concurrency int
	// Rand returns a number in [0, 1) for the retry jitter (default
	// math/rand/v2). Called from many goroutines.
	Rand func() float64
}

// Dispatcher runs one worker per route. New wires it, Start starts the
// workers, Stop stops them; Notify and SetRoutes are safe at any time.
type Dispatcher struct {
	store  state.OutboxStore
	log    *slog.Logger
	now    func() time.Time
	owner  string
	client *http.Client
	ua     string
	rand   func() float64
	lease  time.Duration
	poll   time.Duration
	conc   int           // for a route that sets none
	ahead  time.Duration // aheadWindow (tests change it)
	m      *metrics

	mu      sync.Mutex
	workers map[string]*worker
	started bool
	stopped bool
	runCtx  context.Context // workers claim and sleep under it
	// workCtx carries in-flight POSTs and their records; it ends
	// only when Stop's context does.
	workCtx    context.Context
	runCancel  context.CancelFunc
	workCancel context.CancelFunc
	wg         sync.WaitGroup // worker loops and in-flight deliveries

	stopOnce sync.Once
	stopErr  error
}

// New checks cfg and builds a Dispatcher; it starts nothing.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: no store")
	}
	d := &Dispatcher{
		store:   cfg.Store,
		log:     cfg.Logger,
		now:     cfg.Now,
		owner:   cfg.Owner,
		rand:    cfg.Rand,
		lease:   cfg.Lease,
		poll:    cfg.PollInterval,
		conc:    cfg.Concurrency,
		ahead:   aheadWindow,
		ua:      version.UserAgent(),
		workers: map[string]*worker{},
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.owner == "" {
		d.owner = LocalOwner()
	}
	if d.rand == nil {
		d.rand = mrand.Float64
	}
	if d.lease <= 0 {
		d.lease = DefaultLease
	}
	if d.poll <= 0 {
		d.poll = DefaultPollInterval
	}
	if d.conc <= 0 {
		d.conc = DefaultConcurrency
	}
	d.conc = min(d.conc, config.MaxForwardConcurrency)
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		c.CheckRedirect = noRedirect
		d.client = &c
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = config.MaxForwardConcurrency
		t.ResponseHeaderTimeout = 0 // the per-attempt context bounds it
		d.client = &http.Client{Transport: t, CheckRedirect: noRedirect}
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, cfg.Store, d.now)
	if err != nil {
		return nil, fmt.Errorf("delivery: register metrics: %w", err)
	}
	d.m = m
	for _, r := range cfg.Routes {
		rc, err := newRouteConf(r, d.lease, d.conc)
		if err != nil {
			return nil, fmt.Errorf("delivery: %w", err)
		}
		if _, dup := d.workers[rc.name]; dup {
			return nil, fmt.Errorf("delivery: route %q given twice", rc.name)
		}
		d.workers[rc.name] = d.newWorker(rc)
	}
	return d, nil
}

// Start starts one worker per route. The workers stop when ctx ends or at
// Stop; in-flight POSTs outlive ctx until Stop's context ends.
//
// First it releases the leases of processes that crashed where we can
// see them (the same host and scope, i.e. machine boot and PID namespace,
// as our owner name; see OwnerDead) so that their deliveries go out now,
// not when the lease runs out. Leases of other hosts, and of replicas
// with our hostname in another container or VM, are left to run out: we
// cannot see their processes.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	fresh := !d.started && !d.stopped
	d.mu.Unlock()
	if fresh {
		// Without d.mu: Notify and SetRoutes must not wait on the store.
		d.releaseDeadLeases(ctx)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return errors.New("delivery: start after stop")
	}
	if d.started {
		return errors.New("delivery: already started")
	}
	d.started = true
	d.runCtx, d.runCancel = context.WithCancel(ctx)
	d.workCtx, d.workCancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, w := range d.workers {
		d.startWorker(w)
	}
	d.log.Info("event delivery started", "routes", len(d.workers), "owner", d.owner)
	return nil
}

// releaseDeadLeases releases the leases of owners in our host and scope
// whose process is gone. Failing changes nothing but the wait: it is
// logged and those deliveries go out when their lease runs out.
func (d *Dispatcher) releaseDeadLeases(ctx context.Context) {
	_, scope, _, ok := ParseOwner(d.owner)
	if !ok || scope == "" || scope != procscope.Scope() {
		// Our owner name does not say where its PIDs mean something, or
		// names a scope other than the one procscope.Gone looks in.
		return
	}
	dead := func(owner string) bool { return OwnerDead(owner, d.owner, procscope.Gone) }
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	released, err := d.store.ReleaseLeases(ctx, d.now(), dead)
	if err != nil {
		d.log.Warn("delivery: could not release the leases of stopped processes; their deliveries go out when the leases run out", "err", err)
		return
	}
	for _, owner := range slices.Sorted(maps.Keys(released)) {
		n := released[owner]
		d.log.Info(fmt.Sprintf("delivery: released %d leases of a stopped process (owner %s)", n, owner),
			"released", n, "owner", owner)
	}
}

// Stop stops claiming and sleeping at once and waits for in-flight POSTs
// (each bounded by its route's forward.timeout) until ctx ends; then it
// cancels them — their leases expire and they are sent again later — and
// returns ctx's error. Idempotent: later calls return the first result.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() { d.stopErr = d.stop(ctx) })
	return d.stopErr
}

func (d *Dispatcher) stop(ctx context.Context) error {
	d.mu.Lock()
	d.stopped = true
	started := d.started
	d.mu.Unlock()
	if !started {
		return nil
	}
	d.runCancel()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.workCancel()
		d.log.Info("event delivery stopped")
		return nil
	case <-ctx.Done():
	}
	d.workCancel()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	d.log.Warn("event delivery stopped with deliveries in flight; they are sent again when their lease ends")
	return fmt.Errorf("delivery: stop: in-flight deliveries interrupted: %w", ctx.Err())
}

// Notify wakes every worker now: an event was queued or replayed.
func (d *Dispatcher) Notify() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		w.poke()
	}
}

// SetRoutes applies a reloaded configuration: workers start for new
// routes and stop claiming for removed ones (their in-flight POSTs finish);
// existing routes take the new forward and retry settings from their next
// attempt. A route whose forward cannot be used is logged and keeps its
// previous settings (a new one is not started).
func (d *Dispatcher) SetRoutes(routes []*config.Route) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	keep := map[string]bool{}
	for _, r := range routes {
		if r == nil {
			continue
		}
		keep[r.Name] = true
		rc, err := newRouteConf(r, d.lease, d.conc)
		w, exists := d.workers[r.Name]
		if err != nil {
			d.log.Error("delivery: route not updated", "route", r.Name, "err", err, "kept_previous", exists)
			continue
		}
		if exists && w.conc == rc.conc {
			w.conf.Store(rc)
			w.poke()
			continue
		}
		if exists {
			// Its slots are sized by the concurrency: a new worker takes
			// over, and the old one only records what it has in flight.
			w.stopClaiming()
			d.log.Info("delivery: route concurrency changed", "route", rc.name, "from", w.conc, "to", rc.conc)
		}
		w = d.newWorker(rc)
		d.workers[rc.name] = w
		if d.started {
			d.startWorker(w)
		}
		if !exists {
			d.log.Info("delivery: route added", "route", rc.name)
		}
	}
	for name, w := range d.workers {
		if keep[name] {
			continue
		}
		w.stopClaiming()
		delete(d.workers, name)
		d.log.Info("delivery: route removed; its pending deliveries stay queued", "route", name)
	}
}

// Routes lists the routes with a worker, for tests and diagnostics.
func (d *Dispatcher) Routes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.workers))
	for n := range d.workers {
		out = append(out, n)
	}
	return out
}

// worker delivers one route's events.
type worker struct {
	d    *Dispatcher
	name string
	// conc is the route's concurrency when the worker started (a change
	// starts a new worker): its POST slots.
	conc   int
	conf   atomic.Pointer[routeConf]
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	// waiting counts deliveries claimed and not yet given a POST slot;
	// answered counts POSTs answered (with an HTTP status) since the last
	// claim.
	waiting  atomic.Int64
	answered atomic.Int64
	// lastAnswer is when the receiver last answered a POST with an HTTP
	// status (Unix nanoseconds); a timeout or a refused connection is no
	// answer.
	lastAnswer atomic.Int64
	// active counts the deliveries started and not finished (their
	// attempt recorded, or given up).
	active atomic.Int64
	// slots holds a token per delivery claimed or handed off and not yet
	// answered (at most claimSlots); post one per POST in flight (at most
	// conc).
	slots chan struct{}
	post  chan struct{}
	// unrecorded bounds the answered attempts waiting to be recorded
	// (their claim slots given back): unrecordedPerSlot per claim slot.
	unrecorded chan struct{}
	// records are the answered attempts waiting for run to record them.
	recMu   sync.Mutex
	records []recordReq
}

// recordReq is one attempt waiting to be recorded.
type recordReq struct {
	rec  state.AttemptResult
	done chan error // buffered
}

// unrecordedPerSlot times a route's claim slots (twice its concurrency)
// answered attempts may wait to be recorded at once; beyond that a
// delivery keeps its claim slot until there is room, so the route claims
// no more.
const unrecordedPerSlot = 4

// stopClaiming ends a started worker's claims; it still records the
// attempts of the POSTs it has in flight (see run).
func (w *worker) stopClaiming() {
	if w.cancel != nil {
		w.cancel()
	}
}

// claimSlots is the most deliveries w has claimed and not yet answered:
// twice its POST slots.
func (w *worker) claimSlots() int { return 2 * w.conc }

// addRecord queues rec for run and wakes it; the outcome arrives on the
// channel once the transaction holding it has ended.
func (w *worker) addRecord(rec state.AttemptResult) <-chan error {
	req := recordReq{rec: rec, done: make(chan error, 1)}
	w.recMu.Lock()
	w.records = append(w.records, req)
	w.recMu.Unlock()
	w.poke()
	return req.done
}

// takeRecords takes the queued attempts.
func (w *worker) takeRecords() []recordReq {
	w.recMu.Lock()
	defer w.recMu.Unlock()
	q := w.records
	w.records = nil
	return q
}

func (d *Dispatcher) newWorker(rc *routeConf) *worker {
	w := &worker{d: d, name: rc.name, conc: rc.conc, wake: make(chan struct{}, 1)}
	w.slots = make(chan struct{}, w.claimSlots())
	w.post = make(chan struct{}, w.conc)
	w.unrecorded = make(chan struct{}, unrecordedPerSlot*w.claimSlots())
	w.conf.Store(rc)
	return w
}

// startWorker runs w; d.mu is held.
func (d *Dispatcher) startWorker(w *worker) {
	w.ctx, w.cancel = context.WithCancel(d.runCtx)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		w.run()
	}()
}

// poke wakes the worker without blocking; a pending wake is enough.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run claims what is due and sends it, records the attempts, and sleeps
// until the next delivery is due, PollInterval passes or it is poked.
//
// At most the route's concurrency (w.conc) POSTs are in flight (post), and
// at most w.claimSlots() deliveries (twice that) are claimed and not yet answered
// (slots). A POST slot is given back when the answer is in, and
// a claim slot when the attempt is queued to be recorded, so neither the
// record's commit nor the next claim's holds up the next POST. While the
// receiver answers, the worker also claims ahead: as many deliveries
// beyond the free POST slots as POSTs were answered since its last claim
// (at most w.conc), which wait for a slot. A receiver that does not
// answer (a POST that timed out or lost its connection is no answer) gets
// no deliveries claimed ahead: those stay free for other replicas.
//
// The answered attempts are recorded here, all those waiting in one
// RecordAttempts call, and the next claim goes into the same call (one
// transaction, one commit for both). Without attempts to record, unless a
// POST slot would stand idle, a claim waits until it can take a quarter
// of the claim slots (half of the concurrency).
//
// When the worker stops (its route removed, or Stop), it claims no more
// but records the attempts of the POSTs still in flight until they are
// all done, under the context in-flight POSTs run under.
func (w *worker) run() {
	d := w.d
	slots, post := w.slots, w.post
	failures := 0
	for {
		recs := w.takeRecords()
		if w.ctx.Err() != nil {
			if !w.drain(recs) {
				return
			}
			continue
		}
		n := 0
	take:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break take
			}
		}
		answered := w.answered.Load()
		posting, waiting := len(post), int(w.waiting.Load())
		room := w.conc - posting - waiting + int(min(answered, int64(w.conc)))
		// Claim at once when a POST slot would otherwise stand idle, or
		// along with attempts to record (their commit is made anyway);
		// else wait until half a batch can be claimed, so that claims (a
		// commit each) come in batches, not one by one.
		starving := waiting == 0 && posting < w.conc
		if room < n {
			for range n - max(room, 0) {
				<-slots
			}
			n = max(room, 0)
		}
		if n > 0 && len(recs) == 0 && !starving && n < max(cap(slots)/4, 1) {
			for range n {
				<-slots
			}
			n = 0
		}
		if n == 0 && len(recs) == 0 {
			w.sleep(d.poll) // poked when a POST is answered or a slot freed
			continue
		}
		if n > 0 {
			w.answered.Add(-answered)
		}
		lease := w.conf.Load().claimLease()
		claimedAt := time.Now()
		now := d.now()
		var (
			claimed []state.Delivery
			err     error
		)
		if len(recs) == 0 {
			claimed, err = d.store.ClaimDeliveries(w.ctx, w.name, d.owner, now, lease, n)
		} else {
			// Attempts are recorded under the context of in-flight POSTs,
			// which outlives the worker's.
			claimed, err = d.record(d.workCtx, recs, state.Claim{Route: w.name, Owner: d.owner, Now: now, Lease: lease, Limit: n})
		}
		for range n - len(claimed) {
			<-slots
		}
		if err != nil {
			if w.ctx.Err() != nil {
				continue // stopped: record what is in flight, then end
			}
			if n > 0 {
				failures++
				if failures == 1 || failures%60 == 0 {
					d.log.Error("delivery: claim deliveries failed", "route", w.name, "err", err, "failures", failures)
				}
				w.sleep(min(d.poll<<min(failures, 5), maxStoreBackoff))
			}
			continue
		}
		if n == 0 {
			continue
		}
		failures = 0
		sendBy := sendDeadline(claimedAt, lease)
		w.hold(int64(len(claimed)))
		for _, dl := range claimed {
			w.send(dl, sendBy)
		}
		if len(claimed) == n {
			continue // maybe more due: claim again as slots free up
		}
		next, err := d.store.NextDue(w.ctx, w.name)
		if err != nil && w.ctx.Err() != nil {
			continue
		}
		wait := d.poll
		if err == nil && next.After(now) && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
		w.sleep(wait)
	}
}

// hold counts n deliveries (claimed, or reserved to be handed off) as
// claimed: waiting for a POST slot and active until their attempts are
// recorded; a negative n gives back ones that were never sent.
func (w *worker) hold(n int64) {
	w.waiting.Add(n)
	w.active.Add(n)
}

// sendDeadline is when the POST of a delivery leased at from for lease
// must be done: leaseMargin before the lease ends, however long it waited
// for its POST slot.
func sendDeadline(from time.Time, lease time.Duration) time.Time {
	return from.Add(lease - leaseMargin)
}

// send delivers dl, which holds a claim slot and is counted as waiting
// and active, in a goroutine of its own: it gives the claim slot back
// once the attempt is queued to be recorded (or given up).
func (w *worker) send(dl state.Delivery, sendBy time.Time) {
	d := w.d
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			w.active.Add(-1)
			w.poke()
		}()
		var once sync.Once
		release := func() {
			once.Do(func() {
				<-w.slots
				w.poke()
			})
		}
		defer release()
		d.deliver(w, sendBy, dl, release)
	}()
}

// Handing off.
//
// A delivery claimed from the store costs a write (the claim) before its
// POST, and the worker claims one batch at a time: when the store's one
// writer is busy with webhooks, every claim waits behind them, and
// delivery falls behind ingest. So the Settler asks the dispatcher for
// room before it stores a change (Reserve): each route whose worker has a
// free claim slot gets a lease, the change inserts that route's delivery
// already leased to this process, and once it is stored the dispatcher
// sends it at once (done). A route without room gets an unleased delivery
// that its worker claims as before. As with claims, a delivery is handed
// off beyond the route's free POST slots (to wait for one) only while its
// receiver answers: one that has not answered for aheadWindow gets
// nothing ahead, which another replica may send. A reserved slot counts
// as claimed (waiting and active) from Reserve on, so the claim loop
// leaves it alone and a stopping worker keeps recording until the
// handed-off POST is done.

// aheadWindow is how recently a route's receiver must have answered a POST
// (with any HTTP status) for Reserve to hand off deliveries beyond its free
// POST slots.
const aheadWindow = time.Second

// answeredSince reports whether w's receiver answered a POST after t.
func (w *worker) answeredSince(t time.Time) bool {
	return w.lastAnswer.Load() > t.UnixNano()
}

// reserve takes a claim slot for a delivery to be handed off, counted as
// claimed (waiting and active) until it is sent or unreserve gives it
// back; false when every claim slot is taken.
func (w *worker) reserve() bool {
	select {
	case w.slots <- struct{}{}:
	default:
		return false
	}
	w.hold(1)
	return true
}

// unreserve gives back a slot reserve took for a delivery not sent.
func (w *worker) unreserve() {
	w.hold(-1)
	<-w.slots
	w.poke()
}

// handNothing is Reserve's done when it made no room.
func handNothing([]state.Delivery) {}

// Reserve makes room for one delivery to each of routes whose worker is
// running and has a free claim slot, and either a free POST slot (counting
// the deliveries that wait for one) or a receiver that answered in the
// last aheadWindow, and returns their leases and done, to be called once
// with what the change inserted (nil: it failed). done sends the inserted
// deliveries leased to this dispatcher and gives back the rest of the
// room. See "Handing off".
func (d *Dispatcher) Reserve(routes []string) (map[string]state.Lease, func([]state.Delivery)) {
	type held struct {
		w      *worker
		sendBy time.Time
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || d.stopped {
		return nil, handNothing
	}
	var (
		leases map[string]state.Lease
		room   map[string]held
	)
	now, reserved := d.now(), time.Now()
	for _, r := range routes {
		w := d.workers[r]
		if w == nil || w.ctx == nil || w.ctx.Err() != nil || room[r].w != nil {
			continue
		}
		if len(w.post)+int(w.waiting.Load()) >= w.conc && !w.answeredSince(reserved.Add(-d.ahead)) {
			// No POST slot would be free and the receiver has not
			// answered lately: it gets nothing ahead, which another
			// replica may send.
			continue
		}
		if !w.reserve() {
			continue // full: the delivery waits for a claim
		}
		lease := w.conf.Load().claimLease()
		if leases == nil {
			leases, room = map[string]state.Lease{}, map[string]held{}
		}
		leases[r] = state.Lease{Owner: d.owner, Until: now.Add(lease)}
		room[r] = held{w: w, sendBy: sendDeadline(reserved, lease)}
	}
	if room == nil {
		return nil, handNothing
	}
	d.wg.Add(1) // Stop waits for done
	var once sync.Once
	return leases, func(inserted []state.Delivery) {
		once.Do(func() {
			defer d.wg.Done()
			for _, dl := range inserted {
				h, ok := room[dl.Route]
				if !ok || dl.Lease.Owner != d.owner {
					continue
				}
				delete(room, dl.Route)
				h.w.send(dl, h.sendBy)
			}
			for _, h := range room {
				h.w.unreserve()
			}
		})
	}
}

// record records recs (and claims as claim says) in one RecordAttempts
// call and hands each attempt its outcome.
func (d *Dispatcher) record(ctx context.Context, recs []recordReq, claim state.Claim) ([]state.Delivery, error) {
	rs := make([]state.AttemptResult, len(recs))
	for i, q := range recs {
		rs[i] = q.rec
	}
	errs, claimed, err := d.store.RecordAttempts(ctx, rs, claim)
	for i, q := range recs {
		if err != nil {
			q.done <- err
		} else {
			q.done <- errs[i]
		}
	}
	return claimed, err
}

// drain is run's loop once the worker stopped: it records recs, and says
// whether deliveries are still in flight (run goes on) or not (run ends).
func (w *worker) drain(recs []recordReq) bool {
	d := w.d
	if len(recs) > 0 {
		if d.workCtx.Err() != nil {
			for _, q := range recs {
				q.done <- d.workCtx.Err()
			}
		} else {
			_, _ = d.record(d.workCtx, recs, state.Claim{})
		}
		return true
	}
	if w.active.Load() == 0 {
		return false
	}
	t := time.NewTimer(d.poll)
	defer t.Stop()
	select {
	case <-w.wake:
	case <-t.C:
	}
	return true
}

// sendConf is the configuration to send a delivery with: cur, the route's
// latest, but with its timeout cut so that the POST still ends
// leaseMargin before the delivery's lease does (left is what remains of
// the lease), and never under a second.
func sendConf(cur *routeConf, left time.Duration) *routeConf {
	if cur.timeout+leaseMargin <= left {
		return cur
	}
	c := *cur
	c.timeout = max(left-leaseMargin, time.Second)
	return &c
}

func (w *worker) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

// recordPauses are the pauses between tries of recording an attempt after a
// store error other than a lost lease: a POST that was answered should not
// be sent again (after its lease ends) because of a blip of the store.
func recordPauses() []time.Duration {
	return []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}
}

// recordAttempt has the worker record an attempt, trying again a few
// times on transient store errors. A lost lease (state.ErrConflict) is
// final: someone else owns the delivery now. It calls queued once the
// attempt is queued: at most unrecordedPerSlot times the route's claim slots
// attempts wait to be recorded, beyond that it first waits for room.
func (d *Dispatcher) recordAttempt(ctx context.Context, w *worker, rec state.AttemptResult, queued func()) error {
	select {
	case w.unrecorded <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.unrecorded }()
	done := w.addRecord(rec)
	queued()
	err := <-done
	for _, pause := range recordPauses() {
		if err == nil || errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrNotFound) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = <-w.addRecord(rec)
	}
	return err
}

// deliver makes one attempt, once one of the route's POST slots (w.post) is
// free, and records it; the POST slot is given back as soon as the answer
// is in, so the next POST need not wait for this record's commit, and the
// claim slot (release) as soon as the attempt is queued to be recorded,
// so the next claim need not wait for it either.
func (d *Dispatcher) deliver(w *worker, sendBy time.Time, dl state.Delivery, release func()) {
	ctx := d.workCtx
	select {
	case w.post <- struct{}{}:
		w.waiting.Add(-1)
	case <-ctx.Done():
		w.waiting.Add(-1)
		d.log.Info("delivery: attempt interrupted by shutdown; it is sent again when the lease ends",
			"route", w.name, "event_id", dl.Event.ID, "delivery_id", dl.ID, "attempt", dl.Attempts+1)
		return
	}
	// The route's settings as of now, not as of the claim: a SetRoutes
	// that returned while the claim ran (and an event queued after it,
	// which the claim may have found) must see the new forward.
	rc := sendConf(w.conf.Load(), time.Until(sendBy)+leaseMargin)
	at := d.now()
	n := dl.Attempts + 1
	start := time.Now()
	res := send(ctx, d.client, rc, d.ua, message{id: dl.Event.ID, body: dl.Event.Payload}, at)
	elapsed := time.Since(start)
	<-w.post
	if res.statusCode != 0 {
		// The receiver answered (whatever the status): claims and
		// handoffs may go ahead of the free POST slots.
		w.lastAnswer.Store(time.Now().UnixNano())
		w.answered.Add(1)
	}
	w.poke()
	if ctx.Err() != nil && res.outcome != outcomeDelivered {
		d.log.Info("delivery: attempt interrupted by shutdown; it is sent again when the lease ends",
			"route", rc.name, "event_id", dl.Event.ID, "delivery_id", dl.ID, "attempt", n)
		return
	}
	d.m.duration.WithLabelValues(rc.name).Observe(elapsed.Seconds())
	now := d.now()
	status, next, errText := decide(rc, dl, res, n, now, d.rand())
	rec := state.AttemptResult{
		DeliveryID: dl.ID,
		Owner:      d.owner,
		Attempt: state.Attempt{
			DeliveryID: dl.ID, N: n, At: at, Duration: elapsed,
			StatusCode: res.statusCode, Error: errText,
		},
		Status: status,
		NextAt: next,
	}
	result := resultRetry
	switch status {
	case state.DeliveryDelivered:
		result = resultDelivered
	case state.DeliveryDead:
		result = resultDead
	}
	attrs := []any{"route", rc.name, "event_id", dl.Event.ID, "delivery_id", dl.ID, "attempt", n,
		"status_code", res.statusCode, "duration_ms", float64(elapsed.Microseconds()) / 1000, "result", result}
	if err := d.recordAttempt(ctx, w, rec, release); err != nil {
		d.log.Warn("delivery: recording the attempt failed (lease lost?); the delivery is attempted again when its lease ends",
			append(attrs, "err", err)...)
		return
	}
	d.m.deliveries.WithLabelValues(rc.name, result).Inc()
	switch status {
	case state.DeliveryDelivered:
		d.log.Debug("delivery attempt", attrs...)
	case state.DeliveryDead:
		d.log.Warn("delivery failed; no more attempts: the delivery is dead (finconnectd events replay EVENT_ID sends it again)",
			append(attrs, "error", errText)...)
	default:
		d.log.Warn("delivery failed; will retry", append(attrs, "error", errText, "next_attempt_at", next.UTC().Format(time.RFC3339))...)
	}
}

// decide turns an attempt's result into the delivery's new status, the
// next attempt's time when it stays pending, and the attempt's error
// text (with why there will be no further attempt, when that is so).
func decide(rc *routeConf, dl state.Delivery, res sendResult, n int, now time.Time, r float64) (status string, next time.Time, errText string) {
	errText = res.errText
	switch res.outcome {
	case outcomeDelivered:
		return state.DeliveryDelivered, time.Time{}, ""
	case outcomeGone:
		return state.DeliveryDead, time.Time{}, errText
	}
	if n >= rc.maxAttempts {
		return state.DeliveryDead, time.Time{}, fmt.Sprintf("%s; no more attempts: retry.max_attempts (%d) reached", errText, rc.maxAttempts)
	}
	delay := backoff(n, r)
	if res.hasRetryAfter {
		delay = res.retryAfter
	}
	next = now.Add(delay)
	if created := dl.Event.CreatedAt; !created.IsZero() && next.Sub(created) > rc.maxAge {
		return state.DeliveryDead, time.Time{}, fmt.Sprintf("%s; no more attempts: the next (%s) would be past retry.max_age (%s)",
			errText, next.UTC().Format(time.RFC3339), rc.maxAge)
	}
	return state.DeliveryPending, next, errText
}
