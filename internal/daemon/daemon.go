package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/cancel"
	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/ingest"
	"github.com/finconnectd/finconnectd/internal/payments"
	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/recon"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Options wire a Daemon.
type Options struct {
	// Config is the loaded, validated configuration to serve.
	Config *config.Config
	// Reload loads and validates the configuration again (SIGHUP). Its
	// error carries the diagnostics as text. Nil: reloads are refused
	// (dev mode has no file to reload).
	Reload func() (*config.Config, error)
	Logger *slog.Logger
	// Stdout receives the dev mode banner.
	Stdout io.Writer
	Now    func() time.Time
	// LookupEnv reads NOTIFY_SOCKET and WATCHDOG_USEC (default os.LookupEnv).
	LookupEnv func(string) (string, bool)

	// OpenStore opens the state store cfg names. Required.
	OpenStore func(ctx context.Context, cfg *config.Config, log *slog.Logger) (state.Store, error)
	// HTTPClient sends provider requests (default: the clients' own).
	HTTPClient *http.Client
	// ApplyAtStart runs the reconcile schedule once before READY (dev
	// mode registers its IPN this way).
	ApplyAtStart bool
	// Banner is printed to Stdout once both listeners are bound.
	Banner string

	// ShutdownTimeout bounds the drain at stop (default 10 s).
	ShutdownTimeout time.Duration
	// JobTimeout bounds one schedule run (default 5 min), but
	// reconcile_payments's.
	JobTimeout time.Duration
	// ReconcileTimeout bounds one reconcile_payments run (default
	// DefaultReconcileTimeout): a day's window of a busy provider takes
	// longer than other jobs, and a run cut short resumes at the next.
	ReconcileTimeout time.Duration
}

// DefaultReconcileTimeout is Options.ReconcileTimeout's default.
const DefaultReconcileTimeout = 2 * time.Hour

// Daemon is a running finconnectd serve.
type Daemon struct {
	o   Options
	log *slog.Logger
	now func() time.Time
	sd  notifier

	// rt is the configuration being served with its clients and tokens:
	// one value, swapped whole by Reload, read once per request.
	rt     atomic.Pointer[runtime]
	reg    *prometheus.Registry
	m      *metrics
	owner  string
	reload sync.Mutex // one reload at a time
	// apiPatterns are the /v1 routes of the API listener, as registered
	// (the tests check each against the OpenAPI document).
	apiPatterns []string

	store    state.Store // wrapped: its writes' failures go to wh
	wh       *writeHealth
	settler  *settle.Settler
	disp     *delivery.Dispatcher
	pay      *payments.Service
	payouts  *payouts.Service
	cancels  *cancel.Service
	ingester *ingest.Ingester
	sched    *scheduler

	publicLn, apiLn net.Listener
	publicSrv       *http.Server
	apiSrv          *http.Server
	publicConns     *conns
	apiConns        *conns
	serveErr        chan error
	unixPath        string
	addrMu          sync.Mutex
	publicAddr      string
	apiAddr         string

	bg       context.Context // lives until Stop: schedules, watchdog
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	started bool
	// failedStart: Start failed and logged why; Stop's own progress
	// lines are then only debug.
	failedStart bool
	stopOnce    sync.Once
	stopErr     error
}

