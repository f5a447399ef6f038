package contracttest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func newClock() *testkit.ManualClock { return testkit.NewManualClock(time.Now()) }

// notice is one notification the emulator delivered to the receiver.
type notice struct {
	Method      string
	Path        string
	Query       string
	ContentType string
	Body        []byte
}

// receiver is a loopback merchant endpoint that records and acknowledges
// notifications the way each provider expects.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []notice
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		n := notice{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, ContentType: req.Header.Get("Content-Type"), Body: body}
		r.mu.Lock()
		r.got = append(r.got, n)
		r.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/pesapal") {
			ipn, err := pesapal.ParseIPN(req.Method, req.URL.Query(), n.ContentType, body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(ipn.Ack(200))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL(path string) string { return r.srv.URL + path }

func (r *receiver) notices(pathPrefix string) []notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notice
	for _, n := range r.got {
		if strings.HasPrefix(n.Path, pathPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// startEmulator runs the emulator on 127.0.0.1:0 with fast customers.
func startEmulator(t testing.TB, s sandbox.Settings, now func() time.Time) *sandbox.Emulator {
	t.Helper()
	if s.Delay == 0 {
		s.Delay = sandbox.Duration(5 * time.Millisecond)
	}
	if s.SlowAnswer == 0 {
		s.SlowAnswer = sandbox.Duration(3 * time.Second)
	}
	e, err := sandbox.New(sandbox.Options{
		Settings: s,
		Now:      now,
		IPNRetry: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("sandbox Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("sandbox Stop: %v", err)
		}
	})
	return e
}

// httpClient is a client with its own transport whose idle connections
// are closed when the test ends (before the emulator stops, since cleanups
// run last-registered first), so the emulator's graceful stop does not wait
// for connections that were dialled but never used.
func httpClient(t testing.TB) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 100
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// requests returns what the emulator received on paths ending with suffix.
func requests(e *sandbox.Emulator, suffix string) []sandbox.Request {
	var out []sandbox.Request
	for _, r := range e.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// settle polls QueryPayment until the status leaves pending.
func settle(t testing.TB, p providers.Payer, q providers.PaymentQuery) providers.PaymentStatus {
	t.Helper()
	var st providers.PaymentStatus
	testkit.Eventually(t, "payment "+q.Reference+" to settle", func() bool {
		var err error
		st, err = p.QueryPayment(context.Background(), q)
		if err != nil {
			t.Fatalf("QueryPayment(%+v): %v", q, err)
		}
		return st.Status != providers.StatusPending
	})
	return st
}

func jsonField(t testing.TB, body, field string) any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return m[field]
}
