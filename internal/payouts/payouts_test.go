package payouts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
)

func TestPayoutOutcomes(t *testing.T) {
	h := newHarness(t, harnessOptions{balance: "1000000"})
	tests := []struct {
		digit  int
		final  string
		events []string
	}{
		{0, state.PayoutSucceeded, []string{"payout.succeeded"}},
		{1, state.PayoutFailed, []string{"payout.failed"}},
		// Its two webhooks may arrive in either order: a late SUCCESS
		// after REVERSED changes nothing.
		{2, state.PayoutReversed, []string{"payout.reversed"}},
		{4, state.PayoutSucceeded, []string{"payout.succeeded"}}, // the webhook twice, one event
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.digit), func(t *testing.T) {
			ref := fmt.Sprintf("PO%d", tc.digit)
			r := h.payout("", payoutBody(ref, fmt.Sprintf("071234567%d", tc.digit), "1000"))
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			m := r.object(t)
			// The webhook can be applied before the create call's answer is
			// recorded (a loaded machine): the answer then says the outcome.
			if m["status"] != "pending" && m["status"] != string(tc.final) || m["fee"] != "47.10" || m["receiver_name"] != fmt.Sprintf("SANDBOX RECEIVER 567%d", tc.digit) ||
				m["balance"] == "" || !strings.HasPrefix(fmt.Sprint(m["id"]), "po_") || m["provider_reference"] == "" {
				t.Errorf("create answer %s", r.body)
			}
			id := fmt.Sprint(m["id"])
			eventually(t, "payout "+tc.final, func() bool { return h.get(id).Status == tc.final })
			eventually(t, "events", func() bool { return len(h.eventTypes(id)) >= len(tc.events) })
			got := h.eventTypes(id)
			if tc.digit == 2 && len(got) == 2 && got[0] == "payout.succeeded" {
				got = got[1:]
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.events) {
				t.Errorf("events %v, want %v", got, tc.events)
			}
			if n := h.creates(ref); n != 1 {
				t.Errorf("%d create calls, want 1", n)
			}
		})
	}
	// Every event body is a payout snapshot, routed to the provider's route.
	for _, e := range h.store.Events() {
		var ev Event
		if err := json.Unmarshal(e.Payload, &ev); err != nil || ev.Type != e.Type || ev.Data.ID != e.PaymentID || ev.Data.EventID != e.ID {
			t.Errorf("event %s body %s", e.ID, e.Payload)
		}
		if strings.Contains(string(e.Payload), "checksum") {
			t.Errorf("event %s forwards the provider's checksum: %s", e.ID, e.Payload)
		}
		if routes := h.store.Routes(e.ID); fmt.Sprint(routes) != "[cp]" {
			t.Errorf("event %s routes %v, want [cp]", e.ID, routes)
		}
	}
}

