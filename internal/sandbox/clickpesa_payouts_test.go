package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

func cpPayoutCall(t testing.TB, e *Emulator, tok, op string, body any) answer {
	t.Helper()
	return call(t, "POST", e.URL()+"/clickpesa/third-parties/payouts/"+op, map[string]string{"Authorization": tok}, body)
}

func cpPayoutBody(ref, phone string, amount any) map[string]any {
	return map[string]any{"amount": amount, "phoneNumber": phone, "currency": "TZS", "orderReference": ref}
}

func cpBalanceOf(t testing.TB, e *Emulator, tok string) string {
	t.Helper()
	a := call(t, "GET", e.URL()+"/clickpesa/third-parties/account/balance", map[string]string{"Authorization": tok}, nil)
	if a.status != 200 {
		t.Fatalf("balance: %d %s", a.status, a.body)
	}
	var bs []map[string]any
	a.decode(t, &bs)
	for _, b := range bs {
		if b["currency"] == "TZS" {
			return str(b["balance"])
		}
	}
	t.Fatalf("no TZS balance in %s", a.body)
	return ""
}

func cpPayoutStatus(t testing.TB, e *Emulator, tok, ref string) (int, map[string]any) {
	t.Helper()
	a := call(t, "GET", e.URL()+"/clickpesa/third-parties/payouts/"+ref, map[string]string{"Authorization": tok}, nil)
	if a.status != 200 {
		return a.status, a.object(t)
	}
	var list []map[string]any
	a.decode(t, &list)
	if len(list) != 1 {
		t.Fatalf("query %s: %d payouts, want 1", ref, len(list))
	}
	return a.status, list[0]
}

func TestClickPesaPayoutPreview(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{ClickPesaBalance: "250000"}})
	tok := cpTokenFor(t, e)
	a := cpPayoutCall(t, e, tok, "preview-mobile-money-payout", cpPayoutBody("PO1", "255712345678", 1000))
	if a.status != 200 {
		t.Fatalf("preview: %d %s", a.status, a.body)
	}
	m := a.object(t)
	recv := m["receiver"].(map[string]any)
	order := m["order"].(map[string]any)
	for what, got := range map[string]string{
		"amount": str(m["amount"]), "fee": str(m["fee"]), "balance": str(m["balance"]),
		"channelProvider": str(m["channelProvider"]), "receiver.accountName": str(recv["accountName"]),
		"receiver.amount": str(recv["amount"]), "order.id": str(order["id"]),
	} {
		want := map[string]string{
			"amount": "1047.1", "fee": "47.1", "balance": "250000", "channelProvider": "TIGO PESA",
			"receiver.accountName": "SANDBOX RECEIVER 5678", "receiver.amount": "1000", "order.id": "PO1",
		}[what]
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	if got := cpBalanceOf(t, e, tok); got != "250000" {
		t.Errorf("a preview moved money: balance %s", got)
	}
}

func TestClickPesaPayoutRefusals(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{ClickPesaBalance: "5000"}})
	tok := cpTokenFor(t, e)
	if a := cpPayoutCall(t, e, tok, "create-mobile-money-payout", cpPayoutBody("USED", "255712345670", 100)); a.status != 200 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	tests := []struct {
		name    string
		op      string
		body    any
		status  int
		message string
	}{
		{"over the balance", "create-mobile-money-payout", cpPayoutBody("BIG", "255712345670", 5000), 400, "Insufficient balance: available balance is 4895.29 TZS"},
		{"over the balance preview", "preview-mobile-money-payout", cpPayoutBody("BIG", "255712345670", 5000), 400, "Insufficient balance: available balance is 4895.29 TZS"},
		{"reference used", "create-mobile-money-payout", cpPayoutBody("USED", "255712345670", 1), 409, "Order reference USED already used: Create a different reference"},
		{"bad reference", "preview-mobile-money-payout", cpPayoutBody("A-1", "255712345670", 1), 400, "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank"},
		{"bad phone", "create-mobile-money-payout", cpPayoutBody("P1", "0712345670", 1), 400, "Invalid phone number, should be a Tanzanian mobile number starting with 255"},
		{"bad amount", "create-mobile-money-payout", cpPayoutBody("P2", "255712345670", -3), 400, "Invalid amount, should be a number greater than 0"},
		{"bad currency", "create-mobile-money-payout", map[string]any{"amount": 1, "phoneNumber": "255712345670", "currency": "KES", "orderReference": "P3"}, 400, "Invalid currency: currency must be either TZS or USD"},
		{"no USD balance", "create-mobile-money-payout", map[string]any{"amount": 1, "phoneNumber": "255712345670", "currency": "USD", "orderReference": "P4"}, 400, "Insufficient balance: available balance is 0 USD"},
		{"server error", "create-mobile-money-payout", cpPayoutBody("P5", "255712345675", 1), 500, "Internal server error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := cpPayoutCall(t, e, tok, tc.op, tc.body)
			if a.status != tc.status || str(a.object(t)["message"]) != tc.message {
				t.Errorf("%d %s, want %d %q", a.status, a.body, tc.status, tc.message)
			}
		})
	}
	if got := cpBalanceOf(t, e, tok); got != "4895.29" {
		t.Errorf("balance = %s after refusals, want 4895.29 (only the first payout taken)", got)
	}
	if st, _ := cpPayoutStatus(t, e, tok, "P5"); st != 404 {
		t.Errorf("the payout a 500 refused exists (query %d)", st)
	}
	if a := call(t, "POST", e.URL()+"/clickpesa/third-parties/payouts/create-mobile-money-payout", nil, cpPayoutBody("X", "255712345670", 1)); a.status != 401 {
		t.Errorf("no token: %d, want 401", a.status)
	}
}

