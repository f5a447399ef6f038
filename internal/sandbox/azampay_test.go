package sandbox

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func azTokenFor(t testing.TB, e *Emulator) string {
	t.Helper()
	a := call(t, "POST", e.URL()+"/azampay-auth/AppRegistration/GenerateToken", map[string]string{"X-API-KEY": "apikey"},
		map[string]string{"appName": "myshop", "clientId": "client-1", "clientSecret": "c2VjcmV0LXNlY3JldA=="})
	if a.status != 200 {
		t.Fatalf("GenerateToken: %d %s", a.status, a.body)
	}
	var m struct {
		Data struct {
			AccessToken string `json:"accessToken"`
		} `json:"data"`
	}
	a.decode(t, &m)
	return m.Data.AccessToken
}

func azHeaders(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok, "X-API-Key": "apikey"}
}

func TestAzamPayToken(t *testing.T) {
	clock := testkit.NewManualClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	e := startEmulator(t, Options{Now: clock.Now})
	url := e.URL() + "/azampay-auth/AppRegistration/GenerateToken"
	tests := []struct {
		name   string
		body   map[string]string
		status int
	}{
		{"valid", map[string]string{"appName": "a", "clientId": "c", "clientSecret": "s"}, 200},
		{"invalid secret", map[string]string{"appName": "a", "clientId": "c", "clientSecret": "invalid"}, 423},
		{"invalid app", map[string]string{"appName": "invalid", "clientId": "c", "clientSecret": "s"}, 423},
		{"missing", map[string]string{"appName": "a"}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, "POST", url, nil, tc.body)
			m := a.object(t)
			if a.status != tc.status {
				t.Fatalf("got %d %s", a.status, a.body)
			}
			switch tc.status {
			case 200:
				data, _ := m["data"].(map[string]any)
				if m["success"] != true || m["statusCode"] != json.Number("200") || m["message"] != "Token generated successfully" ||
					data["expire"] != "2026-11-23T11:00:00Z" || str(data["accessToken"]) == "" {
					t.Errorf("body %s", a.body)
				}
			case 423:
				want := `{"data":null,"message":"Provided detail is not valid for this app or secret key has been expired","success":false,"statusCode":423}`
				if mustJSON(t, m) != mustJSON(t, answer{body: []byte(want)}.object(t)) {
					t.Errorf("body %s, want %s", a.body, want)
				}
			case 400:
				errs, _ := m["errors"].(map[string]any)
				if m["title"] != "One or more validation errors occurred." || errs["ClientId"] == nil || errs["ClientSecret"] == nil || errs["AppName"] != nil {
					t.Errorf("body %s", a.body)
				}
			}
		})
	}

	tok := azTokenFor(t, e)
	partners := e.URL() + "/azampay/api/v1/Partner/GetPaymentPartners"
	if a := call(t, "GET", partners, azHeaders(tok), nil); a.status != 200 {
		t.Fatalf("partners with fresh token: %d", a.status)
	}
	clock.Advance(time.Hour)
	for _, h := range []map[string]string{azHeaders(tok), {"Authorization": "Bearer x.y.z"}, nil} {
		a := call(t, "GET", partners, h, nil)
		if a.status != 401 || len(a.body) != 0 || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("headers %v: %d %q", h, a.status, a.body)
		}
	}
	if strings.Contains(mustJSON(t, e.Requests()), "c2VjcmV0") {
		t.Error("request log shows the client secret")
	}
}

