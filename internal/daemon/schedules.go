package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/recon"
	"github.com/finconnectd/finconnectd/internal/reconcile"
	"github.com/finconnectd/finconnectd/internal/state"
)

// scheduler runs the schedules of the configuration. A run never overlaps
// itself, also across a reload that replaces the cron: each job holds its
// own mutex for as long as the scheduler lives.
type scheduler struct {
	log     *slog.Logger
	bg      context.Context // runs end when it does
	timeout time.Duration   // bounds one run, unless its job says otherwise
	now     func() time.Time
	lastRun *prometheus.GaugeVec // finconnectd_schedule_last_success_timestamp_seconds{schedule}
	runs    state.ScheduleStore
	owner   string
	jobs    map[string]*scheduledJob

	mu   sync.Mutex
	cron *cron.Cron
}

// scheduledJob is one schedule's work and the mutex that keeps its runs
// from overlapping.
type scheduledJob struct {
	mu      sync.Mutex
	run     func(ctx context.Context) error
	timeout time.Duration // bounds one run; 0: the scheduler's timeout
}

// schedulerOptions are a scheduler's dependencies.
type schedulerOptions struct {
	Log        *slog.Logger
	Background context.Context
	Timeout    time.Duration
	Now        func() time.Time
	LastRun    *prometheus.GaugeVec
	// Runs records each run (the console shows them); Owner names this
	// process in the records.
	Runs  state.ScheduleStore
	Owner string
	// Jobs is the work of each schedule, by its name in the configuration.
	Jobs map[string]func(ctx context.Context) error
	// Timeouts bound the runs of the schedules named (Timeout the others).
	Timeouts map[string]time.Duration
}

func newScheduler(o schedulerOptions) *scheduler {
	s := &scheduler{log: o.Log, bg: o.Background, timeout: o.Timeout, now: o.Now, lastRun: o.LastRun,
		runs: o.Runs, owner: o.Owner, jobs: map[string]*scheduledJob{}}
	for name, run := range o.Jobs {
		s.jobs[name] = &scheduledJob{run: run, timeout: o.Timeouts[name]}
	}
	return s
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

func (s *scheduler) build(sc config.Schedules) (*cron.Cron, error) {
	cl := cronLogger{s.log}
	c := cron.New(cron.WithChain(cron.Recover(cl)), cron.WithLogger(cl))
	specs := []struct{ name, spec string }{
		{"reconcile", sc.Reconcile},
		{"refresh_keys", sc.RefreshKeys},
		{"sync_payments", sc.SyncPayments},
		{"reconcile_payments", sc.ReconcilePayments},
	}
	for _, sp := range specs {
		if sp.spec == "" {
			continue
		}
		j := s.jobs[sp.name]
		if j == nil {
			return nil, fmt.Errorf("schedule %q: no job", sp.name)
		}
		name := sp.name
		if _, err := c.AddFunc(sp.spec, func() { s.job(name, j) }); err != nil {
			return nil, fmt.Errorf("schedule %q (%s): %w", sp.name, sp.spec, err)
		}
	}
	return c, nil
}

func (s *scheduler) start(sc config.Schedules) error {
	c, err := s.build(sc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cron = c
	s.mu.Unlock()
	c.Start()
	return nil
}

// restart replaces the schedules (reload). Runs in progress finish; the
// per-job mutex keeps the new cron from overlapping them.
func (s *scheduler) restart(sc config.Schedules) error {
	c, err := s.build(sc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.cron
	s.cron = c
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	c.Start()
	return nil
}

// stop stops scheduling and waits (bounded by ctx) for runs in progress;
// they see the daemon's background context end when Stop cancels it.
func (s *scheduler) stop(ctx context.Context) error {
	s.mu.Lock()
	c := s.cron
	s.cron = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.Stop().Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop schedules: runs still in progress: %w", ctx.Err())
	}
}

// job runs one schedule's work unless its previous run is still going
// (the only overlap guard: cron's own SkipIfStillRunning would not see a
// run started by the cron a reload replaced), and records what the run
// came to.
func (s *scheduler) job(name string, j *scheduledJob) {
	start := s.now()
	if !j.mu.TryLock() {
		s.log.Info("schedule skipped: the previous run is still going", "schedule", name)
		s.record(state.ScheduleRun{Schedule: name, StartedAt: start, Outcome: state.ScheduleSkipped, Detail: "the previous run was still going"})
		return
	}
	defer j.mu.Unlock()
	timeout := j.timeout
	if timeout <= 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(s.bg, timeout)
	defer cancel()
	if err := j.run(ctx); err != nil {
		s.log.Error("schedule failed", "schedule", name, "err", err)
		s.record(state.ScheduleRun{Schedule: name, StartedAt: start, Outcome: state.ScheduleFailed, Detail: err.Error()})
		return
	}
	s.lastRun.WithLabelValues(name).Set(float64(s.now().Unix()))
	s.record(state.ScheduleRun{Schedule: name, StartedAt: start, Outcome: state.ScheduleOK})
}

// record stores a schedule run; a store that cannot take it costs a
// warning, not the schedule.
func (s *scheduler) record(r state.ScheduleRun) {
	if s.runs == nil {
		return
	}
	r.Owner, r.FinishedAt = s.owner, s.now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.bg), 10*time.Second)
	defer cancel()
	if err := s.runs.RecordScheduleRun(ctx, r, 0); err != nil {
		s.log.Warn("schedule run not recorded", "schedule", r.Schedule, "err", err)
	}
}

