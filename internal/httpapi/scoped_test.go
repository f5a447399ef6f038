package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestScoped: every route mounted through Scoped needs the scope: a
// collect-only token is refused (403), a token with the scope reaches
// the handler, and the patterns are still recorded.
func TestScoped(t *testing.T) {
	mux := http.NewServeMux()
	routes := NewRoutes(mux)
	Scoped(routes, "payouts").Handle("POST /v1/payouts", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	for _, c := range []struct {
		scopes []string
		want   int
	}{{[]string{"payments"}, http.StatusForbidden}, {[]string{"payments", "payouts"}, http.StatusCreated}} {
		req := httptest.NewRequest(http.MethodPost, "/v1/payouts", nil)
		req = req.WithContext(WithPrincipal(req.Context(), Principal{Name: "shop", Scopes: c.scopes}))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("scopes %v: %d, want %d", c.scopes, rec.Code, c.want)
		}
	}
	if p := routes.Patterns(); len(p) != 1 || p[0] != "POST /v1/payouts" {
		t.Errorf("patterns %v", p)
	}
}
