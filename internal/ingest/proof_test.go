package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/testkit"

	"github.com/finconnectd/finconnectd/internal/state"
)

// TestExactPaths: a route is served at its exact, unencoded path only; an
// encoded spelling of the same path is 404 and changes nothing.
func TestExactPaths(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDP", Status: "pending", Amount: "1000", Currency: "TZS"})
	body := clickPesaBody(t, checksumKey, "ORDP", "SUCCESS", "1000")
	for _, path := range []string{"/hooks%2fclickpesa", "/hooks%2Fclickpesa", "/hooks/%63lickpesa", "/%68ooks/clickpesa"} {
		t.Run(path, func(t *testing.T) {
			if code, b := h.send("POST", path, "application/json", body); code != 404 {
				t.Fatalf("code = %d (%s), want 404", code, b)
			}
			if n := h.store.EventCount(); n != 0 {
				t.Fatalf("events = %d, want 0", n)
			}
		})
	}
	if code, b := h.send("POST", "/hooks/clickpesa", "application/json", body); code != 200 {
		t.Fatalf("exact path: code = %d (%s), want 200", code, b)
	}
}

// TestClickPesaStoredWithoutChecksum: a signed ClickPesa webhook is stored
// without its checksum fields (proofs are kept nowhere), the rest as
// received.
func TestClickPesaStoredWithoutChecksum(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	h.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: "ORDS", Status: "pending", Amount: "1000", Currency: "TZS"})
	if code, b := h.send("POST", "/hooks/clickpesa", "application/json", clickPesaBody(t, checksumKey, "ORDS", "SUCCESS", "1000")); code != 200 {
		t.Fatalf("code = %d (%s), want 200", code, b)
	}
	ns := h.store.Notifications()
	if len(ns) != 1 {
		t.Fatalf("%d notifications stored, want 1", len(ns))
	}
	body := ns[0].Body
	if bytes.Contains(body, []byte(`"checksum`)) {
		t.Fatalf("stored notification holds a checksum field: %s", body)
	}
	if !bytes.Contains(body, []byte(`"orderReference":"ORDS"`)) || !bytes.Contains(body, []byte(`"event":"PAYMENT RECEIVED"`)) {
		t.Fatalf("stored notification lost the webhook's fields: %s", body)
	}
}

