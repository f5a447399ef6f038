package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Tap is an HTTP server on 127.0.0.1 that stands between a sender and a
// receiver: it keeps each JSON body it is sent by the value of one of its
// top-level string fields, forwards the body to the receiver and answers
// with the receiver's status. Tests use it to get hold of what a provider
// emulator sends (e.g. a signed callback) while it still reaches the
// daemon.
type Tap struct {
	URL string

	key, next string
	mu        sync.Mutex
	bodies    map[string][]byte
}

// NewTap starts a Tap keeping bodies by field key and forwarding to next;
// it stops when the test ends.
func NewTap(tb testing.TB, key, next string) *Tap {
	tb.Helper()
	t := &Tap{key: key, next: next, bodies: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(t.serve))
	tb.Cleanup(srv.Close)
	t.URL = srv.URL
	return t
}

func (t *Tap) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	k, _ := m[t.key].(string)
	t.mu.Lock()
	t.bodies[k] = b
	t.mu.Unlock()
	resp, err := http.Post(t.next, r.Header.Get("Content-Type"), bytes.NewReader(b))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
}

// Body is the last body whose field was value, or nil.
func (t *Tap) Body(value string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bodies[value]
}