func TestClickPesaPayoutOutcomes(t *testing.T) {
	const key = "payout-checksum-key"
	s := newSink(t, nil)
	e := startEmulator(t, Options{Settings: Settings{ClickPesaWebhook: s.srv.URL, ClickPesaChecksumKey: key, ClickPesaBalance: "1000000"}})
	tok := cpTokenFor(t, e)
	tests := []struct {
		digit    int
		final    string
		events   []string // webhooks, in order
		refunded bool     // the money came back
	}{
		{0, "SUCCESS", []string{"PAYOUT INITIATED"}, false},
		{1, "REFUNDED", []string{"PAYOUT REFUNDED"}, true},
		{2, "REVERSED", []string{"PAYOUT INITIATED", "PAYOUT REVERSED"}, true},
		{3, "SUCCESS", nil, false},
		{4, "SUCCESS", []string{"PAYOUT INITIATED", "PAYOUT INITIATED"}, false},
		{6, "SUCCESS", []string{"PAYOUT INITIATED"}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.digit), func(t *testing.T) {
			ref := fmt.Sprintf("OUT%d", tc.digit)
			phone := fmt.Sprintf("25571234567%d", tc.digit)
			before := cpBalanceOf(t, e, tok)
			body := cpPayoutBody(ref, phone, "2000")
			raw, _ := json.Marshal(body)
			body["checksum"], _ = canonicalHMAC(t, key, raw)
			a := cpPayoutCall(t, e, tok, "create-mobile-money-payout", body)
			if a.status != 200 {
				t.Fatalf("create: %d %s", a.status, a.body)
			}
			m := a.object(t)
			if m["status"] != "AUTHORIZED" || m["amount"] != "2094.20" || m["fee"] != "94.20" || m["orderReference"] != ref {
				t.Errorf("create answer %s", a.body)
			}
			testkit.Eventually(t, "final status", func() bool {
				_, p := cpPayoutStatus(t, e, tok, ref)
				return p["status"] == tc.final
			})
			var got []string
			testkit.Eventually(t, "webhooks", func() bool {
				got = got[:0]
				for _, r := range s.all() {
					var w map[string]any
					if json.Unmarshal(r.body, &w) != nil {
						continue
					}
					if d, _ := w["data"].(map[string]any); d["orderReference"] == ref {
						got = append(got, str(w["event"]))
						sum, method := canonicalHMAC(t, key, r.body)
						if w["checksum"] != sum || method != "canonical" {
							t.Errorf("webhook checksum %v (%s), want %s", w["checksum"], method, sum)
						}
					}
				}
				return len(got) == len(tc.events)
			})
			if strings.Join(got, ",") != strings.Join(tc.events, ",") {
				t.Errorf("webhooks %v, want %v", got, tc.events)
			}
			after := cpBalanceOf(t, e, tok)
			if (after == before) != tc.refunded {
				t.Errorf("balance %s -> %s; money returned: want %v", before, after, tc.refunded)
			}
		})
	}
}

