package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// startEmulator runs an emulator on 127.0.0.1:0 with fast customer answers.
func startEmulator(t testing.TB, o Options) *Emulator {
	t.Helper()
	if o.Settings.Delay == 0 {
		o.Settings.Delay = Duration(10 * time.Millisecond)
	}
	if o.Settings.SlowAnswer == 0 {
		o.Settings.SlowAnswer = Duration(300 * time.Millisecond)
	}
	if o.IPNRetry == nil {
		o.IPNRetry = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond}
	}
	if o.RSAKey == nil {
		o.RSAKey = testKey(t)
	}
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the answer's body into v.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", a.body, err)
	}
}

func (a answer) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	a.decode(t, &m)
	return m
}

// call sends one request with a plain net/http client.
func call(t testing.TB, method, url string, header map[string]string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// sink is a notification receiver on 127.0.0.1 that records what it gets.
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// answer decides the reply for the n-th (0-based) notification.
	answer func(n int, r received) (int, string)
}

type received struct {
	method string
	query  string
	header http.Header
	body   []byte
}

func newSink(t testing.TB, answer func(n int, r received) (int, string)) *sink {
	t.Helper()
	s := &sink{answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		rc := received{method: r.Method, query: r.URL.RawQuery, header: r.Header.Clone(), body: b}
		s.mu.Lock()
		n := len(s.got)
		s.got = append(s.got, rc)
		s.mu.Unlock()
		status, body := http.StatusOK, ""
		if s.answer != nil {
			status, body = s.answer(n, rc)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sharedKey saves generating an RSA key in every test.
var sharedKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := sharedKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = testkit.SyncBuffer

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// queued counts the notifications the emulator queued for what (e.g. "ipn ID").
// A notification is queued in the same step as the status change it reports,
// so once a status query shows the change this count is final.
func queued(logs *syncBuffer, what string) int {
	return logCount(logs, "sandbox notification queued", what)
}

// acked counts the notifications for what that were acknowledged.
func acked(logs *syncBuffer, what string) int {
	return logCount(logs, "sandbox notification acknowledged", what)
}

func logCount(logs *syncBuffer, msg, what string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && strings.Contains(line, `what="`+what+`"`) {
			n++
		}
	}
	return n
}
