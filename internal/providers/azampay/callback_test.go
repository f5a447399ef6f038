package azampay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
)

const callbackSample = `{"msisdn":"255712345678","amount":"1000","message":"Transaction successful","utilityref":"ORDER-2025-0001","operator":"Tigo","reference":"0d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7b","externalreference":"0d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7b","transid":"0d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7b","mnoreference":"MP250601.1003.A12345","transactionstatus":"success","submerchantAcc":null,"fspReferenceId":null,"clientId":"<client id>","additionalProperties":{"orderId":"ORDER-2025-0001"},"signature":"<base64 RSA-SHA256>","user":"u","password":"p"}`

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, k *rsa.PrivateKey, msg string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestParseCallback(t *testing.T) {
	c, err := ParseCallback([]byte(callbackSample))
	if err != nil {
		t.Fatal(err)
	}
	want := Callback{MSISDN: "255712345678", Amount: "1000", Message: "Transaction successful", UtilityRef: "ORDER-2025-0001",
		Operator: "Tigo", Reference: "0d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7b", TransactionStatus: "success",
		ExternalReference: "0d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7b", TransID: "0d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7b",
		MNOReference: "MP250601.1003.A12345", ClientID: "<client id>", Signature: "<base64 RSA-SHA256>",
		AdditionalProperties: json.RawMessage(`{"orderId":"ORDER-2025-0001"}`)}
	if c.SignedMessage() != "ORDER-2025-00010d3c5e0c9a2b4f7e8a1b2c3d4e5f6a7bsuccessTigo" {
		t.Fatalf("SignedMessage = %q", c.SignedMessage())
	}
	if string(c.AdditionalProperties) != string(want.AdditionalProperties) {
		t.Fatalf("additionalProperties = %s", c.AdditionalProperties)
	}
	c.AdditionalProperties, want.AdditionalProperties = nil, nil
	if !equalCallback(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if strings.Contains(strings.ToLower(debugString(c)), "password") {
		t.Fatal("callback kept the password field")
	}

	errCases := map[string]string{
		"not object":               `[]`,
		"garbage":                  `{"utilityref":`,
		"no utilityref":            `{"transactionstatus":"success"}`,
		"no status":                `{"utilityref":"X"}`,
		"object amount":            `{"utilityref":"X","transactionstatus":"success","amount":{}}`,
		"NUL in utilityref":        `{"utilityref":"X\u0000","transactionstatus":"success"}`,
		"tab in externalreference": `{"utilityref":"X","externalreference":"a\tb","transactionstatus":"success"}`,
		"DEL in operator":          `{"utilityref":"X","transactionstatus":"success","operator":"Tigo\u007f"}`,
	}
	for name, body := range errCases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCallback([]byte(body)); !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// Old SDK casing and a numeric amount.
	c, err = ParseCallback([]byte(`{"utilityRef":"X","transactionStatus":"Failure","amount":1000}`))
	if err != nil || c.UtilityRef != "X" || c.Amount != "1000" || MapStatus(c.TransactionStatus) != providers.StatusFailed {
		t.Fatalf("lenient parse: %+v %v", c, err)
	}
}

func equalCallback(a, b Callback) bool {
	return a.MSISDN == b.MSISDN && a.Amount == b.Amount && a.Message == b.Message && a.UtilityRef == b.UtilityRef &&
		a.Operator == b.Operator && a.Reference == b.Reference && a.TransactionStatus == b.TransactionStatus &&
		a.ExternalReference == b.ExternalReference && a.TransID == b.TransID && a.MNOReference == b.MNOReference &&
		a.ClientID == b.ClientID && a.FSPReferenceID == b.FSPReferenceID && a.Signature == b.Signature
}

func debugString(c Callback) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func TestVerifyCallback(t *testing.T) {
	k := testKey(t)
	other := testKey(t)
	base, err := ParseCallback([]byte(callbackSample))
	if err != nil {
		t.Fatal(err)
	}
	good := base
	good.Signature = sign(t, k, base.SignedMessage())
	tests := []struct {
		name   string
		mutate func(c *Callback)
		pub    *rsa.PublicKey
		ok     bool
	}{
		{"valid", func(*Callback) {}, &k.PublicKey, true},
		{"unsigned field changed", func(c *Callback) { c.Amount = "999999" }, &k.PublicKey, true},
		{"status tampered", func(c *Callback) { c.TransactionStatus = "failure" }, &k.PublicKey, false},
		{"utilityref tampered", func(c *Callback) { c.UtilityRef = "ORDER-2" }, &k.PublicKey, false},
		{"operator tampered", func(c *Callback) { c.Operator = "Airtel" }, &k.PublicKey, false},
		{"externalreference tampered", func(c *Callback) { c.ExternalReference = "x" }, &k.PublicKey, false},
		{"other key", func(*Callback) {}, &other.PublicKey, false},
		{"missing signature", func(c *Callback) { c.Signature = "" }, &k.PublicKey, false},
		{"not base64", func(c *Callback) { c.Signature = "!!!" }, &k.PublicKey, false},
		{"no key", func(*Callback) {}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := VerifyCallback(tt.pub, c)
			if tt.ok != (err == nil) {
				t.Fatalf("VerifyCallback = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	k := testKey(t)
	pkix, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)}))
	jsonBody, _ := json.Marshal(map[string]any{"publicKey": pemText, "success": true})
	escaped := `{"publicKey":"` + strings.ReplaceAll(strings.TrimSpace(pemText), "\n", `\\n`) + `"}`
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"raw pem", pemText, true},
		{"pkcs1 pem", pkcs1, true},
		{"json", string(jsonBody), true},
		{"json literal backslash n", escaped, true},
		{"json data wrapper", `{"data":{"publicKey":` + mustJSON(pemText) + `}}`, true},
		{"bare base64 der", base64.StdEncoding.EncodeToString(pkix), true},
		{"json string", mustJSON(pemText), true},
		{"json without key", `{"success":false}`, false},
		{"garbage", "hello", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey([]byte(tt.body))
			if !tt.ok {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(&k.PublicKey) {
				t.Fatal("different key")
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMapStatus(t *testing.T) {
	tests := map[string]providers.Status{
		"success": providers.StatusSucceeded, "SUCCESS": providers.StatusSucceeded, "Successful": providers.StatusSucceeded,
		"failure": providers.StatusFailed, "failed": providers.StatusFailed, "cancelled": providers.StatusFailed,
		"pending": providers.StatusPending, "": providers.StatusPending, "processing": providers.StatusPending,
	}
	for in, want := range tests {
		if got := MapStatus(in); got != want {
			t.Errorf("MapStatus(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(callbackSample))
	f.Add([]byte(`{"utilityRef":"X","transactionStatus":"Failure","amount":1000}`))
	f.Add([]byte(`{"utilityref":"X","transactionstatus":"success","signature":"AAAA","additionalProperties":[1,2]}`))
	f.Add([]byte(`{"utilityref":null}`))
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseCallback(body)
		if err != nil {
			return
		}
		if c.UtilityRef == "" || c.TransactionStatus == "" {
			t.Fatal("accepted a callback without utilityref or status")
		}
		if VerifyCallback(&k.PublicKey, c) == nil {
			t.Fatal("a fuzzed callback verified against a fresh key")
		}
		_, _ = ParsePublicKey(body)
	})
}