func TestClickPesaPayoutSlowAnswer(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{SlowAnswer: Duration(time.Hour)}})
	tok := cpTokenFor(t, e)
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.URL()+"/clickpesa/third-parties/payouts/create-mobile-money-payout",
		strings.NewReader(`{"amount":100,"phoneNumber":"255712345676","currency":"TZS","orderReference":"SLOW1"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", tok)
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a late answer came at once: %d", resp.StatusCode)
	}
	// The payout was created all the same: only a query tells.
	testkit.Eventually(t, "payout created despite the lost answer", func() bool {
		st, p := cpPayoutStatus(t, e, tok, "SLOW1")
		return st == 200 && p["status"] == "SUCCESS"
	})
}

// TestClickPesaPayoutDivergences: over the control route, a payout whose
// webhooks are dropped, a reversed payout, a payout finconnectd never sent
// and a forgotten one are what the query and the list answer afterwards;
// refusals say why.
func TestClickPesaPayoutDivergences(t *testing.T) {
	t.Parallel()
	s := newSink(t, nil)
	e := startEmulator(t, Options{Settings: Settings{ClickPesaWebhook: s.srv.URL, ClickPesaBalance: "1000000"}})
	tok := cpTokenFor(t, e)
	diverge := func(body string, want int) map[string]any {
		t.Helper()
		a := call(t, "POST", e.URL()+"/_sandbox/clickpesa/divergence", nil, body)
		if a.status != want {
			t.Fatalf("%s: %d %s, want %d", body, a.status, a.body, want)
		}
		return a.object(t)
	}
	diverge(`{"kind":"payout_drop_notification","reference":"PDROP1"}`, http.StatusOK)
	for _, ref := range []string{"PDROP1", "POK1"} {
		if a := cpPayoutCall(t, e, tok, "create-mobile-money-payout", cpPayoutBody(ref, "255712345670", "1000")); a.status != 200 {
			t.Fatalf("create %s: %d %s", ref, a.status, a.body)
		}
	}
	for _, ref := range []string{"PDROP1", "POK1"} {
		testkit.Eventually(t, ref+" SUCCESS", func() bool {
			_, p := cpPayoutStatus(t, e, tok, ref)
			return p["status"] == "SUCCESS"
		})
	}
	hooks := func(ref string) int {
		n := 0
		for _, r := range s.all() {
			if strings.Contains(string(r.body), `"orderReference":"`+ref+`"`) {
				n++
			}
		}
		return n
	}
	testkit.Eventually(t, "the POK1 webhook", func() bool { return hooks("POK1") >= 1 })
	if n := hooks("PDROP1"); n != 0 {
		t.Errorf("PDROP1 sent %d webhooks, want none", n)
	}
	diverge(`{"kind":"payout_drop_notification","reference":"POK1"}`, http.StatusBadRequest)

	before := cpBalanceOf(t, e, tok)
	if m := diverge(`{"kind":"payout_reverse","reference":"POK1"}`, http.StatusOK); m["status"] != "REVERSED" {
		t.Errorf("reverse answered %v", m)
	}
	if _, p := cpPayoutStatus(t, e, tok, "POK1"); p["status"] != "REVERSED" {
		t.Errorf("POK1 is %v after the reversal", p["status"])
	}
	if after := cpBalanceOf(t, e, tok); after == before {
		t.Errorf("balance %s unchanged by the reversal", after)
	}
	diverge(`{"kind":"payout_reverse","reference":"POK1"}`, http.StatusBadRequest)

	m := diverge(`{"kind":"payout_foreign","reference":"PDASH1","amount":"5000"}`, http.StatusOK)
	if m["status"] != "SUCCESS" || m["orderReference"] != "PDASH1" || str(m["order"].(map[string]any)["amount"]) != "5000.00" {
		t.Errorf("foreign payout %v", m)
	}
	diverge(`{"kind":"payout_foreign","reference":"PDASH1","amount":"5000"}`, http.StatusBadRequest)
	diverge(`{"kind":"payout_foreign","reference":"PDASH2","amount":"5000","status":"WEIRD"}`, http.StatusBadRequest)
	a := call(t, "GET", e.URL()+"/clickpesa/third-parties/payouts/all?orderBy=ASC", map[string]string{"Authorization": tok}, nil)
	if a.status != 200 || !strings.Contains(string(a.body), `"PDASH1"`) {
		t.Errorf("list: %d %s, want PDASH1 in it", a.status, a.body)
	}

	diverge(`{"kind":"payout_forget","reference":"PDROP1"}`, http.StatusOK)
	if code, _ := cpPayoutStatus(t, e, tok, "PDROP1"); code != http.StatusNotFound {
		t.Errorf("forgotten payout query: %d, want 404", code)
	}
	diverge(`{"kind":"payout_forget","reference":"PDROP1"}`, http.StatusBadRequest)
	diverge(`{"kind":"payout_nothing","reference":"X"}`, http.StatusBadRequest)
}

// TestClickPesaListsRefuseBadPages: both lists read their paging the same
// way, and name the parameter that is wrong.
func TestClickPesaListsRefuseBadPages(t *testing.T) {
	e := startEmulator(t, Options{})
	tok := cpTokenFor(t, e)
	for _, list := range []string{"/clickpesa/third-parties/payments/all", "/clickpesa/third-parties/payouts/all"} {
		for _, tc := range []struct{ query, want string }{
			{"skip=-1", "skip must be an integer >= 0"},
			{"limit=0", "limit must be an integer >= 1"},
			{"sortBy=amount", "sorts by createdAt only"},
			{"startDate=yesterday", "invalid date"},
		} {
			a := call(t, "GET", e.URL()+list+"?"+tc.query, map[string]string{"Authorization": tok}, nil)
			if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), tc.want) {
				t.Errorf("%s?%s: %d %s, want 400 naming %q", list, tc.query, a.status, a.body, tc.want)
			}
		}
		if a := call(t, "GET", e.URL()+list+"?skip=0&limit=500&orderBy=ASC", map[string]string{"Authorization": tok}, nil); a.status != http.StatusOK {
			t.Errorf("%s with a good page: %d %s", list, a.status, a.body)
		}
	}
}