// New checks o and returns a Daemon; it opens and starts nothing.
func New(o Options) (*Daemon, error) {
	if o.Config == nil {
		return nil, errors.New("daemon: no configuration")
	}
	if o.OpenStore == nil {
		return nil, errors.New("daemon: no store opener")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.ReconcileTimeout <= 0 {
		o.ReconcileTimeout = DefaultReconcileTimeout
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 5 * time.Minute
	}
	d := &Daemon{o: o, log: o.Logger, now: o.Now, sd: newNotifier(o.LookupEnv), reg: prometheus.NewRegistry()}
	m, err := newMetrics(d.reg)
	if err != nil {
		return nil, fmt.Errorf("daemon: register metrics: %w", err)
	}
	d.m = m
	if d.wh, err = newWriteHealth(d.reg, d.log, d.now); err != nil {
		return nil, fmt.Errorf("daemon: register metrics: %w", err)
	}
	// The dispatcher releases at start the leases of a crashed process it
	// can see (same host, boot and PID namespace); it recognises them by
	// this name (delivery.OwnerDead).
	d.owner = delivery.LocalOwner()
	return d, nil
}

// Registry is the daemon's metrics registry (served at /metrics).
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Config is the configuration being served (the latest good one; before
// Start, the one given to New).
func (d *Daemon) Config() *config.Config {
	if rt := d.rt.Load(); rt != nil {
		return rt.cfg
	}
	return d.o.Config
}

// PublicAddr is the webhook listener's address ("" until it is bound).
func (d *Daemon) PublicAddr() string {
	d.addrMu.Lock()
	defer d.addrMu.Unlock()
	return d.publicAddr
}

// APIAddr is the API listener's address ("" until it is bound); a path
// for a unix socket.
func (d *Daemon) APIAddr() string {
	d.addrMu.Lock()
	defer d.addrMu.Unlock()
	return d.apiAddr
}

// Run starts the daemon, reloads on every value from reload, and stops
// when ctx ends. A clean stop returns nil.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	if err := d.Start(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.ShutdownTimeout+5*time.Second)
			defer cancel()
			return d.Stop(sctx)
		case err := <-d.serveErr:
			d.log.Error("listener failed; stopping", "err", err)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.ShutdownTimeout+5*time.Second)
			defer cancel()
			return errors.Join(err, d.Stop(sctx))
		case <-reload:
			_ = d.Reload(ctx)
		}
	}
}

