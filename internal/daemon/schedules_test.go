package daemon

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/finconnectd/finconnectd/internal/state"
)

func TestReconcileScheduleSkipsWhenLocked(t *testing.T) {
	r := startDaemon(t, runOptions{})
	ctx := context.Background()
	if err := r.store.Lock(ctx, state.LockInfo{ID: "cli", Operation: "apply", PID: 4242, Host: "ops", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.d.reconcileJob(ctx); err != nil {
		t.Fatalf("a held lock is a skip, not an error: %v", err)
	}
	if !strings.Contains(r.logs.String(), "reconcile: skipped, the state lock is held") {
		t.Fatalf("no skip line in the logs")
	}
	if got := testutil.ToFloat64(r.d.m.reconcileRuns.WithLabelValues("reconcile", "locked")); got != 1 {
		t.Fatalf("reconcile_runs{locked} = %v", got)
	}
	if err := r.store.Unlock(ctx, "cli"); err != nil {
		t.Fatal(err)
	}
	// Unlocked, the provider (nothing listens at its base_url) cannot be
	// refreshed: an error naming the block, counted, and the lock released.
	err := r.d.reconcileJob(ctx)
	if err == nil || !strings.Contains(err.Error(), `provider "clickpesa" "tz"`) {
		t.Fatalf("err = %v, want one naming the provider block", err)
	}
	if got := testutil.ToFloat64(r.d.m.reconcileRuns.WithLabelValues("reconcile", "error")); got != 1 {
		t.Fatalf("reconcile_runs{error} = %v", got)
	}
	if holder, held, _ := r.store.LockHolder(ctx); held {
		t.Fatalf("lock left held by %+v", holder)
	}
}

func TestScheduleRunsNeverOverlap(t *testing.T) {
	r := startDaemon(t, runOptions{})
	s := r.d.sched
	var runs atomic.Int32
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	j := &scheduledJob{run: func(context.Context) error {
		runs.Add(1)
		entered <- struct{}{}
		<-release
		return nil
	}}
	done := make(chan struct{})
	go func() { s.job("sync_payments", j); close(done) }()
	<-entered
	s.job("sync_payments", j) // the first run is going: skipped, returns at once
	close(release)
	<-done
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs, want 1: the second started while the first was going", n)
	}
	if !strings.Contains(r.logs.String(), "schedule skipped") {
		t.Fatalf("no skip line")
	}
}

// TestReconcileRunsHaveTheirOwnTimeout: reconcile_payments runs under
// Options.ReconcileTimeout, every other schedule under JobTimeout.
func TestReconcileRunsHaveTheirOwnTimeout(t *testing.T) {
	r := startDaemon(t, runOptions{})
	s := r.d.sched
	for _, tc := range []struct {
		schedule string
		want     time.Duration
	}{
		{"reconcile_payments", r.d.o.ReconcileTimeout},
		{"sync_payments", r.d.o.JobTimeout},
	} {
		if s.jobs[tc.schedule] == nil {
			t.Fatalf("no job %s", tc.schedule)
		}
		var left time.Duration
		before := time.Now()
		s.job(tc.schedule, &scheduledJob{timeout: s.jobs[tc.schedule].timeout, run: func(ctx context.Context) error {
			dl, ok := ctx.Deadline()
			if !ok {
				t.Errorf("%s: no deadline", tc.schedule)
			}
			left = dl.Sub(before)
			return nil
		}})
		// The deadline is the timeout after the run started: between
		// the timeout and the timeout plus however long the call took.
		if left < tc.want || left > tc.want+time.Hour {
			t.Errorf("%s: deadline %s after the start, want %s", tc.schedule, left, tc.want)
		}
	}
	if r.d.o.ReconcileTimeout != DefaultReconcileTimeout || DefaultReconcileTimeout <= r.d.o.JobTimeout {
		t.Errorf("reconcile timeout %s (default %s), job timeout %s: want the default, longer", r.d.o.ReconcileTimeout, DefaultReconcileTimeout, r.d.o.JobTimeout)
	}
}

func TestNotifierEnv(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		socket   string
		watchdog time.Duration
	}{
		{"none", nil, "", 0},
		{"socket only", map[string]string{"NOTIFY_SOCKET": "/run/x"}, "/run/x", 0},
		{"watchdog", map[string]string{"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000"}, "@x", 30 * time.Second},
		{"watchdog for another pid", map[string]string{"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}, "@x", 0},
		{"bad usec", map[string]string{"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "soon"}, "@x", 0},
		{"watchdog without socket", map[string]string{"WATCHDOG_USEC": "1000"}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNotifier(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if n.socket != tc.socket || n.watchdog != tc.watchdog {
				t.Fatalf("got %q %v, want %q %v", n.socket, n.watchdog, tc.socket, tc.watchdog)
			}
			if tc.socket == "" {
				if err := n.notify("READY=1"); err != nil {
					t.Fatalf("notify without a socket: %v", err)
				}
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name     string
		terminal bool
		env      map[string]string
		json     bool
	}{
		{"pipe", false, nil, true},
		{"terminal", true, nil, false},
		{"terminal under systemd", true, map[string]string{"INVOCATION_ID": "abc"}, true},
		{"journal", true, map[string]string{"JOURNAL_STREAM": "8:123"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b syncBuffer
			l := NewLogger(&b, tc.terminal, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, nil)
			l.Info("hello")
			if got := strings.HasPrefix(b.String(), "{"); got != tc.json {
				t.Fatalf("json = %v, want %v: %s", got, tc.json, b.String())
			}
		})
	}
}

// TestScheduleRunsRecorded: every run of a schedule is recorded in the
// store with its outcome (ok, failed with the error, skipped) and the
// process that ran it.
func TestScheduleRunsRecorded(t *testing.T) {
	r := startDaemon(t, runOptions{})
	s := r.d.sched
	ok := &scheduledJob{run: func(context.Context) error { return nil }}
	s.job("refresh_keys", ok)
	s.job("refresh_keys", &scheduledJob{run: func(context.Context) error {
		return errors.New("refresh token of provider \"clickpesa\" \"tz\": HTTP 503")
	}})
	ok.mu.Lock()
	s.job("refresh_keys", ok) // its previous run is going: skipped
	ok.mu.Unlock()
	runs, err := r.store.ListScheduleRuns(context.Background(), state.ScheduleRunFilter{Schedule: "refresh_keys"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ outcome, detail string }{
		{state.ScheduleSkipped, "the previous run was still going"},
		{state.ScheduleFailed, `refresh token of provider "clickpesa" "tz": HTTP 503`},
		{state.ScheduleOK, ""},
	}
	if len(runs) != len(want) {
		t.Fatalf("%d runs recorded, want %d: %+v", len(runs), len(want), runs)
	}
	for i, w := range want {
		got := runs[i]
		if got.Outcome != w.outcome || got.Detail != w.detail || got.Owner != r.d.owner || got.FinishedAt.Before(got.StartedAt) {
			t.Errorf("run %d = %+v, want %s %q by %s", i, got, w.outcome, w.detail, r.d.owner)
		}
	}
}
