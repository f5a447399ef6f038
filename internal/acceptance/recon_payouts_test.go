package acceptance

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// payoutOf is GET /v1/payouts/{id}'s status.
func (e *serveEnv) payoutStatus(token, id string) string {
	e.t.Helper()
	code, _, body := e.call(http.MethodGet, "/v1/payouts/"+id, token, nil)
	var p struct {
		Status string `json:"status"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &p) != nil {
		e.t.Fatalf("payout %s: %d %s", id, code, body)
	}
	return p.Status
}

// TestReconcileClickPesaPayouts: against the built binary and the
// emulator, ClickPesa's payouts are matched both ways after its payments:
// a payout whose webhook was lost (pending with us, SUCCESS at ClickPesa)
// and a payout ClickPesa reversed after success are healed through the
// payouts' own status rule with exactly one payout event each; a payout
// we never sent and one ClickPesa has no record of stay open with both
// sides' evidence and their payout named; a second run finds nothing new
// and emits nothing; CSV, JSON and the API show them.
func TestReconcileClickPesaPayouts(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1h", true, map[string]any{"delay": "1s"})
	finance := canary(t, "finance-token")
	e.env = append(e.env, "ACC_FINANCE_TOKEN="+finance)
	e.canaries = append(e.canaries, finance)
	e.apiHCL = `
  token "finance" {
    value  = env("ACC_FINANCE_TOKEN")
    scopes = ["payouts", "reconciliation"]
  }
`
	e.extraHCL = `
payouts {
  limit "TZS" {
    max_per_payout = "100000"
    max_per_24h    = 1000000
  }
}
`
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	e.apply()
	e.start()
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	e.diverge("payout_drop_notification", "RPDROP1", "")
	ids := map[string]string{}
	for _, ref := range []string{"RPOK1", "RPDROP1", "RPREV1", "RPGONE1"} {
		code, _, body := e.call(http.MethodPost, "/v1/payouts", finance, payoutJSON(ref, "255712345670", "1000"))
		var p struct {
			ID string `json:"id"`
		}
		if code != http.StatusCreated || json.Unmarshal(body, &p) != nil || p.ID == "" {
			t.Fatalf("payout %s: %d %s", ref, code, body)
		}
		ids[ref] = p.ID
	}
	for _, ref := range []string{"RPOK1", "RPREV1", "RPGONE1"} {
		eventually(t, 30*time.Second, ref+" succeeded by its webhook", func() bool { return e.payoutStatus(finance, ids[ref]) == "succeeded" })
	}
	eventually(t, 30*time.Second, "RPDROP1 settled at the provider", func() bool {
		code, resp := httpDo(t, http.MethodPost, e.sb.url+"/_sandbox/clickpesa/divergence", nil, []byte(`{"kind":"payout_drop_notification","reference":"RPDROP1"}`))
		return code == http.StatusBadRequest && strings.Contains(string(resp), "settled already (SUCCESS)")
	})
	e.diverge("payout_reverse", "RPREV1", "")
	e.diverge("payout_foreign", "RPDASH1", `,"amount":"7000"`)
	e.diverge("payout_forget", "RPGONE1", "")
	if s := e.payoutStatus(finance, ids["RPDROP1"]); s != "pending" {
		t.Fatalf("RPDROP1 is %s before the run, want pending (its webhook was lost)", s)
	}
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	csvPath := filepath.Join(t.TempDir(), "recon.csv")
	first := e.reconRun(2, "-from", from, "-to", to, "-csv", csvPath).Runs[0]
	if first.Healed != 2 {
		t.Errorf("healed %d, want 2 (the lost webhook, the reversal)", first.Healed)
	}
	wantOpen := map[string]int{"unknown_to_us": 1, "missing_at_provider": 1}
	for class, n := range wantOpen {
		if first.Open[class] != n || first.New[class] != n {
			t.Errorf("%s: open %d new %d, want %d", class, first.Open[class], first.New[class], n)
		}
	}
	if len(first.Open) != len(wantOpen) {
		t.Errorf("open = %v, want only %v", first.Open, wantOpen)
	}
	for ref, want := range map[string]string{"RPDROP1": "succeeded", "RPREV1": "reversed", "RPOK1": "succeeded", "RPGONE1": "succeeded"} {
		if got := e.payoutStatus(finance, ids[ref]); got != want {
			t.Errorf("payout %s: %s, want %s", ref, got, want)
		}
	}
	after := e.deliveries()
	for _, c := range []struct{ id, typ string }{{ids["RPDROP1"], "payout.succeeded"}, {ids["RPREV1"], "payout.reversed"}, {ids["RPREV1"], "payout.succeeded"}} {
		if n := eventsOfType(after, c.id, c.typ); n != 1 {
			t.Errorf("payout %s: %d %s deliveries, want exactly 1", c.id, n, c.typ)
		}
	}
	if n := eventsOfType(after, ids["RPGONE1"], "reconciliation.difference"); n != 1 {
		t.Errorf("the missing payout's difference: %d deliveries naming it, want 1", n)
	}
	diffEvents := 0
	for _, d := range after {
		if d.EventType == "reconciliation.difference" {
			diffEvents++
		}
	}
	if diffEvents != 2 {
		t.Errorf("reconciliation.difference deliveries: %d, want 2 (one per open difference)", diffEvents)
	}
	csv, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RPOK1,", "RPDASH1,", "unknown_to_us,payout", "missing_at_provider,payout," + ids["RPGONE1"],
		"healed,payout," + ids["RPDROP1"], "healed,payout," + ids["RPREV1"], "matched,payout," + ids["RPOK1"]} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("CSV has no %q:\n%s", want, csv)
		}
	}

	// The API names the payout and shows both sides without credentials.
	code, _, body := e.call(http.MethodGet, "/v1/reconciliation/differences?provider=clickpesa.tz&class=missing_at_provider", finance, nil)
	var list struct {
		Differences []struct {
			ID        string          `json:"difference_id"`
			PayoutID  string          `json:"payout_id"`
			PaymentID string          `json:"payment_id"`
			Ours      json.RawMessage `json:"ours"`
		} `json:"differences"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Differences) != 1 {
		t.Fatalf("differences: %d %s", code, body)
	}
	if d := list.Differences[0]; d.PayoutID != ids["RPGONE1"] || d.PaymentID != "" || !strings.Contains(string(d.Ours), `"RPGONE1"`) {
		t.Errorf("missing payout's difference: %s", body)
	}
	code, _, body = e.call(http.MethodGet, "/v1/reconciliation/differences?provider=clickpesa.tz&class=unknown_to_us", finance, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"RPDASH1"`) || strings.Contains(strings.ToLower(string(body)), "clientid") {
		t.Errorf("unknown payout's difference: %d %s (want the provider's record, no client id)", code, body)
	}

	// Again over the same window: nothing new, nothing emitted.
	second := e.reconRun(2, "-from", from, "-to", to).Runs[0]
	if second.Healed != 0 || len(second.New) != 0 {
		t.Errorf("second run healed %d, new %v; want nothing", second.Healed, second.New)
	}
	if n := len(e.deliveries()); n != len(after) {
		t.Errorf("the second run emitted events: %d deliveries, were %d", n, len(after))
	}
	e.serve.signal(t, syscall.SIGTERM)
	e.serve.waitExit(t, 30*time.Second)
}