// Start opens the store, wires every component, binds both listeners,
// starts delivery and the schedules, and tells systemd it is ready. On
// error everything started is stopped again.
func (d *Daemon) Start(ctx context.Context) (err error) {
	if d.started {
		return errors.New("daemon: already started")
	}
	d.started = true
	cfg := d.o.Config
	d.bg, d.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			// The cause first; the clean-up after it is not news.
			d.log.Error("serve could not start", "err", err)
			d.failedStart = true
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.ShutdownTimeout)
			_ = d.Stop(sctx)
			cancel()
		}
	}()

	st, err := d.o.OpenStore(ctx, cfg, d.log)
	if err != nil {
		return err // the opener names the store and what failed
	}
	if co, ok := st.(state.CommitObserver); ok {
		co.ObserveCommits(d.m.observeCommit)
	}
	d.store = d.wh.watch(st)
	set, err := clients.New(cfg, d.clientOptions())
	if err != nil {
		return fmt.Errorf("build provider clients: %w", err)
	}
	d.rt.Store(newRuntime(cfg, set))

	if d.disp, err = delivery.New(delivery.Config{
		Store: d.store, Routes: cfg.Routes, Logger: d.log, Registerer: d.reg, Now: d.now, Owner: d.owner,
	}); err != nil {
		return fmt.Errorf("build event delivery: %w", err)
	}
	d.settler = settle.New(settle.Options{Store: d.store, Routes: func() []*config.Route { return d.rt.Load().cfg.Routes },
		Now: d.now, Notify: d.disp.Notify, Handoff: d.disp})
	if err := d.reg.Register(recon.NewOpenDifferences(d.store)); err != nil {
		return fmt.Errorf("register reconciliation metrics: %w", err)
	}
	if d.payouts, err = payouts.New(payouts.Options{
		Store: d.store, Runtime: func() *payouts.Runtime { return d.rt.Load().payouts }, Settler: d.settler,
		Notify: d.disp.Notify, Logger: d.log, Now: d.now,
	}); err != nil {
		return fmt.Errorf("build payouts API: %w", err)
	}
	// Payment statements pass through the refunds in flight: PesaPal
	// shows an approved refund as the payment reversed.
	paymentSettler := d.payouts.RefundAware(d.settler)
	if d.pay, err = payments.New(payments.Options{
		Store: d.store, Runtime: func() *payments.Runtime { return d.rt.Load().pay }, Settler: paymentSettler,
		Logger: d.log, Registerer: d.reg, Now: d.now,
	}); err != nil {
		return fmt.Errorf("build pay API: %w", err)
	}
	if d.cancels, err = cancel.New(cancel.Options{
		Store: d.store, Settler: d.settler, Logger: d.log, Now: d.now,
		Cancellers: func(id string) (*pesapal.Client, bool) { return d.rt.Load().canceller(id) },
	}); err != nil {
		return fmt.Errorf("build cancellation API: %w", err)
	}
	if d.ingester, err = ingest.New(ingest.Options{
		Runtime: func() *ingest.Runtime { return d.rt.Load().ingest }, Settler: paymentSettler,
		Store: d.store, Payouts: d.payouts,
		Logger: d.log, Registerer: d.reg, Now: d.now,
	}); err != nil {
		return fmt.Errorf("build webhook ingest: %w", err)
	}

	if err := d.listen(cfg); err != nil {
		return err
	}
	if d.o.ApplyAtStart {
		d.sched0(ctx)
	}
	if err := d.disp.Start(d.bg); err != nil {
		return fmt.Errorf("start event delivery: %w", err)
	}
	d.sched = newScheduler(schedulerOptions{
		Log: d.log, Background: d.bg, Timeout: d.o.JobTimeout, Now: d.now, LastRun: d.m.scheduleLast,
		Runs: d.store, Owner: d.owner,
		Jobs: map[string]func(context.Context) error{
			"reconcile":          d.reconcileJob,
			"refresh_keys":       d.refreshKeysJob,
			"sync_payments":      d.syncJob,
			"reconcile_payments": d.reconcilePaymentsJob,
		},
		Timeouts: map[string]time.Duration{"reconcile_payments": d.o.ReconcileTimeout},
	})
	if err := d.sched.start(cfg.Schedules); err != nil {
		return fmt.Errorf("start schedules: %w", err)
	}
	d.serve()
	d.bgWG.Add(1)
	go func() {
		defer d.bgWG.Done()
		d.sd.runWatchdog(d.bg, d.healthy, func(err error) { d.log.Warn("systemd watchdog ping failed", "err", err) })
	}()
	d.m.up.Set(1)
	if err := d.sd.notify("READY=1\nSTATUS=serving"); err != nil {
		d.log.Warn("systemd notify failed", "err", err)
	}
	d.log.Info("serving", "webhooks", d.PublicAddr(), "api", d.APIAddr(), "routes", len(cfg.Routes),
		"providers", len(cfg.Providers), "state", cfg.State.Backend)
	if d.o.Banner != "" {
		_, _ = io.WriteString(d.o.Stdout, d.o.Banner)
	}
	return nil
}

// sched0 runs reconcile once, synchronously and bounded (ApplyAtStart).
func (d *Daemon) sched0(ctx context.Context) {
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	d.runReconcile(jctx, d.rt.Load(), "reconcile", nil)
}

func (d *Daemon) clientOptions() clients.Options {
	return clients.Options{HTTPClient: d.o.HTTPClient, Observer: d.m.observe}
}

// healthy is the readiness check: the store answers.
func (d *Daemon) healthy(ctx context.Context) bool {
	return d.store != nil && d.store.Ping(ctx) == nil
}

// Stop stops intake first (both listeners drain their in-flight requests
// within ShutdownTimeout), then the schedules, then delivery, then closes
// the store. Idempotent.
func (d *Daemon) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() { d.stopErr = d.stop(ctx) })
	return d.stopErr
}

