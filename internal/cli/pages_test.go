package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// TestPaymentsListPages: payments list -limit N gives a page and the next
// page's cursor (in -json, and as a hint under the table); -cursor goes
// on from there; -all reads every page.
func TestPaymentsListPages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("api {\n  tokens = [env(\"T\", \"x\")]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := teststore.Open(t, filepath.Join(dir, "finconnect.db"))
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		st.Put(state.Payment{ID: fmt.Sprintf("pay_%d", i), Provider: "clickpesa.tz", Reference: fmt.Sprintf("R%d", i), Status: "pending",
			Amount: "1", Currency: "TZS", CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at})
	}
	type page struct {
		Payments []struct {
			ID string `json:"id"`
		} `json:"payments"`
		NextCursor string `json:"next_cursor"`
	}
	list := func(args ...string) (page, cfgResult) {
		t.Helper()
		r := cfgRun(t, nil, dir, "", append([]string{"payments", "list", "-json"}, args...)...)
		var p page
		if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &p) != nil {
			t.Fatalf("payments list %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return p, r
	}
	var got []string
	cursor := ""
	for range 5 {
		args := []string{"-limit", "2"}
		if cursor != "" {
			args = append(args, "-cursor", cursor)
		}
		p, _ := list(args...)
		for _, x := range p.Payments {
			got = append(got, x.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if want := "pay_4 pay_3 pay_2 pay_1 pay_0"; strings.Join(got, " ") != want {
		t.Fatalf("pages walked %v, want %s", got, want)
	}
	all, _ := list("-limit", "2", "-all")
	if len(all.Payments) != 5 || all.NextCursor != "" {
		t.Fatalf("-all: %+v", all)
	}
	r := cfgRun(t, nil, dir, "", "payments", "list", "-limit", "3")
	if r.code != ExitOK || !strings.Contains(r.stderr, "More follow: add -cursor ") || strings.Contains(r.stdout, "pay_1") {
		t.Fatalf("table page: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cfgRun(t, nil, dir, "", "payments", "list", "-cursor", "bogus")
	if r.code != ExitError || !strings.Contains(r.stderr, "-cursor is not a cursor") {
		t.Fatalf("bad cursor: exit %d\n%s", r.code, r.stderr)
	}
}

// TestEventsListPages: events list pages the same way.
func TestEventsListPages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("api {\n  tokens = [env(\"T\", \"x\")]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := teststore.Open(t, filepath.Join(dir, "finconnect.db"))
	for i := range 3 {
		_, err := st.ApplyStatus(t.Context(), state.StatusChange{Provider: "clickpesa.tz", Reference: fmt.Sprintf("R%d", i), Status: "succeeded",
			CreateIfMissing: true, EventType: "payment.succeeded", Routes: []string{"erp"}, Now: time.Now().Add(time.Duration(i) * time.Second),
			EventPayload: func(p state.Payment, eventID string, at time.Time) ([]byte, error) {
				return []byte(`{"id":"` + eventID + `"}`), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := cfgRun(t, nil, dir, "", "events", "list", "-limit", "2", "-json")
	var p struct {
		Deliveries []struct{} `json:"deliveries"`
		NextCursor string     `json:"next_cursor"`
	}
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &p) != nil || len(p.Deliveries) != 2 || p.NextCursor == "" {
		t.Fatalf("first page: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cfgRun(t, nil, dir, "", "events", "list", "-limit", "2", "-json", "-cursor", p.NextCursor)
	p.NextCursor = ""
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &p) != nil || len(p.Deliveries) != 1 || p.NextCursor != "" {
		t.Fatalf("second page: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cfgRun(t, nil, dir, "", "events", "list", "-limit", "1", "-all")
	if r.code != ExitOK || strings.Count(r.stdout, "payment.succeeded") != 3 || r.stderr != "" {
		t.Fatalf("-all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
