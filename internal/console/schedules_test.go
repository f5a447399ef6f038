package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

func TestSchedulesOnStatePage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	at := h.clk.Now()
	for i, r := range []state.ScheduleRun{
		{Schedule: "sync_payments", Outcome: state.ScheduleOK},
		{Schedule: "sync_payments", Outcome: state.ScheduleFailed, Detail: "sync: pesapal.ke: HTTP 503"},
		{Schedule: "reconcile", Outcome: state.ScheduleSkipped, Detail: "the previous run was still going"},
	} {
		r.Owner = "host1/daemon/4242/x1"
		r.StartedAt = at.Add(time.Duration(i) * time.Minute)
		r.FinishedAt = r.StartedAt.Add(1250 * time.Millisecond)
		if err := h.st.RecordScheduleRun(context.Background(), r, 0); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser()
	b.signIn(readToken)
	code, page := b.get("/console/state")
	if code != 200 {
		t.Fatal(code)
	}
	row := func(name string) string {
		i := strings.Index(page, `<td data-label="Schedule">`+name+`</td><td data-label="Cron">`)
		if i < 0 {
			t.Fatalf("no row for schedule %s:\n%s", name, page)
		}
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}
	tests := []struct {
		name string
		want []string
	}{
		{"sync_payments", []string{"2026-03-01 10:01:00Z (1.25s)", "failed", "HTTP 503", "Last success\">2026-03-01 10:00:01Z"}},
		{"reconcile", []string{"skipped", "none among the kept runs"}},
		{"refresh_keys", []string{"not run yet"}},
		{"reconcile_payments", []string{"not run yet"}},
	}
	for _, tt := range tests {
		r := row(tt.name)
		for _, w := range tt.want {
			if !strings.Contains(r, w) {
				t.Errorf("%s: no %q in %s", tt.name, w, r)
			}
		}
	}
	for _, w := range []string{"Latest schedule runs", "host1/daemon/4242/x1"} {
		if !strings.Contains(page, w) {
			t.Errorf("state page: no %q", w)
		}
	}
}
