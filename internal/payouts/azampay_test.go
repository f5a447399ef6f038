package payouts

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

func azBody(ref, phone, amount string) map[string]any {
	b := payoutBody(ref, phone, amount)
	b["provider"] = "azampay.tz"
	return b
}

// disburses counts the disburse calls the emulator received for a reference.
func (h *harness) disburses(reference string) int {
	n := 0
	for _, r := range h.emu.Requests() {
		if strings.HasSuffix(r.Path, "/api/v1/azampay/disburse") && strings.Contains(r.Body, `"`+reference+`"`) {
			n++
		}
	}
	return n
}

// syncUntil runs payout sync with the clock moved past the next sync time
// until payout id reaches want.
func (h *harness) syncUntil(id, want string) {
	h.t.Helper()
	eventually(h.t, "payout "+id+" "+want, func() bool {
		h.clock.Advance(time.Minute)
		_ = h.svc.Sync(context.Background())
		return h.get(id).Status == want
	})
}

// TestAzamPayDisbursement: a payout through AzamPay looks the receiver's
// name up, disburses from the configured account with a checksum the
// emulator verifies, and is settled by sync asking AzamPay's status; a
// wallet AzamPay does not disburse to, a number without a wallet holder
// and a bad reference are 422s with nothing sent; an unknown outcome is
// never sent again and, with no pgReferenceId to ask about, stays unknown.
func TestAzamPayDisbursement(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.payout("az-1", azBody("AZ-PAY-1", "0781234560", "850000"))
	if r.status != http.StatusCreated {
		t.Fatalf("disbursement: %d %s", r.status, r.body)
	}
	p := r.object(t)
	if p["status"] != "pending" || p["receiver_name"] != "SANDBOX WALLET 4560" || p["channel"] != "airtel" || p["provider_reference"] == "" {
		t.Errorf("disbursement %s", r.body)
	}
	ok := p["id"].(string)
	h.syncUntil(ok, state.PayoutSucceeded)
	if evs := h.eventTypes(ok); len(evs) != 1 || evs[0] != "payout.succeeded" {
		t.Errorf("events %v", evs)
	}

	failed := h.payout("", azBody("AZ-PAY-2", "0651234561", "1000")) // Tigo, last digit 1
	if failed.status != http.StatusCreated {
		t.Fatalf("disbursement to fail: %d %s", failed.status, failed.body)
	}
	h.syncUntil(failed.object(t)["id"].(string), state.PayoutFailed)

	for _, c := range []struct{ name, ref, phone, field, msg string }{
		{"M-Pesa number", "AZ-BAD-1", "0754123450", "destination.phone", "not an Airtel or Tigo number"},
		{"no wallet holder", "AZ-BAD-2", "0781234569", "destination.phone", "no wallet holder"},
		{"reference too long", "AZ-BAD-3-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0781234560", "reference", "1 to 30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.payout("", azBody(c.ref, c.phone, "1000"))
			if r.status != http.StatusUnprocessableEntity || !decodeProblem(t, r).names(c.field, c.msg) {
				t.Errorf("%d %s, want 422 naming %s with %q", r.status, r.body, c.field, c.msg)
			}
			if h.disburses(c.ref) != 0 {
				t.Error("a refused disbursement reached AzamPay")
			}
		})
	}

	unknown := h.payout("", azBody("AZ-PAY-5", "0781234565", "1000")) // AzamPay answers 500
	if unknown.status != http.StatusBadGateway {
		t.Fatalf("server error: %d %s", unknown.status, unknown.body)
	}
	id := unknown.object(t)["payout_id"].(string)
	for range 3 {
		h.clock.Advance(10 * time.Minute)
		_ = h.svc.Sync(context.Background())
	}
	if got := h.get(id); got.Status != state.PayoutUnknown || h.disburses("AZ-PAY-5") != 1 {
		t.Errorf("unknown disbursement after sync: %s, %d disburse calls; want unknown and 1", got.Status, h.disburses("AZ-PAY-5"))
	}
}

