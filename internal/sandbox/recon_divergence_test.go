package sandbox

import (
	"net/http"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestPesaPalDivergences: over the control route, a dropped IPN, a
// settlement with another amount, a reversal and a forgotten order are
// what GetTransactionStatus answers afterwards; refusals say why.
func TestPesaPalDivergences(t *testing.T) {
	t.Parallel()
	ipns := newSink(t, nil)
	e := startEmulator(t, Options{})
	tok := ppToken(t, e)
	ipn := ppRegister(t, e, tok, ipns.srv.URL+"/ipn", "POST")
	diverge := func(body string) answer {
		t.Helper()
		return call(t, "POST", e.URL()+"/_sandbox/pesapal/divergence", nil, body)
	}
	for _, b := range []string{`{"kind":"drop_notification","reference":"DROP1"}`, `{"kind":"settle_amount","reference":"AMT1","amount":"900"}`} {
		if a := diverge(b); a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", b, a.status, a.body)
		}
	}
	ids := map[string]string{}
	for _, ref := range []string{"DROP1", "AMT1", "OK1"} {
		a := ppSubmit(t, e, tok, ppOrderBody(ref, ipn, "254712345670"))
		if a.status != http.StatusOK {
			t.Fatalf("submit %s: %d %s", ref, a.status, a.body)
		}
		ids[ref] = str(a.object(t)["order_tracking_id"])
	}
	settled := func(ref string) bool {
		_, m := ppStatus(t, e, tok, ids[ref])
		return str(m["status_code"]) == "1"
	}
	for ref := range ids {
		testkit.Eventually(t, ref+" completed", func() bool { return settled(ref) })
	}
	testkit.Eventually(t, "the OK1 IPN", func() bool { return ipns.count() >= 1 })
	for _, r := range ipns.all() {
		if !strings.Contains(string(r.body), ids["OK1"]) {
			t.Errorf("an IPN for another order than OK1 was sent: %s", r.body)
		}
	}
	if _, m := ppStatus(t, e, tok, ids["AMT1"]); str(m["amount"]) != "900" {
		t.Errorf("AMT1 amount = %v, want 900", m["amount"])
	}

	if a := diverge(`{"kind":"reverse","reference":"OK1"}`); a.status != http.StatusOK {
		t.Fatalf("reverse: %d %s", a.status, a.body)
	}
	if _, m := ppStatus(t, e, tok, ids["OK1"]); str(m["status_code"]) != "3" || m["payment_status_description"] != "Reversed" {
		t.Errorf("reversed order status = %v %v, want 3 Reversed", m["status_code"], m["payment_status_description"])
	}
	if a := diverge(`{"kind":"forget","reference":"DROP1"}`); a.status != http.StatusOK {
		t.Fatalf("forget: %d %s", a.status, a.body)
	}
	if _, m := ppStatus(t, e, tok, ids["DROP1"]); m["status"] != "400" || !strings.Contains(mustJSON(t, m["error"]), "invalid_order_tracking_id") {
		t.Errorf("forgotten order status = %v, want the unknown tracking id error", m)
	}

	for _, tt := range []struct{ body, want string }{
		{`{"kind":"drop_notification","reference":"AMT1"}`, "settled already"},
		{`{"kind":"reverse","reference":"AMT2"}`, "not a COMPLETED"},
		{`{"kind":"forget","reference":"NOPE"}`, "no pesapal order"},
		{`{"kind":"settle_amount","reference":"X","amount":"-1"}`, "must be a decimal"},
		{`{"kind":"explode","reference":"X"}`, "unknown pesapal divergence"},
		{`{"kind":"reverse","reference":"X","extra":1}`, "invalid request"},
	} {
		if a := diverge(tt.body); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), tt.want) {
			t.Errorf("%s = %d %s, want 400 saying %q", tt.body, a.status, a.body, tt.want)
		}
	}
	if a := call(t, "POST", e.URL()+"/_sandbox/azampay/divergence", nil, `{"kind":"reverse","reference":"X"}`); a.status != http.StatusBadRequest ||
		!strings.Contains(string(a.body), "no reversal state") {
		t.Errorf("azampay reverse = %d %s, want refused", a.status, a.body)
	}
}