func TestSilentPayoutSettledBySync(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.payout("", payoutBody("SILENT3", "0712345673", "500"))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := fmt.Sprint(r.object(t)["id"])
	// No webhook comes; sync asks once the payout is due.
	eventually(t, "paid at the provider", func() bool {
		po, err := h.svc.providersOrFail(t, "clickpesa.tz").Query(context.Background(), state.Payout{Reference: "SILENT3"})
		return err == nil && po.Status == state.PayoutSucceeded
	})
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.get(id).Status; got != state.PayoutPending {
		t.Errorf("status %s before the payout was due, want pending", got)
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.get(id).Status; got != state.PayoutSucceeded {
		t.Errorf("status after sync %s, want succeeded", got)
	}
	if got := h.eventTypes(id); fmt.Sprint(got) != "[payout.succeeded]" {
		t.Errorf("events %v", got)
	}
}

func TestUnknownOutcomeNeverResent(t *testing.T) {
	t.Run("server error: never created", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		r := h.payout("", payoutBody("ERR5", "0712345675", "500"))
		m := r.object(t)
		if r.status != http.StatusBadGateway || m["payout"].(map[string]any)["status"] != "unknown" {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		id := fmt.Sprint(m["payout_id"])
		h.clock.Advance(time.Minute)
		if err := h.svc.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := h.get(id).Status; got != state.PayoutUnknown {
			t.Errorf("status %s while the create call could still be in flight, want unknown", got)
		}
		h.clock.Advance(5 * time.Minute)
		if err := h.svc.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := h.get(id); got.Status != state.PayoutFailed || !strings.Contains(got.Message, "never took effect") {
			t.Errorf("payout %+v, want failed: the provider never got it", got)
		}
		if n := h.creates("ERR5"); n != 1 {
			t.Errorf("%d create calls, want 1", n)
		}
	})
	t.Run("late answer: created, settled by sync", func(t *testing.T) {
		h := newHarness(t, harnessOptions{createTimeout: 300 * time.Millisecond})
		r := h.payout("", payoutBody("SLOW6", "0712345676", "500"))
		m := r.object(t)
		// The payout's own webhook may have settled it while the answer
		// was held back: an unknown outcome never moves it backwards.
		if st := m["payout"].(map[string]any)["status"]; r.status != http.StatusGatewayTimeout || (st != "unknown" && st != "succeeded") {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		id := fmt.Sprint(m["payout_id"])
		eventually(t, "settled", func() bool {
			h.clock.Advance(time.Minute)
			_ = h.svc.Sync(context.Background())
			return h.get(id).Status == state.PayoutSucceeded
		})
		if n := h.creates("SLOW6"); n != 1 {
			t.Errorf("%d create calls, want 1", n)
		}
		if got := h.eventTypes(id); fmt.Sprint(got) != "[payout.succeeded]" {
			t.Errorf("events %v", got)
		}
	})
}

func TestBadRequestsStoreAndSendNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{balance: "5000"})
	mutate := func(f func(m map[string]any)) map[string]any {
		b := payoutBody("BAD1", "0712345670", "1000")
		f(b)
		return b
	}
	tests := []struct {
		name   string
		body   any
		status int
		field  string
		msg    string
	}{
		{"unknown provider", mutate(func(m map[string]any) { m["provider"] = "clickpesa.nope" }), 422, "provider", "names no configured provider"},
		{"collection-only provider", mutate(func(m map[string]any) { m["provider"] = "pesapal.ke" }), 422, "provider", "cannot pay out"},
		{"bad reference", mutate(func(m map[string]any) { m["reference"] = "PO-1" }), 422, "reference", "letters and digits"},
		{"no amount", mutate(func(m map[string]any) { delete(m, "amount") }), 422, "amount", "greater than 0"},
		{"zero amount", mutate(func(m map[string]any) { m["amount"] = "0" }), 422, "amount", "greater than 0"},
		{"too many decimals", mutate(func(m map[string]any) { m["amount"] = "10.123" }), 422, "amount", "at most 2 decimals"},
		{"currency", mutate(func(m map[string]any) { m["currency"] = "KES" }), 422, "currency", "TZS, USD"},
		{"no destination", mutate(func(m map[string]any) { delete(m, "destination") }), 422, "destination", "is required"},
		{"not a mobile-money number", mutate(func(m map[string]any) {
			m["destination"] = map[string]any{"type": "mobile_money", "phone": "0222123456"}
		}), 422, "destination.phone", "not a Tanzanian mobile-money number"},
		{"unknown destination type", mutate(func(m map[string]any) { m["destination"] = map[string]any{"type": "cash"} }), 422, "destination.type", "mobile_money or bank"},
		{"unknown field", mutate(func(m map[string]any) { m["tip"] = "1" }), 422, "tip", "not a known field"},
		{"over the balance", payoutBody("BIG1", "0712345670", "4900"), 422, "amount", "available balance is 5000 TZS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.payout("", tc.body.(map[string]any))
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			var p struct {
				Errors []struct{ Field, Message string } `json:"errors"`
			}
			_ = json.Unmarshal(r.body, &p)
			found := false
			for _, e := range p.Errors {
				if e.Field == tc.field && strings.Contains(e.Message, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("answer %s does not name %s with %q", r.body, tc.field, tc.msg)
			}
		})
	}
	if ps, _ := h.store.ListPayouts(context.Background(), state.PayoutFilter{}); len(ps) != 0 {
		t.Errorf("%d payouts stored from bad requests", len(ps))
	}
	for _, r := range h.emu.Requests() {
		if strings.Contains(r.Path, "create-mobile-money-payout") {
			t.Errorf("a bad request reached the provider's create: %s", r.Body)
		}
	}
	if n := len(h.audit()); n != len(tests) {
		t.Errorf("%d audit entries, want one per request (%d)", n, len(tests))
	}
}

func TestIdempotencyAndReference(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	body := payoutBody("IDEM1", "0712345670", "1000")
	first := h.payout("key-1", body)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again := h.payout("key-1", body)
	if again.status != http.StatusOK || again.object(t)["id"] != first.object(t)["id"] {
		t.Errorf("replay: %d %s, want 200 with the same payout", again.status, again.body)
	}
	other := h.payout("key-1", payoutBody("IDEM2", "0712345670", "1000"))
	if other.status != http.StatusUnprocessableEntity || other.object(t)["type"] != "urn:finconnectd:problem:idempotency-key-reused" {
		t.Errorf("key reused with another body: %d %s", other.status, other.body)
	}
	dup := h.payout("", body)
	if dup.status != http.StatusConflict || dup.object(t)["payout_id"] != first.object(t)["id"] {
		t.Errorf("reference reused: %d %s, want 409 naming the payout", dup.status, dup.body)
	}
	if n := h.creates("IDEM1"); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}
	list := h.do("GET", "/v1/payouts?reference=IDEM1", "", nil)
	var l struct{ Payouts []Payout }
	_ = json.Unmarshal(list.body, &l)
	if list.status != 200 || len(l.Payouts) != 1 {
		t.Errorf("list: %d %s", list.status, list.body)
	}
	if r := h.do("GET", "/v1/payouts/po_nope", "", nil); r.status != 404 {
		t.Errorf("missing payout: %d", r.status)
	}
	if r := h.do("GET", "/v1/payouts?status=paid", "", nil); r.status != http.StatusBadRequest {
		t.Errorf("bad status filter: %d", r.status)
	}
	// The audit trail has every request, replays included.
	var results []string
	for _, e := range h.audit() {
		results = append(results, e.Result)
	}
	if fmt.Sprint(results) != "[rejected rejected replayed created]" {
		t.Errorf("audit results (newest first) %v", results)
	}
}