// TestAzamPayRefundByDisbursement: with refund_by_payout, an AzamPay
// payment is refunded as a disbursement to the number that paid, and the
// payment becomes partially_refunded once sync sees it paid.
func TestAzamPayRefundByDisbursement(t *testing.T) {
	h := newHarness(t, harnessOptions{refunds: true})
	pay := h.store.Put(state.Payment{Provider: "azampay.tz", Reference: "AZ-ORDER-1", Status: state.StatusSucceeded,
		Amount: "5000", Currency: "TZS", Phone: "0781234560", MNO: "Airtel"})
	r := h.refund(pay.ID, "", map[string]any{"reference": "AZ-RF-1", "amount": "2000", "reason": "short delivery"})
	if r.status != http.StatusCreated {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	id := r.object(t)["id"].(string)
	h.syncUntil(id, state.PayoutSucceeded)
	eventually(t, "the payment partially refunded", func() bool { return h.paymentStatus(pay.ID) == state.StatusPartiallyRefunded })
	if evs := h.eventTypes(id); len(evs) != 1 || evs[0] != "refund.succeeded" {
		t.Errorf("refund events %v", evs)
	}
	mpesa := h.store.Put(state.Payment{Provider: "azampay.tz", Reference: "AZ-ORDER-2", Status: state.StatusSucceeded,
		Amount: "5000", Currency: "TZS", Phone: "0754123450", MNO: "Mpesa"})
	if r := h.refund(mpesa.ID, "", map[string]any{"reference": "AZ-RF-2", "reason": "x"}); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "Airtel and Tigo") {
		t.Errorf("refund to an M-Pesa payer: %d %s", r.status, r.body)
	}
}

// TestAzamPayDisbursementCallback: AzamPay's disbursement callback carries
// no proof, so it only makes finconnectd ask AzamPay about the payout by
// the pgReferenceId it stored; a callback naming another pgReferenceId is
// 422, one about a payout without a stored id changes nothing, one about a
// reference finconnectd never sent is acknowledged and ignored.
func TestAzamPayDisbursementCallback(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.payout("", azBody("AZ-CB-1", "0781234560", "1000"))
	if r.status != http.StatusCreated {
		t.Fatalf("disbursement: %d %s", r.status, r.body)
	}
	p := r.object(t)
	id, pg := p["id"].(string), p["provider_reference"].(string)
	callback := func(ref, pgRef, status string) (int, string) {
		b := []byte(`{"initiatorReferenceId":"` + ref + `","pgReferenceId":"` + pgRef + `","fspReferenceId":"AM1","amount":"1000","status":"` + status +
			`","message":"Transaction completed","operator":"Airtel","additionalProperties":null}`)
		code, outcome, _ := h.svc.AzamPayDisbursement(context.Background(), "azampay.tz", "az", b)
		return code, outcome
	}
	if code, outcome := callback("AZ-CB-1", "someone-elses-id", "success"); code != http.StatusUnprocessableEntity {
		t.Fatalf("callback with another pgReferenceId: %d %s, want 422", code, outcome)
	}
	if got := h.get(id); got.Status != state.PayoutPending && got.Status != state.PayoutSucceeded {
		t.Fatalf("payout %s after a mismatching callback", got.Status)
	}
	eventually(t, "the callback confirmed by AzamPay's status", func() bool {
		code, _ := callback("AZ-CB-1", pg, "success")
		return code == http.StatusOK && h.get(id).Status == state.PayoutSucceeded
	})
	if code, outcome := callback("AZ-CB-1", pg, "success"); code != http.StatusOK || outcome != "duplicate" {
		t.Errorf("the same callback again: %d %s, want 200 duplicate", code, outcome)
	}
	if evs := h.eventTypes(id); len(evs) != 1 || evs[0] != "payout.succeeded" {
		t.Errorf("events %v, want one payout.succeeded", evs)
	}
	// A forged "success" for a payout AzamPay failed changes nothing: the
	// status query says failed.
	failed := h.payout("", azBody("AZ-CB-2", "0651234561", "1000"))
	fid, fpg := failed.object(t)["id"].(string), failed.object(t)["provider_reference"].(string)
	eventually(t, "the failing disbursement settled by the callback's query", func() bool {
		code, _ := callback("AZ-CB-2", fpg, "success")
		return code == http.StatusOK && h.get(fid).Status == state.PayoutFailed
	})
	if code, outcome := callback("AZ-NEVER-SENT", "x", "success"); code != http.StatusOK || outcome != "ignored" {
		t.Errorf("callback about a reference never sent: %d %s, want 200 ignored", code, outcome)
	}
	lost := h.payout("", azBody("AZ-CB-5", "0781234565", "1000")) // AzamPay answers 500: no pgReferenceId stored
	lid := lost.object(t)["payout_id"].(string)
	if code, outcome := callback("AZ-CB-5", "claimed-id", "success"); code != http.StatusOK || outcome != "unconfirmed" || h.get(lid).Status != state.PayoutUnknown {
		t.Errorf("callback for a payout without a stored id: %d %s, payout %s; want 200 unconfirmed, still unknown", code, outcome, h.get(lid).Status)
	}
}
