package statetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// RunSchedules is the conformance suite of state.ScheduleStore: runs read
// back as recorded, newest first, per schedule or all together; each
// schedule keeps only its newest runs; invalid runs are refused.
func RunSchedules(t *testing.T, open func(t *testing.T) state.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RecordAndList", testScheduleRuns},
		{"KeepsTheNewest", testScheduleRunsKept},
		{"Invalid", testScheduleRunsInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func scheduleRun(schedule string, i int, outcome, detail string) state.ScheduleRun {
	at := t0.Add(time.Duration(i) * time.Minute)
	return state.ScheduleRun{Schedule: schedule, Owner: "host/scope/42/abc", StartedAt: at, FinishedAt: at.Add(1500 * time.Millisecond),
		Outcome: outcome, Detail: detail}
}

func testScheduleRuns(t *testing.T, open Opener) {
	s := open(t)
	runs := []state.ScheduleRun{
		scheduleRun("sync_payments", 0, state.ScheduleOK, ""),
		scheduleRun("reconcile", 1, state.ScheduleFailed, "reconcile: ipn \"orders\": provider answered 503"),
		scheduleRun("sync_payments", 2, state.ScheduleSkipped, "the previous run is still going"),
		scheduleRun("sync_payments", 3, state.ScheduleOK, ""),
	}
	for _, r := range runs {
		check(t, s.RecordScheduleRun(ctx(t), r, 0), "record a schedule run")
	}
	all, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{})
	check(t, err, "list schedule runs")
	if len(all) != 4 {
		t.Fatalf("%d runs, want 4", len(all))
	}
	for i, got := range all {
		want := runs[len(runs)-1-i]
		checkID(t, "sch_", got.ID)
		if got.Schedule != want.Schedule || got.Owner != want.Owner || got.Outcome != want.Outcome || got.Detail != want.Detail {
			t.Errorf("run %d = %+v, want %+v", i, got, want)
		}
		sameTime(t, "started", got.StartedAt, want.StartedAt)
		sameTime(t, "finished", got.FinishedAt, want.FinishedAt)
	}
	sync, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{Schedule: "sync_payments", Limit: 2})
	check(t, err, "list one schedule's runs")
	if len(sync) != 2 || sync[0].Outcome != state.ScheduleOK || sync[1].Outcome != state.ScheduleSkipped {
		t.Errorf("sync_payments, limit 2 = %+v, want its two newest runs", sync)
	}
	none, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{Schedule: "refresh_keys"})
	check(t, err, "list a schedule without runs")
	if len(none) != 0 {
		t.Errorf("refresh_keys has %d runs, want none", len(none))
	}
}

func testScheduleRunsKept(t *testing.T, open Opener) {
	s := open(t)
	for i := range 7 {
		check(t, s.RecordScheduleRun(ctx(t), scheduleRun("sync_payments", i, state.ScheduleOK, ""), 3), "record a run")
	}
	check(t, s.RecordScheduleRun(ctx(t), scheduleRun("reconcile", 0, state.ScheduleOK, ""), 3), "record another schedule's run")
	got, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{Schedule: "sync_payments"})
	check(t, err, "list runs")
	if len(got) != 3 {
		t.Fatalf("%d runs kept, want 3", len(got))
	}
	for i, r := range got {
		sameTime(t, "kept run", r.StartedAt, t0.Add(time.Duration(6-i)*time.Minute))
	}
	if other, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{Schedule: "reconcile"}); err != nil || len(other) != 1 {
		t.Errorf("another schedule's runs: %d, %v", len(other), err)
	}
	// keep 0 is ScheduleRunsKept.
	for i := range state.ScheduleRunsKept + 2 {
		check(t, s.RecordScheduleRun(ctx(t), scheduleRun("refresh_keys", i, state.ScheduleOK, ""), 0), "record a run")
	}
	if many, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{Schedule: "refresh_keys", Limit: 1000}); err != nil || len(many) != state.ScheduleRunsKept {
		t.Errorf("refresh_keys kept %d runs (%v), want %d", len(many), err, state.ScheduleRunsKept)
	}
}

func testScheduleRunsInvalid(t *testing.T, open Opener) {
	s := open(t)
	for _, r := range []state.ScheduleRun{
		scheduleRun("", 0, state.ScheduleOK, ""),
		scheduleRun("sync_payments", 0, "done", ""),
	} {
		if err := s.RecordScheduleRun(ctx(t), r, 0); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("record %+v: %v, want ErrInvalid", r, err)
		}
	}
	long := scheduleRun("sync_payments", 0, state.ScheduleFailed, strings.Repeat("é", 2000))
	check(t, s.RecordScheduleRun(ctx(t), long, 0), "record a run with a long detail")
	got, err := s.ListScheduleRuns(ctx(t), state.ScheduleRunFilter{})
	check(t, err, "list runs")
	if len(got) != 1 || len(got[0].Detail) > 1000 || !strings.HasPrefix(got[0].Detail, "éé") || strings.ContainsRune(got[0].Detail, '\uFFFD') {
		t.Errorf("long detail kept as %d bytes", len(got[0].Detail))
	}
}