func TestAzamPayPublicKeyAndPartners(t *testing.T) {
	e := startEmulator(t, Options{})
	tok := azTokenFor(t, e)
	for _, path := range []string{"/azampay-auth/api/Token/PublicKey", "/azampay/azampay/v1/public-key?format=Pem"} {
		a := call(t, "GET", e.URL()+path, azHeaders(tok), nil)
		m := a.object(t)
		if a.status != 200 || m["success"] != true || m["publicKey"] != string(e.PublicKeyPEM()) {
			t.Errorf("%s: %d %s", path, a.status, a.body)
		}
		if a := call(t, "GET", e.URL()+path, nil, nil); a.status != 401 {
			t.Errorf("%s without bearer: %d", path, a.status)
		}
	}
	var list []map[string]any
	a := call(t, "GET", e.URL()+"/azampay/api/v1/Partner/GetPaymentPartners", azHeaders(tok), nil)
	a.decode(t, &list)
	if len(list) != 5 {
		t.Fatalf("partners: %s", a.body)
	}
	for _, k := range []string{"id", "logoUrl", "partnerName", "provider", "vendorName", "paymentVendorId", "paymentPartnerId",
		"paymentAcknowledgementRoute", "currency", "status", "vendorType"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("partner lacks %s", k)
		}
	}
}

func azCheckoutBody(ext, phone string) map[string]any {
	return map[string]any{"accountNumber": phone, "amount": "1000", "currency": "TZS", "externalId": ext, "provider": "Tigo",
		"additionalProperties": map[string]any{"orderId": ext}}
}

func TestAzamPayCheckoutValidation(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{Delay: Duration(time.Hour)}})
	tok := azTokenFor(t, e)
	url := e.URL() + "/azampay/azampay/mno/checkout"
	tests := []struct {
		name   string
		mutate func(map[string]any)
		field  string
	}{
		{"amount number", func(m map[string]any) { m["amount"] = 1000 }, "Amount"},
		{"amount negative", func(m map[string]any) { m["amount"] = "-5" }, "Amount"},
		{"currency", func(m map[string]any) { m["currency"] = "KES" }, "Currency"},
		{"provider case", func(m map[string]any) { m["provider"] = "tigo" }, "Provider"},
		{"provider missing", func(m map[string]any) { delete(m, "provider") }, "Provider"},
		{"phone plus", func(m map[string]any) { m["accountNumber"] = "+255712345678" }, "AccountNumber"},
		{"phone short", func(m map[string]any) { m["accountNumber"] = "071234567" }, "AccountNumber"},
		{"external too long", func(m map[string]any) { m["externalId"] = strings.Repeat("x", 129) }, "ExternalId"},
		{"external non-ascii", func(m map[string]any) { m["externalId"] = "ORDÉ" }, "ExternalId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := azCheckoutBody("EXT-1", "0712345670")
			tc.mutate(body)
			a := call(t, "POST", url, azHeaders(tok), body)
			m := a.object(t)
			errs, _ := m["errors"].(map[string]any)
			if a.status != 400 || m["status"] != json.Number("400") || errs[tc.field] == nil || len(errs) != 1 ||
				!strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("got %d %s", a.status, a.body)
			}
		})
	}
	if a := call(t, "POST", url, map[string]string{"Authorization": "Bearer " + tok}, azCheckoutBody("EXT-1", "0712345670")); a.status != 401 {
		t.Errorf("without X-API-Key: %d %s", a.status, a.body)
	}
	body := azCheckoutBody(strings.Repeat("E", 128), "255712345670")
	a := call(t, "POST", url, azHeaders(tok), body)
	m := a.object(t)
	if a.status != 200 || m["success"] != true || len(str(m["transactionId"])) != 32 ||
		m["message"] != "Your request has been received and is being processed." {
		t.Fatalf("checkout: %d %s", a.status, a.body)
	}
	a = call(t, "POST", url, azHeaders(tok), body)
	if m := a.object(t); a.status != 400 || m["success"] != false || m["message"] != "Duplicate externalId" {
		t.Errorf("duplicate: %d %s", a.status, a.body)
	}

	// The newer checkout path takes no provider and infers it from the number.
	newer := azCheckoutBody("EXT-NEW", "0752345670")
	delete(newer, "provider")
	newer["serviceActivationCode"] = "123"
	if a := call(t, "POST", url, azHeaders(tok), newer); a.status != 400 {
		t.Errorf("legacy path without provider: %d", a.status)
	}
	a = call(t, "POST", e.URL()+"/azampay/api/v1/checkout/checkoutmno", azHeaders(tok), newer)
	if m := a.object(t); a.status != 200 || m["success"] != true {
		t.Fatalf("checkoutmno: %d %s", a.status, a.body)
	}
	var st struct {
		Data map[string]any `json:"data"`
	}
	call(t, "GET", e.URL()+"/azampay/azampay/transaction/query?externalId=EXT-NEW", azHeaders(tok), nil).decode(t, &st)
	if st.Data["operator"] != "Mpesa" {
		t.Errorf("inferred operator: %v", st.Data)
	}
}

