package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reconRunOut is `recon run -json`.
type reconRunOut struct {
	Runs []struct {
		RunID    string         `json:"run_id"`
		Status   string         `json:"status"`
		Resumed  bool           `json:"resumed"`
		Healed   int            `json:"healed"`
		New      map[string]int `json:"new_differences"`
		Open     map[string]int `json:"open_differences"`
		Counters struct {
			ProviderCalls int `json:"provider_calls"`
			ProviderItems int `json:"provider_items"`
		} `json:"counters"`
	} `json:"runs"`
	Errors []string `json:"errors"`
}

func (e *serveEnv) diverge(kind, ref string, extra string) {
	e.t.Helper()
	body := fmt.Sprintf(`{"kind":%q,"reference":%q%s}`, kind, ref, extra)
	code, resp := httpDo(e.t, http.MethodPost, e.sb.url+"/_sandbox/clickpesa/divergence", nil, []byte(body))
	if code != http.StatusOK {
		e.t.Fatalf("divergence %s %s: %d %s", kind, ref, code, resp)
	}
}

func (e *serveEnv) reconRun(want int, args ...string) reconRunOut {
	e.t.Helper()
	r := runCLI(e.t, e.env, append([]string{"recon", "run", "-config", e.cfgDir, "-provider", "clickpesa.tz", "-json"}, args...)...)
	var out reconRunOut
	if r.code != want || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Runs) != 1 {
		e.t.Fatalf("recon run: want exit %d and one run\n%s", want, r)
	}
	return out
}

func eventsOfType(ds []deliveryView, paymentID, typ string) int {
	n := 0
	for _, d := range ds {
		if d.PaymentID == paymentID && d.EventType == typ {
			n++
		}
	}
	return n
}

