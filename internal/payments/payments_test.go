package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/state"
)

func phoneFor(provider string, outcome int) string {
	if provider == "pesapal.ke" {
		return fmt.Sprintf("25471234567%d", outcome)
	}
	return fmt.Sprintf("25571234567%d", outcome)
}

// waitProvider polls the provider directly until it reports a terminal
// status for p, so a following Sync or refresh has something to learn.
func (h *harness) waitProvider(p Payment) {
	h.t.Helper()
	payer := h.payers[p.Provider]
	eventually(h.t, 10*time.Second, "provider to settle "+p.Reference, func() bool {
		st, err := payer.QueryPayment(context.Background(), providers.PaymentQuery{Reference: p.Reference, ProviderReference: p.ProviderReference, MNO: p.MNO})
		return err == nil && st.Status.Terminal()
	})
}

func (h *harness) eventTypes(paymentID string) []string {
	var out []string
	for _, e := range h.store.EventsOf(paymentID) {
		out = append(out, e.Type)
		var ev struct {
			Data struct {
				PaymentID string `json:"payment_id"`
				Reference string `json:"reference"`
			} `json:"data"`
		}
		if err := json.Unmarshal(e.Payload, &ev); err != nil || ev.Data.PaymentID != paymentID || ev.Data.Reference == "" {
			h.t.Errorf("event %s payload lacks payment id/reference: %s", e.ID, e.Payload)
		}
		// One delivery, to the provider's own route.
		want := map[string]string{"pesapal.ke": "pp", "clickpesa.tz": "cp", "azampay.tz": "az"}[e.Provider]
		if got := h.store.Routes(e.ID); len(got) != 1 || got[0] != want {
			h.t.Errorf("event %s queued for routes %v, want [%s]", e.ID, got, want)
		}
	}
	return out
}

func TestPayOutcomes(t *testing.T) {
	t.Parallel()
	// Outcome 6 must outlast the initiation timeout; every other outcome
	// must answer within it even on a loaded machine (a 500 ms bound made
	// ordinary outcomes time out there).
	h := newHarness(t, harnessOptions{initiateTimeout: 5 * time.Second,
		settings: sandbox.Settings{SlowAnswer: sandbox.Duration(30 * time.Second)}})
	type tc struct {
		outcome    int
		code       int    // POST answer
		created    string // status in the answer
		final      string // status after sync
		event      string // event emitted by sync
		viaRefresh bool
	}
	cases := []tc{
		{outcome: 0, code: 201, created: "pending", final: "succeeded", event: "payment.succeeded"},
		{outcome: 1, code: 201, created: "pending", final: "failed", event: "payment.failed", viaRefresh: true},
		{outcome: 2, code: 201, created: "pending", final: "failed", event: "payment.failed"},
		{outcome: 3, code: 201, created: "pending", final: "succeeded", event: "payment.succeeded"},
		{outcome: 4, code: 201, created: "pending", final: "succeeded", event: "payment.succeeded", viaRefresh: true},
		{outcome: 5, code: 502, created: "unknown"},
		{outcome: 6, code: 504, created: "unknown", final: "succeeded", event: "payment.succeeded"},
	}
	for _, provider := range []string{"pesapal.ke", "clickpesa.tz", "azampay.tz"} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/outcome%d", provider, c.outcome), func(t *testing.T) {
				h.t = t
				ref := fmt.Sprintf("OUT%d%s", c.outcome, strings.ToUpper(provider[:2]))
				r := h.pay("", paymentBody(provider, ref, phoneFor(provider, c.outcome)))
				if r.status != c.code {
					t.Fatalf("POST: %d %s, want %d", r.status, r.body, c.code)
				}
				var p Payment
				if c.code == 201 {
					r.decode(t, &p)
				} else {
					var prob problemWithPayment
					r.decode(t, &prob)
					if prob.PaymentID == "" || prob.Payment == nil {
						t.Fatalf("error answer lacks the payment: %s", r.body)
					}
					p = *prob.Payment
				}
				if p.Status != c.created || p.ID == "" || p.Reference != ref {
					t.Fatalf("created payment = %+v, want status %s", p, c.created)
				}
				if c.final == "" {
					if got := h.pushes(ref); got != 1 {
						t.Errorf("pushes = %d, want 1", got)
					}
					return
				}
				if provider != "clickpesa.tz" && c.outcome == 6 {
					// No provider reference came back: PesaPal's IPN or
					// AzamPay's callback (ingest) settles it.
					if !canQuery(h.mustStored(p.ID)) {
						return
					}
				}
				h.waitProvider(View(h.mustStored(p.ID)))
				var got Payment
				if c.viaRefresh {
					got = h.get(p.ID, true)
				} else {
					h.clock.Advance(2 * time.Minute)
					if err := h.svc.Sync(context.Background()); err != nil {
						t.Fatalf("Sync: %v", err)
					}
					got = h.get(p.ID, false)
				}
				if got.Status != c.final {
					t.Fatalf("status after sync = %s (%s), want %s", got.Status, got.Message, c.final)
				}
				if ev := h.eventTypes(p.ID); len(ev) != 1 || ev[0] != c.event {
					t.Errorf("events = %v, want [%s]", ev, c.event)
				}
				if n := h.pushes(ref); n != 1 {
					t.Errorf("pushes = %d, want exactly 1", n)
				}
			})
		}
	}
}

