package wire

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/version"
)

// TestDoSendsUserAgent: provider calls say who they are, not Go's default.
func TestDoSendsUserAgent(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("User-Agent")
	}))
	t.Cleanup(srv.Close)
	c := &Caller{Provider: providers.ClickPesa, Block: "b"}
	if _, err := c.Do(context.Background(), Request{Op: "op", Method: http.MethodGet, URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if ua := <-got; ua != version.UserAgent() {
		t.Fatalf("User-Agent %q, want %q", ua, version.UserAgent())
	}
}

// TestDoSendsCallersUserAgent: a Caller that names its User-Agent sends
// that one (the provider clients set it once, at construction).
func TestDoSendsCallersUserAgent(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("User-Agent")
	}))
	t.Cleanup(srv.Close)
	c := &Caller{Provider: providers.ClickPesa, Block: "b", UserAgent: "finconnectd/9.9.9"}
	if _, err := c.Do(context.Background(), Request{Op: "op", Method: http.MethodGet, URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if ua := <-got; ua != "finconnectd/9.9.9" {
		t.Fatalf("User-Agent %q, want the Caller's finconnectd/9.9.9", ua)
	}
}