// TestReconcileClickPesa: against the built binary and the emulator, each
// divergence the emulator is told to make is found and classified; what
// the provider proves is healed with exactly one event; a second run over
// the window finds nothing new and emits nothing; the CSV has a row per
// transaction; differences can be resolved.
func TestReconcileClickPesa(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1h", true, map[string]any{"delay": "1s"})
	e.apply()
	e.start()
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	// Divergences made before the customer answers.
	e.diverge("drop_notification", "RCDROP1", "")
	e.diverge("settle_amount", "RCAMT1", `,"amount":"900"`)
	e.diverge("settle_late", "RCLATE1", "")
	ok := e.pay("clickpesa.tz", "RCOK1", "1000", "TZS", "255712345670")
	drop := e.pay("clickpesa.tz", "RCDROP1", "1000", "TZS", "255712345670")
	amt := e.pay("clickpesa.tz", "RCAMT1", "1000", "TZS", "255712345670")
	late := e.pay("clickpesa.tz", "RCLATE1", "1000", "TZS", "255712345670")
	rev := e.pay("clickpesa.tz", "RCREV1", "1000", "TZS", "255712345670")
	// Phone ending 5: the provider fails the initiation with a 500; ours is unknown.
	code, _, body := e.call(http.MethodPost, "/v1/payments", e.token,
		[]byte(`{"provider":"clickpesa.tz","reference":"RCUNK1","amount":"1000","currency":"TZS","phone":"255712345675"}`))
	if code/100 != 2 && code != http.StatusBadGateway && code != http.StatusServiceUnavailable {
		t.Logf("unknown-outcome payment answered %d %s", code, body)
	}
	for _, p := range []payment{ok, rev} {
		eventually(t, 30*time.Second, p.Reference+" succeeded by its webhook", func() bool { return e.getPayment(p.ID).Status == "succeeded" })
	}
	// After the customer answered: settle late (no webhook), reverse, a
	// payment from the dashboard, a duplicate.
	eventually(t, 30*time.Second, "RCDROP1 settled at the provider", func() bool {
		code, resp := httpDo(t, http.MethodPost, e.sb.url+"/_sandbox/clickpesa/divergence", nil, []byte(`{"kind":"settle_late","reference":"RCLATE1"}`))
		return code == http.StatusOK && strings.Contains(string(resp), `"SUCCESS"`)
	})
	e.diverge("reverse", "RCREV1", "")
	e.diverge("foreign", "RCDASH1", `,"amount":"7000"`)
	e.diverge("duplicate", "RCOK1", "")
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, p := range []payment{drop, amt, late} {
		if s := e.getPayment(p.ID).Status; s != "pending" {
			t.Fatalf("%s is %s before the run, want pending (its notification was lost)", p.Reference, s)
		}
	}
	before := e.deliveries()

	csvPath := filepath.Join(t.TempDir(), "recon.csv")
	first := e.reconRun(2, "-from", from, "-to", to, "-csv", csvPath).Runs[0]
	if first.Healed != 3 {
		t.Errorf("healed %d, want 3 (the dropped notification, the late settlement, the reversal)", first.Healed)
	}
	wantOpen := map[string]int{"amount_differs": 1, "unknown_to_us": 1, "duplicate_at_provider": 1, "stuck_unknown": 1}
	for class, n := range wantOpen {
		if first.Open[class] != n || first.New[class] != n {
			t.Errorf("%s: open %d new %d, want %d", class, first.Open[class], first.New[class], n)
		}
	}
	for ref, want := range map[string]string{drop.ID: "succeeded", late.ID: "succeeded", rev.ID: "reversed", amt.ID: "pending", ok.ID: "succeeded"} {
		if got := e.getPayment(ref).Status; got != want {
			t.Errorf("payment %s: %s, want %s", ref, got, want)
		}
	}
	after := e.deliveries()
	for _, c := range []struct{ id, typ string }{{drop.ID, "payment.succeeded"}, {late.ID, "payment.succeeded"}, {rev.ID, "payment.reversed"}} {
		if n := eventsOfType(after, c.id, c.typ); n != 1 {
			t.Errorf("payment %s: %d %s deliveries, want exactly 1", c.id, n, c.typ)
		}
	}
	diffEvents := 0
	for _, d := range after {
		if d.EventType == "reconciliation.difference" {
			diffEvents++
		}
	}
	if diffEvents != 4 {
		t.Errorf("reconciliation.difference deliveries: %d, want 4 (one per open difference)", diffEvents)
	}
	csv, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RCOK1", "RCDROP1", "RCAMT1,", "amount_differs", "RCDASH1", "unknown_to_us", "healed", "stuck_unknown"} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("CSV has no %q:\n%s", want, csv)
		}
	}

	// Again over the same window: nothing new, nothing emitted.
	second := e.reconRun(2, "-from", from, "-to", to).Runs[0]
	if second.Healed != 0 || len(second.New) != 0 {
		t.Errorf("second run healed %d, new %v; want nothing", second.Healed, second.New)
	}
	if len(e.deliveries()) != len(after) {
		t.Errorf("the second run emitted events: %d deliveries, were %d", len(e.deliveries()), len(after))
	}
	if len(after) <= len(before) {
		t.Errorf("the first run emitted nothing")
	}

	// A person settles them.
	r := runCLI(t, e.env, "recon", "list", "-config", e.cfgDir, "-state", "open", "-json")
	var list struct {
		Differences []struct {
			ID    string `json:"difference_id"`
			Class string `json:"class"`
		} `json:"differences"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list.Differences) != 4 {
		t.Fatalf("recon list: want 4 open\n%s", r)
	}
	for _, d := range list.Differences {
		sub := "resolve"
		if d.Class == "unknown_to_us" {
			sub = "acknowledge"
		}
		if r := runCLI(t, e.env, "recon", sub, "-config", e.cfgDir, "-by", "amina", "-note", "checked", d.ID); r.code != 0 {
			t.Errorf("recon %s: %s", sub, r)
		}
	}
	// Resolved ones found again open again; the acknowledged one stays.
	third := e.reconRun(2, "-from", from, "-to", to).Runs[0]
	if third.Open["unknown_to_us"] != 0 || third.Open["amount_differs"] != 1 {
		t.Errorf("third run open = %v: want amount_differs again and unknown_to_us left acknowledged", third.Open)
	}
	e.serve.signal(t, syscall.SIGTERM)
	e.serve.waitExit(t, 30*time.Second)
}

// TestReconcileResumes: a run killed half-way is resumed by the next run
// over the window, from its checkpoint.
func TestReconcileResumes(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1h", false, nil)
	e.apply()
	day := time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC)
	body := fmt.Sprintf(`{"count":1000,"prefix":"RES","amount":"1000","from":%q,"to":%q}`, day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339))
	if code, resp := httpDo(t, http.MethodPost, e.sb.url+"/_sandbox/clickpesa/bulk", nil, []byte(body)); code != http.StatusOK {
		t.Fatalf("bulk: %d %s", code, resp)
	}
	e.sb.settings(t, map[string]any{"latency": "200ms"})
	from, to := day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)
	p := startProc(t, "recon", e.env, "recon", "run", "-config", e.cfgDir, "-provider", "clickpesa.tz", "-json", "-page-size", "50",
		"-from", from, "-to", to)
	eventually(t, 60*time.Second, "five pages read", func() bool { return e.sb.countOK(t, http.MethodGet, "/clickpesa/third-parties/payments/all") >= 5 })
	p.signal(t, syscall.SIGKILL)
	p.waitExit(t, 30*time.Second)
	readBefore := e.sb.countOK(t, http.MethodGet, "/clickpesa/third-parties/payments/all")
	if readBefore >= 20 {
		t.Skipf("the run read all %d pages before it was killed (a very fast machine)", readBefore)
	}
	e.sb.settings(t, map[string]any{"latency": "0s"})
	out := e.reconRun(2, "-page-size", "50", "-from", from, "-to", to).Runs[0]
	if !out.Resumed {
		t.Errorf("the second run did not resume the killed one")
	}
	readAfter := e.sb.countOK(t, http.MethodGet, "/clickpesa/third-parties/payments/all") - readBefore
	if readAfter >= 20 || readAfter < 20-readBefore {
		t.Errorf("the resumed run read %d pages (the killed one %d of 20): want only those after the checkpoint", readAfter, readBefore)
	}
	if out.Open["unknown_to_us"] != 1000 {
		t.Errorf("open unknown_to_us = %d, want 1000 (each bulk payment once)", out.Open["unknown_to_us"])
	}
}