func (h *harness) mustStored(id string) state.Payment {
	h.t.Helper()
	p, err := h.store.Payment(context.Background(), id)
	if err != nil {
		h.t.Fatalf("stored payment %s: %v", id, err)
	}
	return p
}

func TestUnknownNeverStartedIsFailedAfterGrace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	r := h.pay("", paymentBody("clickpesa.tz", "NEVER1", phoneFor("clickpesa.tz", 5)))
	if r.status != http.StatusBadGateway {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var prob problemWithPayment
	r.decode(t, &prob)
	// Before the grace: still unknown, rescheduled.
	h.clock.Advance(2 * time.Minute)
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if p := h.mustStored(prob.PaymentID); p.Status != "unknown" || p.SyncAttempts != 1 {
		t.Fatalf("after first sync: %s attempts %d", p.Status, p.SyncAttempts)
	}
	h.clock.Advance(15 * time.Minute)
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if p := h.mustStored(prob.PaymentID); p.Status != "failed" {
		t.Fatalf("after grace: %s", p.Status)
	}
	if n := h.pushes("NEVER1"); n != 1 {
		t.Errorf("pushes = %d", n)
	}
}

func TestSyncBackoffAndGiveUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{Delay: sandbox.Duration(time.Hour)}})
	r := h.pay("", paymentBody("clickpesa.tz", "SLOWCUSTOMER", phoneFor("clickpesa.tz", 0)))
	if r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var p Payment
	r.decode(t, &p)
	created := h.mustStored(p.ID).CreatedAt
	if got := h.mustStored(p.ID).NextSyncAt.Sub(created); got != time.Minute {
		t.Fatalf("first sync after %s, want 1m", got)
	}
	// Not due yet: nothing asked.
	before := h.countPath("/payments/SLOWCUSTOMER")
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.countPath("/payments/SLOWCUSTOMER") != before {
		t.Fatal("sync asked about a payment that was not due")
	}
	for i, want := range []time.Duration{2 * time.Minute, 5 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		st := h.mustStored(p.ID)
		h.clock.Advance(st.NextSyncAt.Sub(h.clock.Now()) + time.Second)
		if err := h.svc.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		st2 := h.mustStored(p.ID)
		if st2.SyncAttempts != i+1 {
			t.Fatalf("attempts = %d, want %d", st2.SyncAttempts, i+1)
		}
		if d := st2.NextSyncAt.Sub(h.clock.Now()); d < want-2*time.Second || d > want+time.Second {
			t.Fatalf("attempt %d: next in %s, want %s", i+1, d, want)
		}
	}
	h.clock.Advance(25 * time.Hour)
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := h.mustStored(p.ID)
	if st.Status != "pending" || st.NextSyncAt.Before(h.clock.Now().AddDate(100, 0, 0)) {
		t.Fatalf("after 24h: status %s next %s; want pending, never", st.Status, st.NextSyncAt)
	}
	due, _ := h.store.DuePayments(context.Background(), h.clock.Now().Add(48*time.Hour), 10)
	if len(due) != 0 {
		t.Fatalf("gave-up payment still due")
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{Delay: sandbox.Duration(time.Hour)}})
	body := paymentBody("clickpesa.tz", "IDEM1", phoneFor("clickpesa.tz", 0))

	first := h.pay("key-1", body)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	// Same key, same body (other spelling): stored answer, 200, nothing new.
	same := map[string]any{}
	for k, v := range body {
		same[k] = v
	}
	same["currency"] = "tzs"
	again := h.pay("key-1", same)
	if again.status != http.StatusOK || string(again.body) != string(first.body) {
		t.Fatalf("replay: %d %s, want 200 %s", again.status, again.body, first.body)
	}
	if n := h.pushes("IDEM1"); n != 1 {
		t.Fatalf("pushes = %d, want 1", n)
	}
	// Same key, other body: 422.
	other := paymentBody("clickpesa.tz", "IDEM2", phoneFor("clickpesa.tz", 0))
	if r := h.pay("key-1", other); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "idempotency-key-reused") {
		t.Fatalf("other body: %d %s", r.status, r.body)
	}
	// Reference already used (no key, and another key): 409.
	for _, key := range []string{"", "key-2"} {
		if r := h.pay(key, body); r.status != http.StatusConflict || !strings.Contains(string(r.body), "reference-in-use") {
			t.Fatalf("reused reference with key %q: %d %s", key, r.status, r.body)
		}
	}
	// A stored error replays as-is.
	if r := h.pay("key-2", body); r.status != http.StatusConflict {
		t.Fatalf("stored error replay: %d %s", r.status, r.body)
	}
	if n := h.pushes("IDEM1"); n != 1 {
		t.Fatalf("pushes = %d, want 1", n)
	}
	// In flight: claim the key as a first request would, then replay.
	v, prob := validate(h.cfg, decodeMap(t, other))
	if prob != nil {
		t.Fatal(prob)
	}
	if _, ok, _ := h.store.ClaimIdempotencyKey(context.Background(), "key-3", v.hash(), h.clock.Now()); !ok {
		t.Fatal("claim")
	}
	if r := h.pay("key-3", other); r.status != http.StatusConflict || !strings.Contains(string(r.body), "in-flight") {
		t.Fatalf("in flight: %d %s", r.status, r.body)
	}
	// Bad keys.
	if r := h.pay(strings.Repeat("k", 256), other); r.status != http.StatusBadRequest {
		t.Fatalf("long key: %d %s", r.status, r.body)
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{Delay: sandbox.Duration(time.Hour), Latency: sandbox.Duration(50 * time.Millisecond)}})
	body := paymentBody("clickpesa.tz", "IDEMC", phoneFor("clickpesa.tz", 0))
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Go(func() { codes[i] = h.pay("same-key", body).status })
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case 201:
			created++
		case 200, 409:
		default:
			t.Errorf("unexpected status %d", c)
		}
	}
	if created != 1 {
		t.Errorf("created = %d (%v), want 1", created, codes)
	}
	if n := h.pushes("IDEMC"); n != 1 {
		t.Errorf("pushes = %d, want 1", n)
	}
}

