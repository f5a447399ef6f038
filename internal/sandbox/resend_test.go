package sandbox

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestResend: the admin hook sends a notification even for outcome 3, which
// never notifies by itself.
func TestResend(t *testing.T) {
	s := newSink(t, func(int, received) (int, string) { return 200, `{"status":200}` })
	logs := &syncBuffer{}
	e := startEmulator(t, Options{Logger: slogTo(logs), Settings: Settings{ClickPesaWebhook: s.srv.URL, AzamPayCallback: s.srv.URL}})
	resend := func(provider, id string) int {
		t.Helper()
		return call(t, "POST", e.URL()+"/_sandbox/resend?provider="+provider+"&id="+url.QueryEscape(id), nil, nil).status
	}

	pt := ppToken(t, e)
	ipn := ppRegister(t, e, pt, s.srv.URL, "POST")
	id := str(ppSubmit(t, e, pt, ppOrderBody("RS-1", ipn, "0712345673")).object(t)["order_tracking_id"])
	testkit.Eventually(t, "pesapal settled", func() bool { _, st := ppStatus(t, e, pt, id); return st["status_code"] == json.Number("1") })

	ct := cpTokenFor(t, e)
	cpPush(t, e, ct, "initiate-ussd-push-request", map[string]any{"amount": "5", "currency": "TZS", "orderReference": "RS1", "phoneNumber": "255712345673"})
	testkit.Eventually(t, "clickpesa settled", func() bool {
		var list []map[string]any
		cpQueryRef(t, e, ct, "RS1").decode(t, &list)
		return list[0]["status"] == "SUCCESS"
	})

	at := azTokenFor(t, e)
	call(t, "POST", e.URL()+"/azampay/azampay/mno/checkout", azHeaders(at), azCheckoutBody("RS-1", "0712345673"))
	testkit.Eventually(t, "azampay settled", func() bool {
		var st struct {
			Data map[string]any `json:"data"`
		}
		call(t, "GET", e.URL()+"/azampay/azampay/transaction/query?externalId=RS-1", azHeaders(at), nil).decode(t, &st)
		return st.Data["transactionstatus"] == "success"
	})
	if s.count() != 0 {
		t.Fatalf("outcome 3 notified %d times", s.count())
	}

	tests := []struct {
		provider, id string
		want         int
	}{
		{"pesapal", id, 202},
		{"pesapal", "RS-1", 202}, // by merchant reference
		{"clickpesa", "RS1", 202},
		{"azampay", "RS-1", 202},
		{"pesapal", "nope", 404},
		{"clickpesa", "NOPE", 404},
		{"mpesa", "x", 400},
	}
	for _, tc := range tests {
		if got := resend(tc.provider, tc.id); got != tc.want {
			t.Errorf("resend %s %s: %d, want %d", tc.provider, tc.id, got, tc.want)
		}
	}
	testkit.Eventually(t, "four notifications", func() bool { return s.count() == 4 })

	// A payment still pending has nothing to say yet.
	e.UpdateSettings(func(s *Settings) { s.Delay = Duration(time.Hour) })
	cpPush(t, e, ct, "initiate-ussd-push-request", map[string]any{"amount": "5", "currency": "TZS", "orderReference": "RS2", "phoneNumber": "255712345670"})
	if got := resend("clickpesa", "RS2"); got != 409 {
		t.Errorf("pending resend: %d", got)
	}
}
