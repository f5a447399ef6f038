package clickpesa

import (
	"encoding/json"
	"errors"
	"testing"
)

// The documented PAYOUT REVERSED webhook.
const payoutReversed = `{"event":"PAYOUT REVERSED","data":{"updatedAt":"2026-09-02T10:15:30.000Z","createdAt":"2026-09-01T08:15:02.511Z","id":"PAY17072CD",
 "orderReference":"PO20260901A1","amount":"1047.10","currency":"TZS","fee":"47.10","status":"REVERSED","channel":"MOBILE MONEY",
 "channelProvider":"MPESA TANZANIA","reverse":{"message":"Recipient wallet barred","reversedAt":"2026-09-02T10:15:29.000Z","reversedWithFee":true},
 "beneficiary":{"accountNumber":"255712345678","accountName":"JOHN DOE"},"clientId":"ID1234XHYAJK"},
 "checksum":"00","checksumMethod":"canonical"}`

func TestParsePayoutWebhook(t *testing.T) {
	w, err := ParsePayoutWebhook([]byte(payoutReversed))
	if err != nil {
		t.Fatal(err)
	}
	p := w.Payout
	if w.Event != "PAYOUT REVERSED" || p.ID != "PAY17072CD" || p.OrderReference != "PO20260901A1" || p.Amount != "1047.10" ||
		p.Fee != "47.10" || p.Currency != "TZS" || p.Status != "REVERSED" || p.AccountName != "JOHN DOE" || w.Message != "Recipient wallet barred" {
		t.Errorf("parsed %+v", w)
	}
	if MapPayoutStatus(p.Status) != PayoutReversed {
		t.Errorf("status maps to %s", MapPayoutStatus(p.Status))
	}
	// The older names: eventType and settlementType.
	old, err := ParsePayoutWebhook([]byte(`{"eventType":"PAYOUT INITIATED","data":{"id":"P1","status":"SUCCESS","amount":10,"settlementType":"ACH"}}`))
	if err != nil || old.Event != "PAYOUT INITIATED" || old.Payout.TransferType != "ACH" || old.Payout.Amount != "10" {
		t.Errorf("older names: %+v, %v", old, err)
	}
	for _, bad := range []string{``, `[]`, `{"event":"PAYMENT RECEIVED","data":{"id":"x","status":"SUCCESS"}}`,
		`{"event":"PAYOUT INITIATED"}`, `{"event":"PAYOUT INITIATED","data":{"id":"x"}}`, `{"event":"PAYOUT INITIATED","data":{"status":"SUCCESS"}}`,
		`{"event":"PAYOUT INITIATED","data":{"id":{},"status":"SUCCESS"}}`} {
		if _, err := ParsePayoutWebhook([]byte(bad)); !errors.Is(err, ErrInvalidWebhook) {
			t.Errorf("%s: err = %v, want ErrInvalidWebhook", bad, err)
		}
	}
}

func TestMapPayoutStatus(t *testing.T) {
	for in, want := range map[string]string{
		"SUCCESS": PayoutSucceeded, "success": PayoutSucceeded, "FAILED": PayoutFailed, "REFUNDED": PayoutFailed,
		"REVERSED": PayoutReversed, "AUTHORIZED": PayoutPending, "PROCESSING": PayoutPending, "PENDING": PayoutPending, "": PayoutPending,
	} {
		if got := MapPayoutStatus(in); got != want {
			t.Errorf("MapPayoutStatus(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestJSNumber(t *testing.T) {
	for in, want := range map[string]string{"1000": "1000", "1000.50": "1000.5", "1000.00": "1000", "0.10": "0.1", "007": "7", "0": "0"} {
		if got := jsNumber(json.Number(in)); string(got) != want {
			t.Errorf("jsNumber(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParsePayoutWebhook(f *testing.F) {
	f.Add([]byte(payoutReversed))
	f.Add([]byte(`{"eventType":"PAYOUT INITIATED","data":{"id":"P1","status":"SUCCESS"}}`))
	f.Add([]byte(`{"event":"PAYOUT","data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := ParsePayoutWebhook(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidWebhook) {
				t.Fatalf("error %v does not wrap ErrInvalidWebhook", err)
			}
			return
		}
		if w.Payout.Status == "" || (w.Payout.ID == "" && w.Payout.OrderReference == "") || !IsPayoutEvent(w.Event) {
			t.Fatalf("accepted an incomplete webhook: %+v", w)
		}
	})
}
