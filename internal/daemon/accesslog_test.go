package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// logLines are the JSON lines of the daemon's log with msg.
func logLines(t *testing.T, logs string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func requestWithID(t *testing.T, method, url, token, id string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, b.String()
}

// TestAccessLog: every API request is logged with its route pattern,
// status and request ID, and answered with that ID; a 500 is logged at
// error with the error behind it, which its answer points to.
func TestAccessLog(t *testing.T) {
	r := startDaemon(t, runOptions{})
	find := func(id string) map[string]any {
		t.Helper()
		var found map[string]any
		testkit.Eventually(t, "the access log line of "+id, func() bool {
			for _, m := range logLines(t, r.logs.String(), "api request") {
				if m["request_id"] == id {
					found = m
					return true
				}
			}
			return false
		})
		return found
	}

	// A caller's ID is kept; the route is the pattern, not the path.
	resp, _ := requestWithID(t, "GET", r.api("/v1/payments/pay_nope"), testToken, "caller-id-1")
	if resp.StatusCode != 404 || resp.Header.Get("X-Request-Id") != "caller-id-1" {
		t.Fatalf("GET an unknown payment: %d, X-Request-Id %q; want 404 and the caller's ID", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	m := find("caller-id-1")
	if m["level"] != "INFO" || m["method"] != "GET" || m["route"] != "GET /v1/payments/{id}" || m["status"] != float64(404) || m["duration_ms"] == nil {
		t.Errorf("access log line %v; want INFO GET /v1/payments/{id} 404 with a duration", m)
	}

	// An unusable caller ID (too long, or characters a log line should
	// not carry) is replaced by one of ours.
	for _, bad := range []string{strings.Repeat("x", 129), "a b", `"quoted"`} {
		resp, _ := requestWithID(t, "GET", r.api("/healthz"), "", bad)
		got := resp.Header.Get("X-Request-Id")
		if got == bad || !strings.HasPrefix(got, "req_") {
			t.Errorf("caller ID %q answered as %q; want a new req_ ID", bad, got)
		}
	}

	// A store failure behind the pay API: 500, logged with its error.
	r.store.SetOutage(true)
	resp, body := requestWithID(t, "GET", r.api("/v1/payments/pay_x"), testToken, "")
	r.store.SetOutage(false)
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || id == "" || !strings.Contains(body, id) {
		t.Fatalf("GET a payment while the store fails: %d %s (X-Request-Id %q); want 500 naming the request ID", resp.StatusCode, body, id)
	}
	m = find(id)
	if m["level"] != "ERROR" || m["status"] != float64(500) || m["route"] != "GET /v1/payments/{id}" ||
		!strings.Contains(fmt.Sprint(m["err"]), "injected store outage") {
		t.Errorf("the 500's log line %v; want ERROR, status 500, the route and the store's error", m)
	}
}
