package clickpesa

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestChecksumKnownAnswers(t *testing.T) {
	key := []byte("secret-key")
	tests := []struct {
		name    string
		method  string
		payload string
		message string // the string hashed, when the vector states it
		want    string
	}{
		{
			name:    "doc example nested canonical",
			method:  MethodCanonical,
			payload: `{"reference":"TX123","exchange":{"toCurrency":"TZS","rate":"1","fromCurrency":"TZS","amount":"1000"},"customer":{"phone":"+255123456789","name":"John Doe","email":"john@example.com"},"currency":"USD","amount":100}`,
			message: `{"amount":100,"currency":"USD","customer":{"email":"john@example.com","name":"John Doe","phone":"+255123456789"},"exchange":{"amount":"1000","fromCurrency":"TZS","rate":"1","toCurrency":"TZS"},"reference":"TX123"}`,
			want:    "d777a80827f17cf7882f9ac5efa68416ec680e2d1ab72ad415228d00e4ac4957",
		},
		{
			name:    "flat legacy",
			method:  MethodLegacy,
			payload: `{"reference":"TX123","amount":100,"currency":"USD"}`,
			message: `100USDTX123`,
			want:    "85b65bf2670dcdcb8ebb8d19939e4fd59b02d5218741be2eaf9f575273b101d1",
		},
		{
			name:    "flat canonical",
			method:  MethodCanonical,
			payload: `{"amount":100,"currency":"USD","reference":"TX123"}`,
			message: `{"amount":100,"currency":"USD","reference":"TX123"}`,
			want:    "17c51f37dad20682e08cd556446c7f8e99840f4040b6719712f41f7549287f33",
		},
		{
			name:    "ussd push canonical default method",
			method:  "",
			payload: `{"phoneNumber":"255712345678","orderReference":"ORD20240810001","currency":"TZS","amount":"1000"}`,
			want:    "7c87a5e58179bacc6883ab775be2e00da6f142a10f6fcca9bb06697d88a5e3d7",
		},
		{
			name:    "ussd push legacy",
			method:  MethodLegacy,
			payload: `{"amount":"1000","currency":"TZS","orderReference":"ORD20240810001","phoneNumber":"255712345678"}`,
			message: `1000TZSORD20240810001255712345678`,
			want:    "64d0adbf162894f0a70b944571ffb8b4d28d9001cc4931344fa5466f9f5b2d4d",
		},
		{
			name:    "checksum fields are excluded",
			method:  MethodCanonical,
			payload: `{"amount":"1000","checksum":"abc","checksumMethod":"canonical","currency":"TZS","orderReference":"ORD20240810001","phoneNumber":"255712345678"}`,
			want:    "7c87a5e58179bacc6883ab775be2e00da6f142a10f6fcca9bb06697d88a5e3d7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.message != "" {
				msg, err := checksumMessage(tt.method, []byte(tt.payload))
				if err != nil {
					t.Fatal(err)
				}
				if string(msg) != tt.message {
					t.Errorf("message\n got %s\nwant %s", msg, tt.message)
				}
			}
			got, err := Checksum(tt.method, key, []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Checksum = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestChecksumJSParity pins the places where Go's encoding/json and JS's
// JSON.stringify differ.
func TestChecksumJSParity(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		message string
	}{
		{"html chars not escaped", `{"b":"<a>&</a>","a":1}`, `{"a":1,"b":"<a>&</a>"}`},
		{"U+2028 and U+2029 literal", `{"a":"x\u2028y\u2029z"}`, "{\"a\":\"x\u2028y\u2029z\"}"},
		{"non-ASCII literal", `{"a":"J\u00f6rg \u00e9t\u00e9 \u20ac"}`, `{"a":"Jörg été €"}`},
		{"control chars", `{"a":"\u0001\b\f\n\r\t\u001f"}`, `{"a":"\u0001\b\f\n\r\t\u001f"}`},
		{"quote and backslash", `{"a":"\"\\/"}`, `{"a":"\"\\/"}`},
		{"numbers verbatim", `{"a":12345678901234567890123,"b":1.5,"c":-0}`, `{"a":12345678901234567890123,"b":1.5,"c":-0}`},
		{"arrays keep order, nested sorted", `{"z":[{"b":1,"a":2},3,null,true,false]}`, `{"z":[{"a":2,"b":1},3,null,true,false]}`},
		{"whitespace removed", "{ \"b\" : [ 1 , 2 ] ,\n \"a\" : { } }", `{"a":{},"b":[1,2]}`},
		{"only top-level checksum dropped", `{"checksum":"x","d":{"checksum":"y"}}`, `{"d":{"checksum":"y"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := checksumMessage(MethodCanonical, []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if string(msg) != tt.message {
				t.Errorf("message\n got %q\nwant %q", msg, tt.message)
			}
		})
	}
}

func TestChecksumErrors(t *testing.T) {
	tests := []struct {
		name, method, payload string
	}{
		{"bad json", MethodCanonical, `{"a":`},
		{"trailing data", MethodCanonical, `{"a":1} {}`},
		{"unknown method", "sha1", `{"a":1}`},
		{"legacy needs object", MethodLegacy, `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Checksum(tt.method, []byte("k"), []byte(tt.payload)); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestVerifyChecksum(t *testing.T) {
	key := []byte("secret-key")
	sign := func(t *testing.T, method, body string) string {
		t.Helper()
		sum, err := Checksum(method, key, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	base := `{"event":"PAYMENT RECEIVED","data":{"id":"X1","status":"SUCCESS","collectedAmount":"1000","customer":{"customerEmail":null}}`
	canon := sign(t, MethodCanonical, base+`}`)
	legacy := sign(t, MethodLegacy, base+`}`)
	tests := []struct {
		name    string
		body    string
		key     string
		wantErr error
		anyErr  bool
	}{
		{"canonical ok", base + `,"checksum":"` + canon + `","checksumMethod":"canonical"}`, "secret-key", nil, false},
		{"canonical default method", base + `,"checksum":"` + canon + `"}`, "secret-key", nil, false},
		{"upper-case hex accepted", base + `,"checksum":"` + strings.ToUpper(canon) + `"}`, "secret-key", nil, false},
		{"legacy ok", base + `,"checksum":"` + legacy + `","checksumMethod":"legacy"}`, "secret-key", nil, false},
		{"legacy sum claimed canonical", base + `,"checksum":"` + legacy + `"}`, "secret-key", ErrChecksumMismatch, false},
		{"wrong key", base + `,"checksum":"` + canon + `"}`, "other", ErrChecksumMismatch, false},
		{"tampered", strings.Replace(base, "1000", "1001", 1) + `,"checksum":"` + canon + `"}`, "secret-key", ErrChecksumMismatch, false},
		{"missing", base + `}`, "secret-key", ErrChecksumMissing, false},
		{"empty", base + `,"checksum":""}`, "secret-key", ErrChecksumMissing, false},
		{"bad method", base + `,"checksum":"` + canon + `","checksumMethod":"md5"}`, "secret-key", nil, true},
		{"not json", `nope`, "secret-key", nil, true},
		{"not an object", `["checksum"]`, "secret-key", nil, true},
		{"checksum not a string", base + `,"checksum":12}`, "secret-key", nil, true},
		{"method not a string", base + `,"checksum":"` + canon + `","checksumMethod":true}`, "secret-key", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyChecksum([]byte(tt.body), []byte(tt.key))
			switch {
			case tt.anyErr:
				if err == nil {
					t.Fatal("want error")
				}
			case tt.wantErr == nil:
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			default:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), canon) {
					t.Fatal("error leaks the expected checksum")
				}
			}
		})
	}
}

func BenchmarkChecksumCanonical(b *testing.B) {
	body := []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"ORD20240810001LCP2C95","status":"SUCCESS","paymentReference":"a1b2c3d4e5","orderReference":"ORD20240810001","collectedAmount":"1000","collectedCurrency":"TZS","message":"success","channel":"TIGO-PESA","createdAt":"2025-06-01T10:00:00.000Z","updatedAt":"2025-06-01T10:00:42.000Z","customer":{"customerName":"Jane Doe","customerEmail":null,"customerPhoneNumber":"255712345678"}}}`)
	key := []byte("secret-key")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Checksum(MethodCanonical, key, body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzChecksum: whatever JSON comes in, the canonical message is valid JSON
// and canonicalizing it again changes nothing; nothing panics.
func FuzzChecksum(f *testing.F) {
	for _, s := range []string{
		`{"amount":100,"currency":"USD","reference":"TX123"}`,
		`{"b":"<a>&</a>","a":[1,{"z":null,"y":true}],"checksum":"x"}`,
		"{\"a\":\"x\u2028y\"}",
		`[1,2,3]`, `"s"`, `1e400`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		_, _ = Checksum(MethodLegacy, []byte("k"), payload)
		msg, err := checksumMessage(MethodCanonical, payload)
		if err != nil {
			return
		}
		if !json.Valid(msg) {
			t.Fatalf("canonical message is not JSON: %q", msg)
		}
		again, err := checksumMessage(MethodCanonical, msg)
		if err != nil {
			t.Fatalf("re-canonicalize: %v", err)
		}
		if string(again) != string(msg) {
			t.Fatalf("not idempotent:\n%q\n%q", msg, again)
		}
	})
}

// FuzzVerifyChecksum: any JSON object signed with Checksum verifies with the
// same key (either method) and fails with another as a mismatch.
func FuzzVerifyChecksum(f *testing.F) {
	f.Add([]byte(`{"event":"PAYMENT RECEIVED","data":{"id":"X1","amount":1000,"customer":{"email":null}}}`), false)
	f.Add([]byte(`{"a":"<&>","b":[1.50,true,"\u2028"],"Checksum":"x"}`), true)
	f.Fuzz(func(t *testing.T, payload []byte, legacy bool) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(payload, &obj); err != nil || obj == nil {
			return
		}
		delete(obj, "checksum")
		delete(obj, "checksumMethod")
		method := MethodCanonical
		if legacy {
			method = MethodLegacy
		}
		unsigned, err := json.Marshal(obj)
		if err != nil {
			return
		}
		sum, err := Checksum(method, []byte("k"), unsigned)
		if err != nil {
			return
		}
		obj["checksum"], _ = json.Marshal(sum)
		obj["checksumMethod"], _ = json.Marshal(method)
		body, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyChecksum(body, []byte("k")); err != nil {
			t.Fatalf("VerifyChecksum(%s) = %v, want nil", body, err)
		}
		if err := VerifyChecksum(body, []byte("other")); !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("VerifyChecksum(%s) with another key = %v, want a mismatch", body, err)
		}
	})
}

func BenchmarkVerifyChecksum(b *testing.B) {
	payload := []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"ORD20240810001LCP2C95","status":"SUCCESS","paymentReference":"a1b2c3d4e5","orderReference":"ORD20240810001","collectedAmount":"1000","collectedCurrency":"TZS","message":"success","channel":"TIGO-PESA","createdAt":"2025-06-01T10:00:00.000Z","updatedAt":"2025-06-01T10:00:42.000Z","customer":{"customerName":"Jane Doe","customerEmail":null,"customerPhoneNumber":"255712345678"}}}`)
	key := []byte("secret-key")
	sum, err := Checksum(MethodCanonical, key, payload)
	if err != nil {
		b.Fatal(err)
	}
	body := append(payload[:len(payload)-1:len(payload)-1], []byte(`,"checksum":"`+sum+`","checksumMethod":"canonical"}`)...)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyChecksum(body, key); err != nil {
			b.Fatal(err)
		}
	}
}
