package acceptance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/delivery"
)

// eventData is the part of an event's data the tests look at.
type eventData struct {
	PaymentID         string `json:"payment_id"`
	Provider          string `json:"provider"`
	Reference         string `json:"reference"`
	ProviderReference string `json:"provider_reference"`
	Status            string `json:"status"`
	Amount            string `json:"amount"`
	Currency          string `json:"currency"`
}

// received is one POST the sink got.
type received struct {
	Path      string
	WebhookID string
	Type      string
	Data      eventData
	VerifyErr string // empty: the signature verified
	Answer    int
	Cut       bool // the sender went away while the sink held the request (see hold)
}

// sink is the operator's endpoint: one path per route, each with its own
// Standard Webhooks secret. It verifies every delivery with
// delivery.Verify before reading it, answers 401 when that fails, and
// can be scripted to fail a reference's first attempts.
type sink struct {
	srv  *httptest.Server
	keys map[string][]byte // path → decoded key; fixed after newSink

	mu       sync.Mutex
	got      []received
	script   map[string][]int // reference → answers before the 204
	held     chan struct{}    // non-nil: verified deliveries wait until it is closed
	inFlight int              // requests waiting on held
}

// newSink serves paths, each verifying with the matching secret
// (whsec_…). It is closed when the test ends.
func newSink(t *testing.T, secrets map[string]string) *sink {
	t.Helper()
	s := &sink{keys: map[string][]byte{}, script: map[string][]int{}}
	for path, sec := range secrets {
		key, err := delivery.DecodeSecret(sec)
		if err != nil {
			t.Fatalf("sink secret for %s: %v", path, err)
		}
		s.keys[path] = key
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	rec := received{Path: r.URL.Path, WebhookID: r.Header.Get("webhook-id")}
	key, ok := s.keys[r.URL.Path]
	switch {
	case r.Method != http.MethodPost:
		rec.VerifyErr = "method " + r.Method
	case !ok:
		rec.VerifyErr = "no route at " + r.URL.Path
	default:
		if err := delivery.Verify(key, rec.WebhookID, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"),
			body, time.Now(), 5*time.Minute); err != nil {
			rec.VerifyErr = err.Error()
		}
	}
	if rec.VerifyErr == "" {
		var ev struct {
			Type string    `json:"type"`
			Data eventData `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			rec.VerifyErr = "body: " + err.Error()
		}
		rec.Type, rec.Data = ev.Type, ev.Data
	}
	s.mu.Lock()
	held := s.held
	if held != nil && rec.VerifyErr == "" {
		s.inFlight++
		s.mu.Unlock()
		select {
		case <-held:
		case <-r.Context().Done():
			rec.Cut = true
		}
		s.mu.Lock()
		s.inFlight--
	}
	if rec.Cut {
		s.got = append(s.got, rec)
		s.mu.Unlock()
		return
	}
	rec.Answer = http.StatusNoContent
	if rec.VerifyErr != "" {
		rec.Answer = http.StatusUnauthorized
	} else if q := s.script[rec.Data.Reference]; len(q) > 0 {
		rec.Answer, s.script[rec.Data.Reference] = q[0], q[1:]
	}
	s.got = append(s.got, rec)
	s.mu.Unlock()
	if rec.Answer == http.StatusServiceUnavailable || rec.Answer == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(rec.Answer)
}

// url is the forward URL of a route served at path.
func (s *sink) url(path string) string { return s.srv.URL + path }

// failFirst makes the sink answer the first deliveries of ref with codes,
// in order, before it accepts one.
func (s *sink) failFirst(ref string, codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script[ref] = codes
}

// hold makes verified deliveries wait, unanswered, until release (or
// until their sender goes away: received.Cut).
func (s *sink) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = make(chan struct{})
	}
}

// release answers every held delivery, and later ones at once.
func (s *sink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// waiting is how many deliveries are held right now.
func (s *sink) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// all is every POST received so far.
func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// forRef is every POST whose verified event is about ref.
func (s *sink) forRef(ref string) []received {
	var out []received
	for _, r := range s.all() {
		if r.Data.Reference == ref {
			out = append(out, r)
		}
	}
	return out
}

// accepted is the verified deliveries of ref the sink answered 2xx.
func (s *sink) accepted(ref string) []received {
	var out []received
	for _, r := range s.forRef(ref) {
		if r.VerifyErr == "" && r.Answer/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

// unverified lists the deliveries whose signature did not verify.
func (s *sink) unverified() []string {
	var out []string
	for _, r := range s.all() {
		if r.VerifyErr != "" {
			out = append(out, r.Path+": "+r.VerifyErr)
		}
	}
	return out
}

// checkClean fails the test when a delivery did not verify.
func (s *sink) checkClean(t *testing.T) {
	t.Helper()
	if bad := s.unverified(); len(bad) > 0 {
		t.Errorf("deliveries whose Standard Webhooks signature did not verify:\n%s", strings.Join(bad, "\n"))
	}
}