func TestAzamPayOutcomes(t *testing.T) {
	tests := []struct {
		digit    string
		checkout int
		status   string
		message  string
		hooks    int
	}{
		{"0", 200, "success", "Transaction successful", 1},
		{"1", 200, "failure", "Insufficient balance", 1},
		{"2", 200, "failure", "Cancelled by user", 1},
		{"3", 200, "success", "Transaction successful", 0},
		{"4", 200, "success", "Transaction successful", 2},
		{"5", 500, "", "", 0},
		{"6", 200, "success", "Transaction successful", 1},
	}
	for _, tc := range tests {
		t.Run(tc.digit, func(t *testing.T) {
			t.Parallel()
			s := newSink(t, func(int, received) (int, string) { return 200, "ok data" })
			logs := &syncBuffer{}
			e := startEmulator(t, Options{Settings: Settings{AzamPayCallback: s.srv.URL + "/hooks/azampay"}, Logger: slogTo(logs)})
			tok := azTokenFor(t, e)
			// The test verifies signatures with the key as served, not as held.
			var pk struct {
				PublicKey string `json:"publicKey"`
			}
			call(t, "GET", e.URL()+"/azampay/azampay/v1/public-key?format=Pem", azHeaders(tok), nil).decode(t, &pk)
			block, _ := pem.Decode([]byte(pk.PublicKey))
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatalf("public key PEM: %q", pk.PublicKey)
			}
			parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			pub := parsed.(*rsa.PublicKey)
			if pub.N.BitLen() != 2048 {
				t.Errorf("key size %d", pub.N.BitLen())
			}

			ext := "ORDER-2026-000" + tc.digit
			a := call(t, "POST", e.URL()+"/azampay/azampay/mno/checkout", azHeaders(tok), azCheckoutBody(ext, "071234567"+tc.digit))
			if a.status != tc.checkout {
				t.Fatalf("checkout: %d %s", a.status, a.body)
			}
			if tc.checkout != 200 {
				if q := call(t, "GET", e.URL()+"/azampay/azampay/transaction/query?externalId="+ext, azHeaders(tok), nil); q.status != 404 {
					t.Errorf("transaction exists after 500: %d", q.status)
				}
				return
			}
			txID := str(a.object(t)["transactionId"])
			var st struct {
				Data    map[string]any `json:"data"`
				Success bool           `json:"success"`
			}
			testkit.Eventually(t, "final status", func() bool {
				call(t, "GET", e.URL()+"/azampay/api/v1/partner/gettransactionstatus?transactionId="+txID+"&provider=Tigo", azHeaders(tok), nil).decode(t, &st)
				return st.Data["transactionstatus"] != "pending"
			})
			if !st.Success || st.Data["transactionstatus"] != tc.status || st.Data["externalId"] != ext || st.Data["amount"] != "1000" {
				t.Errorf("status: %+v", st)
			}
			var byExt struct {
				Data map[string]any `json:"data"`
			}
			call(t, "GET", e.URL()+"/azampay/azampay/transaction/query?externalId="+ext, azHeaders(tok), nil).decode(t, &byExt)
			if byExt.Data["transactionId"] != txID || byExt.Data["transactionstatus"] != tc.status {
				t.Errorf("query by externalId: %v", byExt.Data)
			}

			if got := queued(logs, "callback "+ext); got != tc.hooks {
				t.Errorf("%d callbacks queued, want %d", got, tc.hooks)
			}
			testkit.Eventually(t, "callbacks acknowledged", func() bool { return acked(logs, "callback "+ext) == tc.hooks })
			if got := s.count(); got != tc.hooks {
				t.Errorf("sink got %d, want %d", got, tc.hooks)
			}
			for _, r := range s.all() {
				var cb map[string]any
				if err := json.Unmarshal(r.body, &cb); err != nil {
					t.Fatalf("callback %q: %v", r.body, err)
				}
				for _, k := range []string{"msisdn", "amount", "message", "utilityref", "operator", "reference", "transactionstatus",
					"submerchantAcc", "additionalProperties", "externalreference", "transid", "mnoreference", "fspReferenceId", "clientId", "signature"} {
					if _, ok := cb[k]; !ok {
						t.Errorf("callback lacks %s", k)
					}
				}
				if cb["utilityref"] != ext || cb["transactionstatus"] != tc.status || cb["message"] != tc.message ||
					cb["operator"] != "Tigo" || cb["amount"] != "1000" || cb["reference"] != txID || cb["clientId"] != "client-1" ||
					cb["msisdn"] != "071234567"+tc.digit {
					t.Errorf("callback %s", r.body)
				}
				if ap, _ := cb["additionalProperties"].(map[string]any); ap["orderId"] != ext {
					t.Errorf("additionalProperties not echoed: %s", r.body)
				}
				sig, err := base64.StdEncoding.DecodeString(str(cb["signature"]))
				if err != nil {
					t.Fatal(err)
				}
				msg := str(cb["utilityref"]) + str(cb["externalreference"]) + str(cb["transactionstatus"]) + str(cb["operator"])
				sum := sha256.Sum256([]byte(msg))
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
					t.Errorf("signature does not verify: %v", err)
				}
				tampered := sha256.Sum256([]byte(strings.Replace(msg, tc.status, "success!", 1)))
				if rsa.VerifyPKCS1v15(pub, crypto.SHA256, tampered[:], sig) == nil {
					t.Error("signature verifies a tampered message")
				}
			}
		})
	}
}

