package providers

import (
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

func FuzzWithoutCredentials(f *testing.F) {
	f.Add([]byte(`{"clientId":"CANARY","x":[1,{"token":"CANARY"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := WithoutCredentials(b)
		if out == nil {
			return
		}
		if again := WithoutCredentials(out); string(again) != string(out) {
			t.Fatalf("not idempotent: %s then %s", out, again)
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
