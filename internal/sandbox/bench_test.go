package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// benchPost posts body over loopback and drains the answer.
func benchPost(b *testing.B, c *http.Client, url string, header map[string]string, body []byte) int {
	b.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func BenchmarkPesaPalSubmitOrder(b *testing.B) {
	e := startEmulator(b, Options{Settings: Settings{Delay: Duration(time.Hour)}})
	tok := ppToken(b, e)
	ipn := ppRegister(b, e, tok, "http://127.0.0.1:1/ipn", "POST")
	c := &http.Client{Timeout: 10 * time.Second}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	url := e.URL() + "/pesapal/api/Transactions/SubmitOrderRequest"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body, _ := json.Marshal(ppOrderBody(fmt.Sprintf("B-%d", i), ipn, "0712345670"))
		if s := benchPost(b, c, url, auth, body); s != 200 {
			b.Fatalf("status %d", s)
		}
	}
}

func BenchmarkClickPesaInitiate(b *testing.B) {
	for _, withChecksum := range []bool{false, true} {
		b.Run(fmt.Sprintf("checksum=%v", withChecksum), func(b *testing.B) {
			set := Settings{Delay: Duration(time.Hour)}
			if withChecksum {
				set.ClickPesaChecksumKey = "bench-key"
			}
			e := startEmulator(b, Options{Settings: set})
			tok := cpTokenFor(b, e)
			c := &http.Client{Timeout: 10 * time.Second}
			url := e.URL() + "/clickpesa/third-parties/payments/initiate-ussd-push-request"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m := map[string]any{"amount": "1000", "currency": "TZS", "orderReference": fmt.Sprintf("B%d", i), "phoneNumber": "255712345670"}
				if withChecksum {
					sum, _ := canonicalHMAC(b, "bench-key", []byte(mustJSON(b, m)))
					m["checksum"] = sum
				}
				body, _ := json.Marshal(m)
				if s := benchPost(b, c, url, map[string]string{"Authorization": tok}, body); s != 200 {
					b.Fatalf("status %d", s)
				}
			}
		})
	}
}

func BenchmarkAzamPayCheckout(b *testing.B) {
	e := startEmulator(b, Options{Settings: Settings{Delay: Duration(time.Hour)}})
	tok := azTokenFor(b, e)
	c := &http.Client{Timeout: 10 * time.Second}
	url := e.URL() + "/azampay/azampay/mno/checkout"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body, _ := json.Marshal(azCheckoutBody(fmt.Sprintf("B-%d", i), "0712345670"))
		if s := benchPost(b, c, url, azHeaders(tok), body); s != 200 {
			b.Fatalf("status %d", s)
		}
	}
}

// BenchmarkAzamPayCallbackSign is the cost of one signed callback body.
func BenchmarkAzamPayCallbackSign(b *testing.B) {
	e, err := New(Options{RSAKey: testKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	t := azTxn{id: randomHex(32), externalID: "ORDER-1", msisdn: "0712345670", amount: "1000", currency: "TZS",
		operator: "Tigo", status: "success", message: "Transaction successful"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.azCallbackBody(t); err != nil {
			b.Fatal(err)
		}
	}
}
