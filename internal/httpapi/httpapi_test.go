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

func TestAuthenticator(t *testing.T) {
	a := NewAuthenticator([]secret.Value{secret.New("tok-one"), secret.New("tok-two"), secret.New("")})
	h := a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	tests := []struct {
		header string
		want   int
	}{
		{"Bearer tok-one", 204},
		{"bearer tok-two", 204},
		{"Bearer tok-three", 401},
		{"Bearer ", 401},
		{"tok-one", 401},
		{"", 401},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/v1/payments", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.want, rec.Code)
			if tt.want == 401 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
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
