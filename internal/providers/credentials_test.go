package providers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestWithoutCredentials(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"azampay callback", `{"utilityref":"A1","clientId":"CANARY","amount":"1000","signature":"c2ln","user":"u","password":"p"}`,
			`{"amount":"1000","utilityref":"A1"}`},
		{"nested and arrays", `{"data":[{"client_id":"CANARY","id":"x"}],"n":1.50}`, `{"data":[{"id":"x"}],"n":1.50}`},
		{"checksum and api key", `{"checksum":"abc","Api-Key":"k","event":"PAYMENT RECEIVED"}`, `{"event":"PAYMENT RECEIVED"}`},
		{"scalar", `"text"`, `"text"`},
		{"not json", `<html>clientId=CANARY</html>`, ``},
		{"empty", ``, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(WithoutCredentials([]byte(tc.in)))
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWithoutCredentialsDeep(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 100) + `{"clientId":"CANARY"}` + strings.Repeat(`}`, 100)
	if got := string(WithoutCredentials([]byte(deep))); strings.Contains(got, "CANARY") {
		t.Fatalf("a deep credential survived: %s", got)
	}
}

// FuzzWithoutCredentials checks the one-pass rewrite against the
// obvious definition (decode each level into a map, drop credential keys,
// encode it again): same bytes for every input, and idempotent.
func FuzzWithoutCredentials(f *testing.F) {
	for _, seed := range []string{
		`{"clientId":"CANARY","x":[1,{"token":"CANARY"}]}`,
		` { "b" : [ 1 , 2.50e3 , true , null , "s\\\"q" ] , "a" : { } , "b" : -0 } `,
		`{"k\u0065y":"v","ke\u0079":"w","\u00e9":1,"<&>":"<&>","\u2028":"\u2028"}`,
		`[[],{},"",0]`,
		strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40),
		`{"password":{"nested":[{"deep":1}]},"ok":"yes"}`,
		"{\"\xff\":1,\"\xfe\":2}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := WithoutCredentials(b)
		if want := referenceWithoutCredentials(b); string(out) != string(want) {
			t.Fatalf("WithoutCredentials(%q) = %q, want %q", b, out, want)
		}
		if out == nil {
			return
		}
		if again := WithoutCredentials(out); string(again) != string(out) {
			t.Fatalf("not idempotent: %s then %s", out, again)
		}
	})
}

// referenceWithoutCredentials is WithoutCredentials as its comment
// defines it, level by level through encoding/json.
func referenceWithoutCredentials(body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return nil
	}
	var strip func(v json.RawMessage, depth int) json.RawMessage
	encode := func(v any) json.RawMessage {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			panic(err)
		}
		return bytes.TrimSpace(buf.Bytes())
	}
	strip = func(v json.RawMessage, depth int) json.RawMessage {
		if depth > maxStripDepth {
			return json.RawMessage("null")
		}
		switch v[0] {
		case '{':
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v, &m); err != nil {
				panic(err)
			}
			for k, e := range m {
				if IsCredentialKey(k) {
					delete(m, k)
					continue
				}
				m[k] = strip(bytes.TrimSpace(e), depth+1)
			}
			return encode(m)
		case '[':
			var a []json.RawMessage
			if err := json.Unmarshal(v, &a); err != nil {
				panic(err)
			}
			for i, e := range a {
				a[i] = strip(bytes.TrimSpace(e), depth+1)
			}
			return encode(a)
		}
		return append(json.RawMessage(nil), v...)
	}
	return strip(trimmed, 0)
}

// BenchmarkWithoutCredentials: a signed ClickPesa payment webhook, as every
// one is stripped before it is stored.
func BenchmarkWithoutCredentials(b *testing.B) {
	body := []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"LJQ3B9XK","status":"SUCCESS","orderReference":"ORD20260001",` +
		`"message":"success","channel":"TIGO-PESA","createdAt":"2026-12-05T00:00:00Z","updatedAt":"2026-12-05T00:00:05Z",` +
		`"paymentReference":"PORD20260001","collectedAmount":"1000","collectedCurrency":"TZS","clientId":"CANARY",` +
		`"customer":{"customerName":"Asha","customerEmail":null,"customerPhoneNumber":"255712345670"}},` +
		`"checksum":"0f3c5b2a9d","checksumMethod":"canonical"}`)
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			_ = WithoutCredentials(body)
		}
	})
	b.Run("decode-encode", func(b *testing.B) {
		for b.Loop() {
			_ = referenceWithoutCredentials(body)
		}
	})
}

func TestIsCredentialKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"clientId", true},
		{"client_id", true},
		{"CLIENT-ID", true},
		{"api_key", true},
		{"Checksum_Method", true},
		{"to\u212Aen", true}, // the Kelvin sign lower-cases to k
		{"amount", false},
		{"", false},
		{"tokens", false},
		{"client_id_of_a_rather_long_key_name_that_is_not_one", false},
	}
	for _, tt := range tests {
		if got := IsCredentialKey(tt.key); got != tt.want {
			t.Errorf("IsCredentialKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}
