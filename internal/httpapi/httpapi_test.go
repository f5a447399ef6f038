package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/secret"
)

func testTokens() []Token {
	return []Token{
		{Name: "shop", Value: secret.New("tok-one"), Scopes: []string{"payments"}},
		{Name: "ops", Value: secret.New("tok-two"), Scopes: []string{"events", "console:read"}},
		{Name: "unset", Value: secret.New(""), Scopes: []string{"payments"}},
	}
}

func TestAuthenticator(t *testing.T) {
	a := NewAuthenticator(testTokens())
	var got Principal
	h := a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = PrincipalFrom(r.Context())
		w.WriteHeader(204)
	}))
	tests := []struct {
		header string
		want   int
		name   string
		scopes []string
	}{
		{"Bearer tok-one", 204, "shop", []string{"payments"}},
		{"bearer tok-two", 204, "ops", []string{"events", "console:read"}},
		{"Bearer tok-three", 401, "", nil},
		{"Bearer tok-one ", 401, "", nil},
		{"Bearer ", 401, "", nil},
		{"tok-one", 401, "", nil},
		{"", 401, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got = Principal{}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/v1/payments", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
			if got.Name != tt.name {
				t.Errorf("principal name = %q, want %q", got.Name, tt.name)
			}
			if !reflect.DeepEqual(got.Scopes, tt.scopes) {
				t.Errorf("principal scopes = %#v, want %#v", got.Scopes, tt.scopes)
			}
			if tt.want == 401 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type = %q, want %q", ct, "application/problem+json")
				}
				if body := rec.Body.String(); strings.Contains(body, "tok-") {
					t.Errorf("the answer %q shows a token", body)
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	a := NewAuthenticator(testTokens())
	p, ok := a.Lookup("tok-two")
	if !ok {
		t.Fatal("Lookup(\"tok-two\") found no token")
	}
	if p.Name != "ops" {
		t.Errorf("Lookup(\"tok-two\") name = %q, want %q", p.Name, "ops")
	}
	for _, bad := range []string{"", "tok", "tok-two\n", "TOK-TWO"} {
		if p, ok := a.Lookup(bad); ok {
			t.Errorf("Lookup(%q) accepted it as %q, want no token", bad, p.Name)
		}
	}
	if p, ok := NewAuthenticator(nil).Lookup("tok-one"); ok {
		t.Errorf("with no tokens Lookup(\"tok-one\") accepted it as %q, want nothing accepted", p.Name)
	}
}

func TestRequireScope(t *testing.T) {
	a := NewAuthenticator(testTokens())
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	tests := []struct {
		name   string
		h      http.Handler
		header string
		want   int
		detail string
	}{
		{"scope granted", a.Require(RequireScope("payments", ok)), "Bearer tok-one", 204, ""},
		{"scope missing", a.Require(RequireScope("events", ok)), "Bearer tok-one", 403, `The token "shop" does not have the scope "events"`},
		{"other token has it", a.Require(RequireScope("events", ok)), "Bearer tok-two", 204, ""},
		{"console scope missing", a.Require(RequireScope("console:operate", ok)), "Bearer tok-two", 403, `"console:operate"`},
		{"not authenticated", RequireScope("payments", ok), "Bearer tok-one", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/v1/events/evt_1/replay", nil)
			req.Header.Set("Authorization", tt.header)
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == 204 {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want %q", ct, "application/problem+json")
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("decoding the problem %s: %v", rec.Body, err)
			}
			if p.Status != tt.want {
				t.Errorf("problem status = %d, want %d", p.Status, tt.want)
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("problem detail = %q, want it to contain %q", p.Detail, tt.detail)
			}
			if tt.want == 403 {
				if want := "urn:finconnectd:problem:insufficient-scope"; p.Type != want {
					t.Errorf("problem type = %q, want %q", p.Type, want)
				}
				if got, want := rec.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`; !strings.Contains(got, want) {
					t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, want)
				}
			}
			if body := rec.Body.String(); strings.Contains(body, "tok-") {
				t.Errorf("the answer %q shows a token", body)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Amount string `json:"amount"`
	}
	tests := []struct {
		name   string
		in     string
		status int
		field  string
	}{
		{"ok", `{"amount":"1.00"}`, 0, ""},
		{"unknown field", `{"amount":"1","extra":1}`, 422, "extra"},
		{"wrong type", `{"amount":1}`, 422, "amount"},
		{"malformed", `{"amount":`, 400, ""},
		{"trailing", `{"amount":"1"} {}`, 400, ""},
		{"array, not an object", `[]`, 400, ""},
		{"string, not an object", `"x"`, 400, ""},
		{"too large", `{"amount":"` + strings.Repeat("9", MaxBodyBytes) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
			var b body
			err := DecodeJSON(rec, req, &b)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeJSON accepted %.40q, want an error", tt.in)
			}
			WriteError(rec, err)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("decoding the problem %.200s: %v", rec.Body, err)
			}
			if p.Status != tt.status {
				t.Errorf("problem status = %d, want %d", p.Status, tt.status)
			}
			if tt.field != "" {
				if len(p.Errors) != 1 {
					t.Fatalf("problem errors = %+v, want one, for the field %s", p.Errors, tt.field)
				}
				if p.Errors[0].Field != tt.field {
					t.Errorf("problem error field = %q, want %q", p.Errors[0].Field, tt.field)
				}
			}
		})
	}
}