// TestControlCharacters: a signed notification whose identifiers hold a
// control character is 400 before the store is touched, so every backend
// answers the same (PostgreSQL cannot store a NUL; SQLite would).
func TestControlCharacters(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	priv := newRSAKey(t)
	h.setKeys(&priv.PublicKey, &priv.PublicKey)
	tests := []struct {
		name, path string
		body       []byte
	}{
		{"clickpesa NUL in orderReference", "/hooks/clickpesa", clickPesaBody(t, checksumKey, "ORD\x001", "SUCCESS", "1000")},
		{"clickpesa escape in id", "/hooks/clickpesa", clickPesaBody(t, checksumKey, "ORD\x1b[2J", "SUCCESS", "1000")},
		{"azampay NUL in utilityref", "/hooks/azampay", azamPayBody(t, priv, "AZ\x00X", "success", "1000", nil)},
		{"pesapal NUL in tracking id", "/hooks/pesapal", []byte(`{"OrderTrackingId":"T\u0000","OrderNotificationType":"IPNCHANGE"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := h.send("POST", tc.path, "application/json", tc.body)
			if code != 400 {
				t.Fatalf("code = %d (%s), want 400", code, b)
			}
			if !bytes.Contains(b, []byte("control characters")) {
				t.Fatalf("answer %s does not name the problem", b)
			}
		})
	}
	if n := len(h.store.Notifications()); n != 0 {
		t.Fatalf("notifications stored = %d, want 0", n)
	}
	if n := h.store.EventCount(); n != 0 {
		t.Fatalf("events = %d, want 0", n)
	}
}

// TestAzamPayBoundaryShift: AzamPay's signature covers utilityref +
// externalreference + transactionstatus + operator with no separators, so
// moving characters from externalreference to utilityref keeps a genuine
// signature valid while naming another payment. Such a callback must
// neither settle that payment (which failed) nor create a new one.
func TestAzamPayBoundaryShift(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rec := testkit.NewTap(t, "utilityref", h.srv.URL+"/hooks/azampay")
	h.emu.UpdateSettings(func(s *sandbox.Settings) { s.AzamPayCallback = rec.URL })
	payer, _ := h.set.Payer("azampay.tz")
	ctx := context.Background()

	initiate := func(ref, phone string) providers.PaymentResult {
		t.Helper()
		res, err := payer.InitiatePayment(ctx, providers.PaymentRequest{Reference: ref, Amount: "1000", Currency: "TZS", Phone: phone, MNO: "Tigo"})
		if err != nil {
			t.Fatalf("initiate %s: %v", ref, err)
		}
		h.store.Put(state.Payment{Provider: "azampay.tz", Reference: ref, ProviderReference: res.ProviderReference, Status: "pending", Amount: "1000", Currency: "TZS"})
		return res
	}
	// A succeeds (phone ending 0); B, named so that a shifted A callback
	// names it, fails (ending 1: insufficient funds).
	a := initiate("SHIFTA", "255712345670")
	refB := "SHIFTA" + a.ProviderReference[:1]
	initiate(refB, "255712345671")
	for ref, want := range map[string]state.PaymentStatus{"SHIFTA": "succeeded", refB: "failed"} {
		testkit.Eventually(t, ref+" "+string(want), func() bool {
			p, _ := h.store.ByRef("azampay.tz", ref)
			return p.Status == want && rec.Body(ref) != nil
		})
	}
	genuine := rec.Body("SHIFTA")
	shift := func(n int) []byte {
		var m map[string]any
		if err := json.Unmarshal(genuine, &m); err != nil {
			t.Fatalf("callback: %v", err)
		}
		m["utilityref"] = "SHIFTA" + a.ProviderReference[:n]
		m["externalreference"] = a.ProviderReference[n:]
		b, _ := json.Marshal(m)
		return b
	}
	events := h.store.EventCount()

	// Onto B: the provider's record of B decides, and B failed.
	code, body := h.send("POST", "/hooks/azampay", "application/json", shift(1))
	if code == http.StatusUnauthorized {
		t.Fatalf("the shifted callback's signature did not verify (%s): the test no longer forges anything", body)
	}
	if p, _ := h.store.ByRef("azampay.tz", refB); p.Status != "failed" {
		t.Fatalf("the shifted callback moved %s to %s (answer %d %s)", refB, p.Status, code, body)
	}
	// Onto a reference nobody started: the provider does not know that
	// transaction, so nothing is created.
	code, body = h.send("POST", "/hooks/azampay", "application/json", shift(2))
	if code != http.StatusNotFound {
		t.Fatalf("shifted onto an unknown reference: %d %s, want 404", code, body)
	}
	if _, ok := h.store.ByRef("azampay.tz", "SHIFTA"+a.ProviderReference[:2]); ok {
		t.Fatal("a payment was created from a shifted callback")
	}
	if n := h.store.EventCount(); n != events {
		t.Fatalf("events %d → %d after the forgeries, want none", events, n)
	}
	// The genuine callback, again, is a duplicate.
	if code, body := h.send("POST", "/hooks/azampay", "application/json", genuine); code != http.StatusOK {
		t.Fatalf("genuine callback again: %d %s", code, body)
	}
	if n := h.store.EventCount(); n != events {
		t.Fatalf("the genuine callback again emitted an event")
	}
}

// TestAzamPayUnsignedConfirmedByQuery: an account AzamPay does not sign
// callbacks for still settles its payments, each through the collection
// status query; the clientId AzamPay echoes is stored nowhere.
func TestAzamPayUnsignedConfirmedByQuery(t *testing.T) {
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{AzamPayUnsigned: true}})
	payer, _ := h.set.Payer("azampay.tz")
	res, err := payer.InitiatePayment(context.Background(), providers.PaymentRequest{
		Reference: "AZUNS1", Amount: "2500", Currency: "TZS", Phone: "255712345670", MNO: "Tigo"})
	if err != nil {
		t.Fatalf("initiate: %v", err)
	}
	h.store.Put(state.Payment{Provider: "azampay.tz", Reference: "AZUNS1", ProviderReference: res.ProviderReference, Status: "pending", Amount: "2500", Currency: "TZS"})
	testkit.Eventually(t, "payment.succeeded", func() bool {
		p, _ := h.store.ByRef("azampay.tz", "AZUNS1")
		return p.Status == "succeeded" && len(h.store.EventsOf(p.ID)) == 1
	})
	p, _ := h.store.ByRef("azampay.tz", "AZUNS1")
	for _, e := range h.store.EventsOf(p.ID) {
		if bytes.Contains(e.Payload, []byte("clientId")) || bytes.Contains(e.Payload, []byte(`"signature"`)) {
			t.Fatalf("event forwards a credential: %s", e.Payload)
		}
	}
	for _, n := range h.store.Notifications() {
		if bytes.Contains(n.Body, []byte("clientId")) {
			t.Fatalf("stored notification holds the clientId: %s", n.Body)
		}
	}
	if bytes.Contains(p.Raw, []byte("clientId")) {
		t.Fatalf("payment raw holds the clientId: %s", p.Raw)
	}
}

// TestUnknownFloodDoesNotStarveKnown: IPNs naming tracking ids nobody
// holds spend their own budget; the IPN of a payment we wait for is
// confirmed from another.
func TestUnknownFloodDoesNotStarveKnown(t *testing.T) {
	h := newHarness(t, harnessOptions{rate: 0.001, burst: 1})
	rel := make(chan struct{})
	close(rel)
	h.payers = map[string]providers.Payer{"pesapal.ke": &countingPayer{release: rel, st: providers.PaymentStatus{
		Status: providers.StatusSucceeded, Reference: "KNOWN1", Amount: "10", Currency: "KES"}}}
	h.store.Put(state.Payment{Provider: "pesapal.ke", Reference: "KNOWN1", ProviderReference: "TK", Status: "pending", Amount: "10", Currency: "KES"})
	limited := 0
	for i := range 5 {
		code, _ := h.send("GET", "/hooks/pesapal?OrderTrackingId=FLOOD"+strconv.Itoa(i)+"&OrderMerchantReference=NOPE"+strconv.Itoa(i), "", nil)
		if code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 4 {
		t.Fatalf("%d of 5 unknown IPNs limited, want at least 4 (burst 1)", limited)
	}
	if code, b := h.send("GET", "/hooks/pesapal?OrderTrackingId=TK&OrderMerchantReference=KNOWN1", "", nil); code != http.StatusOK {
		t.Fatalf("the known payment's IPN: %d %s, want 200", code, b)
	}
	if p, _ := h.store.ByRef("pesapal.ke", "KNOWN1"); p.Status != "succeeded" {
		t.Fatalf("known payment %s, want succeeded", p.Status)
	}
}