func TestAzamPayCallbackRetry(t *testing.T) {
	s := newSink(t, func(n int, _ received) (int, string) {
		if n == 0 {
			return http.StatusAccepted, "" // only 200 acknowledges
		}
		return http.StatusOK, ""
	})
	logs := &syncBuffer{}
	e := startEmulator(t, Options{Settings: Settings{AzamPayCallback: s.srv.URL}, Logger: slogTo(logs)})
	tok := azTokenFor(t, e)
	call(t, "POST", e.URL()+"/azampay/azampay/mno/checkout", azHeaders(tok), azCheckoutBody("E1", "0712345670"))
	testkit.Eventually(t, "acknowledged", func() bool { return strings.Contains(logs.String(), "sandbox notification acknowledged") })
	if got := s.count(); got != 2 {
		t.Errorf("tries = %d, want 2", got)
	}
}

// TestAzOperatorUsesTheClientTable: the emulator names a checkout's
// network as the AzamPay client infers it (one table), and Azampesa for a
// number of no network.
func TestAzOperatorUsesTheClientTable(t *testing.T) {
	for p := 60; p <= 79; p++ {
		phone := fmt.Sprintf("255%d1234567", p)
		want := azampay.InferMNO(phone)
		if want == "" {
			want = azampay.MNOAzampesa
		}
		if got := azOperator(phone); got != want {
			t.Errorf("azOperator(%s) = %q, want %q", phone, got, want)
		}
	}
	if got := azOperator("0611234567"); got != azampay.MNOHalopesa {
		t.Errorf("azOperator(0611234567) = %q, want Halopesa", got)
	}
}
