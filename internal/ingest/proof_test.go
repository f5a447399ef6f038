package ingest

import (
	"bytes"
	"testing"

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

// TestControlCharacters: a signed notification whose identifiers hold a
// control character is 400 before the store is touched, so every backend
// answers the same (PostgreSQL cannot store a NUL; SQLite would).
func TestControlCharacters(t *testing.T) {
	h := newHarness(t, harnessOptions{signedClickPesa: true})
	priv := newRSAKey(t)
	h.setKeys(&priv.PublicKey, nil, nil)
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
