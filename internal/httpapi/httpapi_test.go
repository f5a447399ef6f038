package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			assert.Equal(t, tt.want, rec.Code)
			assert.Equal(t, tt.name, got.Name)
			assert.Equal(t, tt.scopes, got.Scopes)
			if tt.want == 401 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				assert.NotContains(t, rec.Body.String(), "tok-")
			}
		})
	}
}

func TestLookup(t *testing.T) {
	a := NewAuthenticator(testTokens())
	p, ok := a.Lookup("tok-two")
	require.True(t, ok)
	assert.Equal(t, "ops", p.Name)
	for _, bad := range []string{"", "tok", "tok-two\n", "TOK-TWO"} {
		_, ok := a.Lookup(bad)
		assert.False(t, ok, "%q", bad)
	}
	_, ok = NewAuthenticator(nil).Lookup("tok-one")
	assert.False(t, ok, "no tokens: nothing is accepted")
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
			require.Equal(t, tt.want, rec.Code, rec.Body.String())
			if tt.want == 204 {
				return
			}
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var p Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.Equal(t, tt.want, p.Status)
			assert.Contains(t, p.Detail, tt.detail)
			if tt.want == 403 {
				assert.Equal(t, "urn:finconnectd:problem:insufficient-scope", p.Type)
				assert.Contains(t, rec.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`)
			}
			assert.NotContains(t, rec.Body.String(), "tok-")
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
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			WriteError(rec, err)
			assert.Equal(t, tt.status, rec.Code)
			var p Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.Equal(t, tt.status, p.Status)
			if tt.field != "" {
				require.Len(t, p.Errors, 1)
				assert.Equal(t, tt.field, p.Errors[0].Field)
			}
		})
	}
}
