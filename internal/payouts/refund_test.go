package payouts

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

func (h *harness) refund(paymentID, key string, body map[string]any) response {
	h.t.Helper()
	return h.do("POST", "/v1/payments/"+paymentID+"/refunds", key, body)
}

func (h *harness) paymentStatus(id string) state.PaymentStatus {
	h.t.Helper()
	p, err := h.store.Payment(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Status
}

func (h *harness) paymentEvents(id string) []string {
	var out []string
	for _, e := range h.store.EventsOf(id) {
		out = append(out, e.Type)
	}
	return out
}

// TestClickPesaRefundByPayout: a ClickPesa payment is refunded as payouts
// to the number that paid, in part then in full; the refunds emit
// refund.succeeded and the payment becomes partially_refunded, then
// refunded, through the status rule. What cannot be refunded is refused
// with nothing stored or sent.
func TestClickPesaRefundByPayout(t *testing.T) {
	h := newHarness(t, harnessOptions{refunds: true})
	pay := h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDER1", Status: state.StatusSucceeded,
		Amount: "10000", Currency: "TZS", Phone: "255712345670"})
	pending := h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDER2", Status: state.StatusPending,
		Amount: "10000", Currency: "TZS", Phone: "255712345670"})

	first := h.refund(pay.ID, "rk-1", map[string]any{"reference": "RF1", "amount": "4000", "reason": "damaged item"})
	if first.status != http.StatusCreated {
		t.Fatalf("partial refund: %d %s", first.status, first.body)
	}
	got := first.object(t)
	dest, _ := got["destination"].(map[string]any)
	if got["payment_id"] != pay.ID || got["amount"] != "4000" || dest["phone"] != "255712345670" || got["description"] != "damaged item" {
		t.Errorf("refund %s", first.body)
	}
	id := got["id"].(string)
	eventually(t, "the first refund paid and the payment partially refunded", func() bool {
		return h.get(id).Status == state.PayoutSucceeded && h.paymentStatus(pay.ID) == state.StatusPartiallyRefunded
	})
	if again := h.refund(pay.ID, "rk-1", map[string]any{"reference": "RF1", "amount": "4000", "reason": "damaged item"}); again.status != http.StatusOK || again.object(t)["id"] != id {
		t.Errorf("replay: %d %s", again.status, again.body)
	}

	refused := []struct {
		name, payment string
		body          map[string]any
		status        int
		want          string
	}{
		{"more than is left", pay.ID, map[string]any{"reference": "RF2", "amount": "7000", "reason": "x"}, 422, "left to refund: 6000"},
		{"reference used", pay.ID, map[string]any{"reference": "RF1", "reason": "x"}, 409, "reference-in-use"},
		{"no reason", pay.ID, map[string]any{"reference": "RF3"}, 422, `"reason"`},
		{"not paid", pending.ID, map[string]any{"reference": "RF4", "reason": "x"}, 409, "only a succeeded"},
		{"no such payment", "pay_nope", map[string]any{"reference": "RF5", "reason": "x"}, 404, "No payment"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := h.refund(c.payment, "", c.body)
			if r.status != c.status || !strings.Contains(string(r.body), c.want) {
				t.Errorf("%d %s, want %d with %q", r.status, r.body, c.status, c.want)
			}
		})
	}

	rest := h.refund(pay.ID, "", map[string]any{"reference": "RF6", "reason": "order cancelled"})
	if rest.status != http.StatusCreated || rest.object(t)["amount"] != "6000" {
		t.Fatalf("refund of the rest: %d %s", rest.status, rest.body)
	}
	eventually(t, "the payment refunded", func() bool { return h.paymentStatus(pay.ID) == state.StatusRefunded })
	if r := h.refund(pay.ID, "", map[string]any{"reference": "RF7", "reason": "x"}); r.status != http.StatusConflict {
		t.Errorf("refund of a refunded payment: %d %s", r.status, r.body)
	}
	if evs := h.paymentEvents(pay.ID); !slices.Contains(evs, "payment.partially_refunded") || !slices.Contains(evs, "payment.refunded") {
		t.Errorf("payment events %v", evs)
	}
	if evs := h.eventTypes(id); len(evs) != 1 || evs[0] != "refund.succeeded" {
		t.Errorf("refund events %v, want refund.succeeded", evs)
	}
	list := h.do("GET", "/v1/payments/"+pay.ID+"/refunds", "", nil)
	var l struct{ Refunds []Payout }
	if list.status != 200 || json.Unmarshal(list.body, &l) != nil || len(l.Refunds) != 2 {
		t.Errorf("refunds of the payment: %d %s", list.status, list.body)
	}
	if n := h.creates("RF2") + h.creates("RF3") + h.creates("RF4") + h.creates("RF7"); n != 0 {
		t.Errorf("%d refused refunds reached the provider", n)
	}
	var audited int
	for _, e := range h.audit() {
		if e.Action == "refund.create" {
			audited++
		}
	}
	if audited != 2+1+len(refused)+1 {
		t.Errorf("%d refund requests audited", audited)
	}

	// Without refund_by_payout ClickPesa refunds are refused.
	cfg := *h.cfg
	cp := *h.cfg.Providers[0].ClickPesa
	cp.RefundByPayout = false
	prov := *h.cfg.Providers[0]
	prov.ClickPesa = &cp
	cfg.Providers = []*config.Provider{&prov, h.cfg.Providers[1]}
	h.setConfig(&cfg)
	other := h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDER3", Status: state.StatusSucceeded,
		Amount: "500", Currency: "TZS", Phone: "255712345670"})
	if r := h.refund(other.ID, "", map[string]any{"reference": "RF8", "reason": "x"}); r.status != 422 || !strings.Contains(string(r.body), "refund_by_payout") {
		t.Errorf("refunds not enabled: %d %s", r.status, r.body)
	}
	if r := h.doAs(shopToken, "POST", "/v1/payments/"+other.ID+"/refunds", "", map[string]any{"reference": "RF9", "reason": "x"}); r.status != http.StatusForbidden {
		t.Errorf("collect-only token: %d", r.status)
	}
}

// TestRefundedPaymentCaughtUp: a refund that succeeded while its payment
// was not moved (the process stopped between the two transactions) is
// caught up by the next payout sync.
func TestRefundedPaymentCaughtUp(t *testing.T) {
	h := newHarness(t, harnessOptions{refunds: true})
	pay := h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDERC1", Status: state.StatusSucceeded,
		Amount: "1000", Currency: "TZS", Phone: "255712345673"})
	ctx := context.Background()
	rf := state.Payout{ID: "po_caught", Provider: "clickpesa.tz", Reference: "RFC1", Amount: "1000", Currency: "TZS",
		DestinationType: state.DestinationMobileMoney, Phone: "255712345673", PaymentID: pay.ID, Token: "finance"}
	if err := h.store.CreatePayout(ctx, rf, state.PayoutLimit{}); err != nil {
		t.Fatal(err)
	}
	// The refund's success recorded straight in the store: no payment move.
	if _, err := h.store.ApplyPayoutStatus(ctx, state.PayoutChange{ID: rf.ID, Status: state.PayoutSucceeded}); err != nil {
		t.Fatal(err)
	}
	if got := h.paymentStatus(pay.ID); got != state.StatusSucceeded {
		t.Fatalf("payment %s before sync", got)
	}
	if err := h.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.paymentStatus(pay.ID); got != state.StatusRefunded {
		t.Errorf("payment %s after sync, want refunded", got)
	}
}
