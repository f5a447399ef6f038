package ingest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
)

// fuzzIngester is an ingester with a signed ClickPesa route, an AzamPay
// route whose key no fuzzed body can match, and a PesaPal route whose
// status query says the payment does not exist (as for a forged IPN).
func fuzzIngester(t testing.TB) (*harness, *Ingester) {
	t.Helper()
	h := newHarness(t, harnessOptions{signedClickPesa: true, rate: 1e9, burst: 1 << 30})
	rel := make(chan struct{})
	close(rel)
	h.payers = map[string]providers.Payer{"pesapal.ke": &countingPayer{release: rel,
		err: &providers.Error{Provider: providers.PesaPal, Op: "get transaction status", Kind: providers.Permanent}}}
	return h, h.in
}

func fuzzServe(in *Ingester, method, target, ctype string, body []byte) int {
	req := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	in.ServeHTTP(rec, req)
	return rec.Code
}

// FuzzForgedNotifications: random bodies never panic and never get a 2xx
// on a route that needs proof (checksum, signature, provider confirmation),
// and never create an event.
func FuzzForgedNotifications(f *testing.F) {
	f.Add(uint8(0), []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"x","status":"SUCCESS","orderReference":"o"},"checksum":"00"}`))
	f.Add(uint8(0), []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"x","status":"SUCCESS","orderReference":"o"},"checksum":"00","checksumMethod":"legacy"}`))
	f.Add(uint8(1), []byte(`{"utilityref":"r","transactionstatus":"success","operator":"Tigo","signature":"AAAA"}`))
	f.Add(uint8(1), []byte(`{"utilityref":"r","transactionstatus":"success"}`))
	f.Add(uint8(2), []byte(`{"OrderTrackingId":"t","OrderMerchantReference":"r","OrderNotificationType":"IPNCHANGE"}`))
	f.Add(uint8(2), []byte(`OrderTrackingId=t&OrderNotificationType=IPNCHANGE`))
	f.Add(uint8(2), []byte{})
	f.Add(uint8(0), []byte(`[]`))
	f.Add(uint8(1), []byte(`{"utilityref":null,"transactionstatus":1e999}`))
	f.Add(uint8(0), []byte("\xff\xfe{"))
	h, in := fuzzIngester(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := []string{"/hooks/clickpesa", "/hooks/azampay", "/hooks/pesapal"}[int(which)%3]
		for _, ctype := range []string{"application/json", "application/x-www-form-urlencoded"} {
			code := fuzzServe(in, http.MethodPost, path, ctype, body)
			if code >= 200 && code < 300 {
				t.Fatalf("%s: forged body got %d: %q", path, code, body)
			}
			if code == 0 || code >= 600 {
				t.Fatalf("%s: answer %d", path, code)
			}
			if h.store.EventCount() > 0 {
				t.Fatalf("%s: forged body made an event: %q", path, body)
			}
		}
	})
}