// reconcileJob is plan + apply under the state lock (the CLI's code and lock).
func (d *Daemon) reconcileJob(ctx context.Context) error {
	return d.runReconcile(ctx, d.rt.Load(), "reconcile", nil)
}

// refreshKeysJob refreshes AzamPay public keys in state and warms every
// provider's token ahead of expiry.
func (d *Daemon) refreshKeysJob(ctx context.Context) error {
	rt := d.rt.Load()
	cfg := rt.cfg
	var errs []error
	hasAzamPay := false
	for _, p := range cfg.Providers {
		if p.Kind == "azampay" {
			hasAzamPay = true
		}
	}
	if hasAzamPay {
		if err := d.runReconcile(ctx, rt, "refresh_keys", []string{reconcile.TypeKey}); err != nil {
			errs = append(errs, err)
		}
		d.ingester.ForgetAzamPayKeys()
	}
	if err := warmTokens(ctx, rt.clients, cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// warmTokens asks every client for its token: a cached one that is not
// about to expire costs nothing, one near expiry is refreshed now rather
// than on a payment's critical path.
func warmTokens(ctx context.Context, set *clients.Set, cfg *config.Config) error {
	if set == nil {
		return nil
	}
	var errs []error
	for _, p := range cfg.Providers {
		id := p.ID()
		var err error
		switch p.Kind {
		case "pesapal":
			if c := set.PesaPal(id); c != nil {
				_, err = c.Token(ctx)
			}
		case "clickpesa":
			if c := set.ClickPesa(id); c != nil {
				_, err = c.Token(ctx)
			}
		case "azampay":
			if c := set.AzamPay(id); c != nil {
				_, err = c.Token(ctx)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("refresh token of %s: %w", p.Block(), err))
		}
	}
	return errors.Join(errs...)
}

// runReconcile runs reconcile.Run and logs its one-line summary. Someone
// else holding the lock is a skip, not a failure.
func (d *Daemon) runReconcile(ctx context.Context, rt *runtime, schedule string, types []string) error {
	start := d.now()
	sum, err := reconcile.Run(ctx, rt.cfg, d.store, reconcile.NewRemote(rt.clients), reconcile.RunOptions{
		Now:   d.now,
		Types: types,
		Lock:  reconcile.LockOptions{Operation: schedule},
	})
	var locked *state.LockedError
	switch {
	case errors.As(err, &locked):
		d.m.reconcileRuns.WithLabelValues(schedule, "locked").Inc()
		d.log.Info(schedule+": skipped, the state lock is held", "holder", locked.Holder.Operation,
			"holder_pid", locked.Holder.PID, "holder_host", locked.Holder.Host, "since", locked.Holder.Since)
		return nil
	case err != nil:
		d.m.reconcileRuns.WithLabelValues(schedule, "error").Inc()
		d.m.reconcileDrift.WithLabelValues(schedule).Set(float64(sum.Planned))
		return err // reconcile's errors say "reconcile: ..." and name the block
	}
	d.m.reconcileRuns.WithLabelValues(schedule, "ok").Inc()
	d.m.reconcileDrift.WithLabelValues(schedule).Set(float64(sum.Planned))
	d.log.Info(sum.String(), "schedule", schedule, "drift", sum.Planned, "took", d.now().Sub(start).Round(time.Millisecond))
	return nil
}

// syncJob asks providers about payments and payouts still pending or unknown.
func (d *Daemon) syncJob(ctx context.Context) error {
	return errors.Join(d.pay.Sync(ctx), d.payouts.Sync(ctx))
}

// reconcilePaymentsJob reconciles every provider's payments (and
// ClickPesa's payouts) of the day before (local midnight to midnight) with
// the provider's records. A provider another replica is reconciling is
// skipped; a run cut by the job's deadline (Options.ReconcileTimeout) is
// resumed by the next one.
func (d *Daemon) reconcilePaymentsJob(ctx context.Context) error {
	rt := d.rt.Load()
	cfg, set := rt.cfg, rt.clients
	now := d.now()
	to := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	from := to.AddDate(0, 0, -1)
	eng := recon.New(recon.Options{
		Store: d.store, Settler: d.payouts.RefundAware(d.settler), Payer: set.Payer, ClickPesa: set.ClickPesa,
		Routes: func() []*config.Route { return cfg.Routes }, Now: d.now, Logger: d.log, Owner: d.owner, Notify: d.disp.Notify,
		Payouts: d.payouts,
	})
	var errs []error
	for _, id := range set.IDs() {
		sum, err := eng.Run(ctx, id, from, to)
		var busy *state.ReconBusyError
		switch {
		case errors.As(err, &busy):
			d.log.Info("reconcile_payments: skipped, another process is reconciling this provider", "provider", id, "holder", busy.Run.Owner)
		case err != nil:
			errs = append(errs, err)
		case sum.OpenTotal() > 0:
			d.log.Warn("reconcile_payments: differences remain open", "provider", id, "open", sum.OpenTotal(), "healed", sum.Healed)
		}
	}
	return errors.Join(errs...)
}
