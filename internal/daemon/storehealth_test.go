package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestReadyzWhenWritesFail: the store answers pings but refuses writes
// (a full disk): the failed writes mark the daemon not ready, with the
// reason in /readyz's body and in a metric, and once writes go through
// again readyz's probe makes it ready.
func TestReadyzWhenWritesFail(t *testing.T) {
	r := startDaemon(t, runOptions{})
	r.seed("1000", "RDY1")
	ready := func() (int, map[string]any) {
		t.Helper()
		code, body := do(t, "GET", r.api("/readyz"), "", nil)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("readyz body %s: %v", body, err)
		}
		return code, m
	}
	metric := func(line string) bool {
		_, body := do(t, "GET", r.api("/metrics"), "", nil)
		return strings.Contains(string(body), line)
	}
	if code, m := ready(); code != 200 || !metric("finconnectd_store_writable 1") {
		t.Fatalf("readyz before the fault: %d %v", code, m)
	}

	r.store.SetWriteOutage(true)
	if code, _ := do(t, "POST", r.public("/hooks/clickpesa"), "", signedWebhook(t, "RDY1", "SUCCESS", "1000")); code != 500 {
		t.Fatalf("webhook while writes fail: %d, want 500", code)
	}
	code, m := ready()
	checks, _ := m["checks"].(map[string]any)
	if code != 503 || m["status"] != "not ready" || checks["store"] != "ok" || checks["store_writes"] != "failing: outage" ||
		!strings.Contains(m["store_writes_error"].(string), "injected store outage") {
		t.Fatalf("readyz while writes fail: %d %v; want 503, store ok, store_writes failing with the error", code, m)
	}
	if !metric("finconnectd_store_writable 0") || !metric(`finconnectd_store_write_failures_total{kind="outage"}`) {
		t.Fatal("metrics while writes fail: want finconnectd_store_writable 0 and a failure counted")
	}
	if !strings.Contains(r.logs.String(), "not ready until a write succeeds again") {
		t.Fatalf("the first failed write is not logged:\n%s", r.logs.String())
	}

	r.store.SetWriteOutage(false)
	testkit.Eventually(t, "ready again once writes go through", func() bool { code, _ := ready(); return code == 200 })
	if !metric("finconnectd_store_writable 1") {
		t.Fatal("finconnectd_store_writable not back to 1")
	}
	if code, _ := do(t, "POST", r.public("/hooks/clickpesa"), "", signedWebhook(t, "RDY1", "SUCCESS", "1000")); code != 200 {
		t.Fatalf("webhook after the fault: %d, want 200", code)
	}
}