func (d *Daemon) stop(ctx context.Context) error {
	var errs []error
	if err := d.sd.notify("STOPPING=1"); err != nil {
		d.log.Warn("systemd notify failed", "err", err)
	}
	d.m.up.Set(0)
	progress := slog.LevelInfo
	if d.failedStart {
		progress = slog.LevelDebug
	}
	d.log.Log(ctx, progress, "stopping: draining requests, schedules and deliveries")
	sctx, cancel := context.WithTimeout(ctx, d.o.ShutdownTimeout)
	defer cancel()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, s := range []*http.Server{d.publicSrv, d.apiSrv} {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(sctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("shut down %s listener: %w", s.Addr, err))
				mu.Unlock()
				_ = s.Close()
			}
		}()
	}
	// While Shutdown drains, close the connections that never sent a
	// request: Shutdown would wait five seconds for each (see conns).
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	tick := time.NewTicker(50 * time.Millisecond)
	for waiting := true; waiting; {
		for _, c := range []*conns{d.publicConns, d.apiConns} {
			if c != nil {
				c.closeUnused()
			}
		}
		select {
		case <-drained:
			waiting = false
		case <-tick.C:
		}
	}
	tick.Stop()
	for _, ln := range []net.Listener{d.publicLn, d.apiLn} {
		if ln != nil {
			_ = ln.Close() // bound but never served (failed start)
		}
	}
	if d.unixPath != "" {
		_ = os.Remove(d.unixPath)
	}
	if d.sched != nil {
		if err := d.sched.stop(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.disp != nil {
		if err := d.disp.Stop(sctx); err != nil {
			errs = append(errs, fmt.Errorf("stop event delivery: %w", err))
		}
	}
	if d.bgCancel != nil {
		d.bgCancel()
	}
	d.bgWG.Wait()
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close state store: %w", err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		d.log.Error("stopped with errors", "err", err)
	} else {
		d.log.Log(ctx, progress, "stopped")
	}
	return err
}

// Reload loads the configuration again and, when it is valid, swaps
// routes, providers and API tokens as one runtime value, then moves the
// delivery workers and the schedules to it, without dropping in-flight
// work: a request in flight finishes with the runtime it started with.
// On error the running configuration stays.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reload.Lock()
	defer d.reload.Unlock()
	if d.ingester == nil || d.sched == nil {
		return errors.New("reload: the daemon is not running")
	}
	if d.o.Reload == nil {
		d.log.Warn("reload ignored: this configuration cannot be reloaded (dev mode)")
		d.m.reloads.WithLabelValues("ignored").Inc()
		return errors.New("reload: no configuration file to reload")
	}
	cfg, err := d.o.Reload()
	if err != nil {
		d.m.reloads.WithLabelValues("error").Inc()
		d.log.Error("config reload failed; still serving the previous configuration", "err", err)
		return fmt.Errorf("reload: %w", err)
	}
	set, err := clients.New(cfg, d.clientOptions())
	if err != nil {
		d.m.reloads.WithLabelValues("error").Inc()
		d.log.Error("config reload failed; still serving the previous configuration", "err", err)
		return fmt.Errorf("reload: build provider clients: %w", err)
	}
	old := d.rt.Load().cfg
	var restart []string
	if cfg.Server.Listen != old.Server.Listen {
		restart = append(restart, "server.listen")
	}
	if cfg.API.Listen != old.API.Listen {
		restart = append(restart, "api.listen")
	}
	if cfg.State.Backend != old.State.Backend || cfg.State.Path != old.State.Path || cfg.State.DSN.Reveal() != old.State.DSN.Reveal() {
		restart = append(restart, "state")
	}
	d.rt.Store(newRuntime(cfg, set))
	d.ingester.ForgetAzamPayKeys() // state may hold newer keys
	// What has goroutines or timers of its own is told to follow.
	d.disp.SetRoutes(cfg.Routes)
	if err := d.sched.restart(cfg.Schedules); err != nil {
		d.log.Error("reload: schedules not changed", "err", err)
	}
	d.m.reloads.WithLabelValues("ok").Inc()
	attrs := []any{"routes", len(cfg.Routes), "providers", len(cfg.Providers)}
	if len(restart) > 0 {
		attrs = append(attrs, "needs_restart", strings.Join(restart, ", "))
		d.log.Warn("configuration reloaded; changes to these take effect at the next restart", attrs...)
	} else {
		d.log.Info("configuration reloaded", attrs...)
	}
	return nil
}
