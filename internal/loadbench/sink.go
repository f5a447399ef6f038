package loadbench

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// sink is the operator's endpoint: it answers every event 200 (or holds
// it, see hold) and remembers when each reference's event first arrived.
type sink struct {
	srv  *http.Server
	addr string
	// While holding, requests wait until release is closed (or their
	// client goes away) and are then answered 503.
	holdMu  sync.Mutex
	release chan struct{}
	held    atomic.Int64

	mu       sync.Mutex
	first    map[string]time.Time // reference -> first 2xx answer
	received int
}

func newSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String(), first: map[string]time.Time{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) url(path string) string { return "http://" + s.addr + path }

func (s *sink) close() { _ = s.srv.Close() }

// hold makes every request wait until unhold.
func (s *sink) hold() {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	s.release = make(chan struct{})
}

func (s *sink) unhold() {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if s.release != nil {
		close(s.release)
		s.release = nil
	}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	now := time.Now()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.holdMu.Lock()
	release := s.release
	s.holdMu.Unlock()
	if release != nil {
		s.held.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		s.held.Add(-1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		Data struct {
			Reference string `json:"reference"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	ref := ev.Data.Reference
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	if _, ok := s.first[ref]; !ok {
		s.first[ref] = now
	}
	w.WriteHeader(http.StatusOK)
}

// arrivals returns the first-arrival time of each of refs that arrived.
func (s *sink) arrivals(refs []string) map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(refs))
	for _, r := range refs {
		if t, ok := s.first[r]; ok {
			out[r] = t
		}
	}
	return out
}

// waitArrived waits until every ref arrived or d passes; it returns the
// arrival times.
func (s *sink) waitArrived(refs []string, d time.Duration) map[string]time.Time {
	deadline := time.Now().Add(d)
	for {
		got := s.arrivals(refs)
		if len(got) == len(refs) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}
