package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzRoutes are the endpoints that parse a request body from outside.
var fuzzRoutes = []struct {
	provider string
	path     string
}{
	{"", "/pesapal/api/Auth/RequestToken"},
	{providerPesaPal, "/pesapal/api/URLSetup/RegisterIPN"},
	{providerPesaPal, "/pesapal/api/Transactions/SubmitOrderRequest"},
	{providerPesaPal, "/pesapal/api/Transactions/RefundRequest"},
	{providerPesaPal, "/pesapal/api/Transactions/CancelOrder"},
	{providerClickPesa, "/clickpesa/third-parties/payments/preview-ussd-push-request"},
	{providerClickPesa, "/clickpesa/third-parties/payments/initiate-ussd-push-request"},
	{"", "/azampay-auth/AppRegistration/GenerateToken"},
	{providerAzamPay, "/azampay/azampay/mno/checkout"},
	{providerAzamPay, "/azampay/api/v1/checkout/checkoutmno"},
	{"", "/_sandbox/settings"},
}

// FuzzRequestBodies sends arbitrary bodies to every body-parsing endpoint:
// the emulator must never panic, must answer a known status, and must answer
// JSON.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{"consumer_key":"k","consumer_secret":"s"}`,
		`{"url":"https://merchant.example/ipn","ipn_notification_type":"POST"}`,
		`{"id":"INV-1","currency":"KES","amount":100.00,"description":"d","callback_url":"https://m.example/r","notification_id":"x","billing_address":{"phone_number":"0712345670"}}`,
		`{"confirmation_code":"C","amount":"100.00","username":"u","remarks":"r"}`,
		`{"order_tracking_id":"b945e4af-80a5-4ec1-8706-e03f8332fb04"}`,
		`{"amount":"1000","currency":"TZS","orderReference":"ORD1","phoneNumber":"255712345678","checksum":"00"}`,
		`{"appName":"a","clientId":"c","clientSecret":"s"}`,
		`{"accountNumber":"0712345676","amount":"1000","currency":"TZS","externalId":"E","provider":"Tigo","additionalProperties":{"a":[1,{"b":null}]}}`,
		`{"accountNumber":"255752345670","amount":"5","currency":"TZS","externalId":"E2","serviceActivationCode":"1"}`,
		`{"delay":"1ms","clickpesa-checksum-method":"legacy"}`,
		`{"amount":1e400}`, `[]`, `null`, `"`, ``, "\x00\xff",
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	e, err := New(Options{RSAKey: testKey(f), Settings: Settings{Delay: Duration(time.Hour), SlowAnswer: Duration(time.Millisecond)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Stop(context.Background()) })
	tokens := map[string]string{}
	for _, p := range []string{providerPesaPal, providerClickPesa, providerAzamPay} {
		tok, _ := e.issueToken(p, time.Hour, "client")
		tokens[p] = tok
	}
	h := e.Handler()
	base := e.Settings()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest("POST", rt.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", "k")
		req.Header.Set("client-id", "c")
		req.Header.Set("api-key", "k")
		if rt.provider != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[rt.provider])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		e.UpdateSettings(func(s *Settings) { *s = base }) // a fuzzed latency must not slow the next input
		switch w.Code {
		case 200, 400, 401, 403, 409, 423, 500:
		default:
			t.Fatalf("%s answered %d: %s", rt.path, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s answered non-JSON %q", rt.path, w.Body)
		}
	})
}

// FuzzRedactBody: whatever is logged, a credential field's value is gone.
func FuzzRedactBody(f *testing.F) {
	for _, s := range []string{
		`{"consumer_key":"CANARY","consumer_secret":"CANARY"}`,
		`{"appName":"a","clientId":"c","clientSecret":"CANARY"}`,
		`{"nested":{"password":"CANARY"},"list":[{"api_key":"CANARY"}]}`,
		`not json CANARY`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := redactBody(body)
		var v any
		if json.Unmarshal(body, &v) != nil {
			return // non-JSON bodies are kept as they are
		}
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		var red map[string]any
		if err := json.Unmarshal([]byte(out), &red); err != nil {
			t.Fatalf("redacted JSON body is not JSON: %q", out)
		}
		for k, x := range m {
			if s, isStr := x.(string); credentialFields[strings.ToLower(k)] && isStr && s != "" && red[k] != "(sensitive value)" {
				t.Fatalf("credential %s survives: %s", k, out)
			}
		}
	})
}
