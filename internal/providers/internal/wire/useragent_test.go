package wire

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/version"
)

// TestDoSendsUserAgent: provider calls say who they are, not Go's
// default: the Caller's User-Agent (the provider clients set it once, at
// construction), else the build's.
func TestDoSendsUserAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, caller, want string
	}{
		{"the build's", "", version.UserAgent()},
		{"the caller's", "finconnectd/9.9.9", "finconnectd/9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("User-Agent")
			}))
			t.Cleanup(srv.Close)
			c := &Caller{Provider: providers.ClickPesa, Block: "b", UserAgent: tt.caller}
			if _, err := c.Do(context.Background(), Request{Op: "op", Method: http.MethodGet, URL: srv.URL}); err != nil {
				t.Fatal(err)
			}
			if ua := <-got; ua != tt.want {
				t.Fatalf("User-Agent %q, want %q", ua, tt.want)
			}
		})
	}
}