func decodeMap(t testing.TB, m map[string]any) Request {
	t.Helper()
	b, _ := json.Marshal(m)
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	b, _ := json.Marshal(paymentBody("clickpesa.tz", "AUTH1", phoneFor("clickpesa.tz", 0)))
	for _, token := range []string{"", "wrong", testToken + "x"} {
		r := h.do(http.MethodPost, "/v1/payments", token, "", b)
		if r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("token %q: %d %s", token, r.status, r.body)
		}
		if r := h.do(http.MethodGet, "/v1/payments", token, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("list with token %q: %d", token, r.status)
		}
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/payments"}, {http.MethodGet, "/v1/payments"}, {http.MethodGet, "/v1/payments/pay_x"},
	} {
		r := h.do(c.method, c.path, eventsToken, "", b)
		if r.status != http.StatusForbidden || r.header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(r.body), "insufficient-scope") {
			t.Errorf("%s %s without the payments scope: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if n := h.pushes("AUTH1"); n != 0 {
		t.Errorf("unauthenticated or unscoped request reached the provider")
	}
}

func TestValidationOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	cases := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"unknown field", `{"provider":"clickpesa.tz","reference":"A1","amount":"1","currency":"TZS","phone":"255712345670","extra":1}`, 422, []string{"extra"}},
		{"number amount", `{"provider":"clickpesa.tz","reference":"A1","amount":1000,"currency":"TZS","phone":"255712345670"}`, 422, []string{"amount"}},
		{"malformed", `{"provider":`, 400, nil},
		{"trailing", `{} {}`, 400, nil},
		{"everything wrong", `{"provider":"clickpesa.tz","reference":"A-1","amount":"-5","currency":"KES","phone":"abc"}`, 422, []string{"amount", "currency", "phone", "reference"}},
		{"unknown provider", `{"provider":"mpesa.ke","reference":"A1","amount":"1","currency":"KES","phone":"254712345670"}`, 422, []string{"provider"}},
		{"decimals", `{"provider":"clickpesa.tz","reference":"A1","amount":"1.005","currency":"TZS","phone":"255712345670"}`, 422, []string{"amount"}},
		{"pesapal ipn", `{"provider":"pesapal.ke","reference":"A1","amount":"1","currency":"KES","phone":"254712345670","ipn":"nope"}`, 422, []string{"ipn"}},
		{"two mistyped fields", `{"provider":"clickpesa.tz","reference":"A1","amount":1000,"currency":"TZS","phone":255712345670}`, 422, []string{"amount", "phone"}},
		{"unknown and invalid fields", `{"provider":"clickpesa.tz","reference":"A1","amount":"1","currency":"KES","phone":"255712345670","extra":1,"customer":{"email":7,"nick":"x"}}`, 422,
			[]string{"currency", "customer.email", "customer.nick", "extra"}},
		{"not an object", `[1]`, 400, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(http.MethodPost, "/v1/payments", testToken, "", []byte(c.body))
			if r.status != c.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, c.status)
			}
			var p httpapi.Problem
			r.decode(t, &p)
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(c.fields, ",") {
				t.Errorf("fields = %v, want %v (%s)", got, c.fields, r.body)
			}
		})
	}
	if r := h.do(http.MethodGet, "/v1/payments/pay_nope", testToken, "", nil); r.status != 404 {
		t.Errorf("unknown payment: %d", r.status)
	}
	// Query parameters: 400 naming each bad one, on every endpoint.
	for _, c := range []struct{ path, fields string }{
		{"/v1/payments?status=weird", "status"},
		{"/v1/payments?limit=0&status=weird", "status,limit"},
		{"/v1/payments?limit=abc", "limit"},
		{"/v1/payments/pay_nope?refresh=maybe", "refresh"},
	} {
		r := h.do(http.MethodGet, c.path, testToken, "", nil)
		var p httpapi.Problem
		r.decode(t, &p)
		var got []string
		for _, e := range p.Errors {
			got = append(got, e.Field)
		}
		if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/problem+json" || strings.Join(got, ",") != c.fields {
			t.Errorf("GET %s: %d %s, want 400 naming %s", c.path, r.status, r.body, c.fields)
		}
	}
}

func TestListAndGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{Delay: sandbox.Duration(time.Hour)}})
	for _, ref := range []string{"LIST1", "LIST2"} {
		r := h.pay("", paymentBody("clickpesa.tz", ref, phoneFor("clickpesa.tz", 0)))
		if r.status != 201 {
			t.Fatalf("%s: %d %s", ref, r.status, r.body)
		}
		var p Payment
		r.decode(t, &p)
		if loc := r.header.Get("Location"); loc != "/v1/payments/"+p.ID {
			t.Errorf("201 Location %q, want /v1/payments/%s", loc, p.ID)
		}
	}
	r := h.do(http.MethodGet, "/v1/payments?reference=LIST2&provider=clickpesa.tz", testToken, "", nil)
	var list struct{ Payments []Payment }
	r.decode(t, &list)
	if len(list.Payments) != 1 || list.Payments[0].Reference != "LIST2" {
		t.Fatalf("list by reference: %s", r.body)
	}
	got := h.get(list.Payments[0].ID, false)
	if got.ProviderReference == "" || got.Amount != "1000" || got.Currency != "TZS" {
		t.Fatalf("get: %+v", got)
	}
}

// TestInterruptedInitiationBecomesUnknown: a payment row written before a
// crash (pending, no provider answer recorded) is marked unknown by sync and
// never sent to the provider again.
func TestInterruptedInitiationBecomesUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	created := h.clock.Now().Add(-5 * time.Minute).UTC()
	for _, c := range []struct{ id, provider, ref string }{
		{"pay_crashpesapal", "pesapal.ke", "CRASH-1"},
		{"pay_crashclickpesa", "clickpesa.tz", "CRASH2"},
	} {
		if err := h.store.CreatePayment(context.Background(), state.Payment{ID: c.id, Provider: c.provider, Reference: c.ref,
			Status: "pending", Amount: "1000", Currency: "TZS", CreatedAt: created, UpdatedAt: created, NextSyncAt: created.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for _, id := range []string{"pay_crashpesapal", "pay_crashclickpesa"} {
		if p := h.mustStored(id); p.Status != "unknown" {
			t.Errorf("%s: status %s, want unknown", id, p.Status)
		}
		if ev := h.eventTypes(id); len(ev) != 0 {
			t.Errorf("%s: events %v, want none", id, ev)
		}
	}
	if h.pushes("CRASH-1")+h.pushes("CRASH2") != 0 {
		t.Error("an interrupted initiation was sent again")
	}
	// ClickPesa has no record of it: after the grace period it failed.
	h.clock.Advance(15 * time.Minute)
	if err := h.svc.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if p := h.mustStored("pay_crashclickpesa"); p.Status != "failed" {
		t.Errorf("clickpesa: status %s, want failed", p.Status)
	}
	if p := h.mustStored("pay_crashpesapal"); p.Status != "unknown" {
		t.Errorf("pesapal: status %s, want unknown (its IPN settles it)", p.Status)
	}
}