func TestWebhookProof(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.payout("", payoutBody("HOOK3", "0712345673", "1000")) // no webhook of its own
	if r.status != http.StatusCreated {
		t.Fatal(string(r.body))
	}
	id := fmt.Sprint(r.object(t)["id"])
	p, err := h.store.Payout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	hook := func(data map[string]any, key string) int {
		body := map[string]any{"event": "PAYOUT INITIATED", "data": data}
		raw, _ := json.Marshal(body)
		if key != "" {
			sum, err := clickpesa.Checksum(clickpesa.MethodCanonical, []byte(key), raw)
			if err != nil {
				t.Fatal(err)
			}
			body["checksum"] = sum
			raw, _ = json.Marshal(body)
		}
		url := h.emu.Settings().ClickPesaWebhook
		resp, err := http.Post(url, "application/json", strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	data := func(amount string) map[string]any {
		return map[string]any{"id": p.ProviderReference, "orderReference": "HOOK3", "amount": amount, "fee": "47.10", "currency": "TZS", "status": "SUCCESS"}
	}
	if got := hook(data("1047.10"), "wrong-key"); got != http.StatusUnauthorized {
		t.Errorf("bad checksum: %d, want 401", got)
	}
	if got := hook(data("9047.10"), checksumKey); got != http.StatusUnprocessableEntity {
		t.Errorf("amount not bound to the payout: %d, want 422", got)
	}
	unknown := data("1.00")
	unknown["orderReference"] = "NEVERSENT"
	if got := hook(unknown, checksumKey); got != http.StatusNotFound {
		t.Errorf("payout the provider does not know: %d, want 404", got)
	}
	if got := h.get(id).Status; got != state.PayoutPending {
		t.Errorf("refused webhooks changed the payout to %s", got)
	}
	if got := hook(data("1047.10"), checksumKey); got != http.StatusOK {
		t.Errorf("proven webhook: %d, want 200", got)
	}
	if got := h.get(id).Status; got != state.PayoutSucceeded {
		t.Errorf("status %s after a proven webhook, want succeeded", got)
	}
}

func TestUnsignedWebhookConfirmedByQuery(t *testing.T) {
	h := newHarness(t, harnessOptions{unsigned: true})
	r := h.payout("", payoutBody("UNS0", "0712345670", "1000"))
	if r.status != http.StatusCreated {
		t.Fatal(string(r.body))
	}
	id := fmt.Sprint(r.object(t)["id"])
	eventually(t, "succeeded through the confirmed webhook", func() bool { return h.get(id).Status == state.PayoutSucceeded })
	queried := false
	for _, rq := range h.emu.Requests() {
		if rq.Method == "GET" && strings.HasSuffix(rq.Path, "/payouts/UNS0") {
			queried = true
		}
	}
	if !queried {
		t.Error("an unsigned webhook was applied without asking the provider")
	}
}

// TestRowWithoutAnswer: a process that died during the create call left a
// pending row with no answer; sync settles it by asking, never by sending.
func TestRowWithoutAnswer(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	for _, ref := range []string{"CRASHNEVER", "CRASHSENT"} {
		p := state.Payout{ID: "po_" + strings.ToLower(ref), Provider: "clickpesa.tz", Reference: ref, Amount: "100", Currency: "TZS",
			DestinationType: state.DestinationMobileMoney, Phone: "255712345670", CreatedAt: h.clock.Now()}
		if err := h.store.CreatePayout(ctx, p, state.PayoutLimit{}); err != nil {
			t.Fatal(err)
		}
	}
	// The second one did reach the provider before the crash.
	prov := h.svc.providersOrFail(t, "clickpesa.tz")
	if _, err := prov.Create(ctx, Order{Reference: "CRASHSENT", Amount: "100", Currency: "TZS", Type: state.DestinationMobileMoney, Phone: "255712345670"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "paid at the provider", func() bool {
		o, err := prov.Query(ctx, state.Payout{Reference: "CRASHSENT"})
		return err == nil && o.Status == state.PayoutSucceeded
	})
	h.clock.Advance(2 * time.Minute)
	if err := h.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.get("po_crashsent").Status; got != state.PayoutSucceeded {
		t.Errorf("the payout the provider has: %s, want succeeded", got)
	}
	if got := h.get("po_crashnever").Status; got != state.PayoutFailed {
		t.Errorf("the payout the provider never got: %s, want failed", got)
	}
	if n := h.creates("CRASHNEVER"); n != 0 {
		t.Errorf("sync sent the payout (%d create calls)", n)
	}
}
