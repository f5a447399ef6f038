package admission

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestLimiter: with every slot taken, the next request is refused with 503
// and Retry-After without reaching the handler; once a slot is free,
// requests are served again.
func TestLimiter(t *testing.T) {
	release := make(chan struct{})
	var served, refused atomic.Int64
	l := New(2, 10*time.Millisecond, 3*time.Second)
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/hold" {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}), func(*http.Request) { refused.Add(1) })
	srv := httptest.NewServer(h)
	defer srv.Close()

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL + "/hold")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("held request: %d", resp.StatusCode)
			}
		}()
	}
	testkit.Eventually(t, "both slots are taken", func() bool { return l.InFlight() == 2 })

	resp, err := http.Post(srv.URL+"/more", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("over the limit: %d Retry-After %q (%s), want 503 with Retry-After 3", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if served.Load() != 2 || refused.Load() != 1 {
		t.Fatalf("served %d refused %d, want 2 and 1: a refused request must not reach the handler", served.Load(), refused.Load())
	}

	close(release)
	wg.Wait()
	resp, err = http.Get(srv.URL + "/after")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || l.InFlight() != 0 {
		t.Fatalf("after the slots were freed: %d, in flight %d", resp.StatusCode, l.InFlight())
	}
}

// TestLimiterWaits: a request that finds every slot taken gets the one
// freed within its wait.
func TestLimiterWaits(t *testing.T) {
	l := New(1, time.Minute, time.Second)
	release := make(chan struct{})
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
	}), nil)
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/hold", nil))
	testkit.Eventually(t, "the slot is taken", func() bool { return l.InFlight() == 1 })
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/next", nil))
		done <- rec.Code
	}()
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("waiting request: %d, want 200", code)
	}
}
