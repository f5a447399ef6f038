package payouts

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

func bankBody(ref, bank, account, amount string) map[string]any {
	return map[string]any{
		"provider": "clickpesa.tz", "reference": ref, "amount": amount, "currency": "TZS",
		"destination": map[string]any{"type": "bank", "bank": bank, "account_number": account, "account_name": "TEMBO SHOP"},
	}
}

// TestBankPayouts: a ClickPesa bank payout is previewed (fee, the account
// holder's name from the bank, ACH or RTGS, the balance; nothing stored or
// sent), then sent and settled by the webhook; an unknown bank, a bank
// the allow-list leaves out and bad account fields are 422s naming the
// field, with nothing stored or sent.
func TestBankPayouts(t *testing.T) {
	h := newHarness(t, harnessOptions{balance: "100000000", payouts: config.PayoutsConfig{AllowedBanks: []string{"CORUTZTZ", "NMIBTZTZ", "ABCDTZTZ"}}})
	pv := h.do("POST", "/v1/payouts/preview", "", bankBody("BANK1", "corutztz", "0150123456780", "20000"))
	var got PreviewAnswer
	if pv.status != http.StatusOK || json.Unmarshal(pv.body, &got) != nil {
		t.Fatalf("preview: %d %s", pv.status, pv.body)
	}
	want := PreviewAnswer{Provider: "clickpesa.tz", Reference: "BANK1", Amount: "20000", Currency: "TZS",
		Destination: Destination{Type: "bank", Bank: "CORUTZTZ", AccountNumber: "0150123456780", AccountName: "TEMBO SHOP"},
		Fee:         "942.00", Total: "20942.00", Balance: "100000000.00", ReceiverName: "SANDBOX ACCOUNT 6780", NameLookup: "RESOLVED",
		Channel: "CRDB BANK PLC", TransferType: "ACH", EstimatedArrival: "Instant"}
	if got != want {
		t.Errorf("preview\n got %+v\nwant %+v", got, want)
	}
	if ps, _ := h.store.ListPayouts(context.Background(), state.PayoutFilter{}); len(ps) != 0 || h.creates("BANK1") != 0 {
		t.Fatal("a preview stored or sent a payout")
	}
	unavailable := h.do("POST", "/v1/payouts/preview", "", bankBody("BANK2", "NMIBTZTZ", "0150123456789", "25000000"))
	if unavailable.status != 200 || !strings.Contains(string(unavailable.body), `"name_lookup":"UNAVAILABLE"`) ||
		!strings.Contains(string(unavailable.body), `"receiver_name":""`) || !strings.Contains(string(unavailable.body), `"transfer_type":"RTGS"`) {
		t.Errorf("preview without name lookup: %d %s", unavailable.status, unavailable.body)
	}

	r := h.payout("bank-1", bankBody("BANK1", "CORUTZTZ", "0150123456780", "20000"))
	if r.status != http.StatusCreated {
		t.Fatalf("bank payout: %d %s", r.status, r.body)
	}
	p := r.object(t)
	dest, _ := p["destination"].(map[string]any)
	if dest["type"] != "bank" || dest["bank"] != "CORUTZTZ" || dest["account_number"] != "0150123456780" || p["channel"] != "CRDB BANK PLC" || p["receiver_name"] != "SANDBOX ACCOUNT 6780" {
		t.Errorf("bank payout %s", r.body)
	}
	id := p["id"].(string)
	eventually(t, "the bank payout paid", func() bool { return h.get(id).Status == state.PayoutSucceeded })
	if evs := h.eventTypes(id); len(evs) != 1 || evs[0] != "payout.succeeded" {
		t.Errorf("events %v", evs)
	}

	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
		msg   string
	}{
		{"unknown bank", bankBody("BANK3", "ABCDTZTZ", "0150123456780", "100"), "destination.bank", "is not a bank clickpesa.tz pays to"},
		{"bank not allowed", bankBody("BANK4", "AMNNTZTZ", "0150123456780", "100"), "destination.bank", "not an allowed bank"},
		{"bad bank code", bankBody("BANK5", "CRDB", "0150123456780", "100"), "destination.bank", "not a bank code"},
		{"bad account", bankBody("BANK6", "CORUTZTZ", "12-34", "100"), "destination.account_number", "6 to 20 digits"},
		{"no account name", func() map[string]any {
			b := bankBody("BANK7", "CORUTZTZ", "0150123456780", "100")
			delete(b["destination"].(map[string]any), "account_name")
			return b
		}(), "destination.account_name", "is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/v1/payouts/preview", "/v1/payouts"} {
				r := h.do("POST", path, "", c.body)
				if r.status != http.StatusUnprocessableEntity || !decodeProblem(t, r).names(c.field, c.msg) {
					t.Errorf("%s: %d %s, want 422 naming %s with %q", path, r.status, r.body, c.field, c.msg)
				}
			}
			ref := c.body["reference"].(string)
			if _, err := h.store.PayoutByReference(context.Background(), "clickpesa.tz", ref); err == nil || h.creates(ref) != 0 {
				t.Error("a refused bank payout was stored or sent")
			}
		})
	}
	if r := h.doAs(shopToken, "POST", "/v1/payouts/preview", "", bankBody("BANK8", "CORUTZTZ", "0150123456780", "100")); r.status != http.StatusForbidden {
		t.Errorf("collect-only token previews: %d", r.status)
	}
}
