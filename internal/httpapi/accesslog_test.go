package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"req_0123", true},
		{"3f2a1c4e-5b6d-7e8f-9a0b-1c2d3e4f5a6b", true},
		{"Root=1-67891233-abcdef012345678912345678", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"a b", false},
		{"a\nb", false},
		{`a"b`, false},
		{"é", false},
	} {
		if got := ValidRequestID(tt.id); got != tt.want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func FuzzValidRequestID(f *testing.F) {
	f.Add("req_1")
	f.Add("a\x00b")
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidRequestID(id) {
			return
		}
		if len(id) > maxRequestID || strings.ContainsAny(id, " \t\r\n\"\\<>&%;,") || strings.ContainsFunc(id, func(r rune) bool { return r >= 0x7f || r < 0x20 }) {
			t.Fatalf("accepted %q", id)
		}
	})
}

// TestAccessLogHandler: the line of a 500 carries the handler's error and
// the ID the answer names; a panic is logged as a 500 and re-raised.
func TestAccessLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	mux := http.NewServeMux()
	mux.Handle("GET /fail/{x}", Handle(func(http.ResponseWriter, *http.Request) error { return errors.New("boom: disk on fire") }))
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) == "" {
			t.Error("no request ID in the handler's context")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h := AccessLog(mux, log, AccessLogOptions{Level: func(*http.Request) (slog.Level, bool) { return slog.LevelInfo, true }})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/fail/123", nil))
	id := rec.Header().Get(RequestIDHeader)
	if rec.Code != 500 || !strings.HasPrefix(id, "req_") || !strings.Contains(rec.Body.String(), id) || strings.Contains(rec.Body.String(), "disk on fire") {
		t.Fatalf("500: %d %q (id %q); want the ID in the answer and the error kept out of it", rec.Code, rec.Body, id)
	}
	line := buf.String()
	for _, want := range []string{"level=ERROR", `route="GET /fail/{x}"`, "status=500", "request_id=" + id, `err="boom: disk on fire"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %s", line, want)
		}
	}

	buf.Reset()
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/ok", nil)
	req.Header.Set(RequestIDHeader, "lb-42")
	h.ServeHTTP(rec, req)
	if rec.Header().Get(RequestIDHeader) != "lb-42" || !strings.Contains(buf.String(), "level=INFO") || !strings.Contains(buf.String(), "status=204") {
		t.Errorf("ok: id %q, log %q", rec.Header().Get(RequestIDHeader), buf.String())
	}

	buf.Reset()
	panicky := AccessLog(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom") }), log,
		AccessLogOptions{Level: func(*http.Request) (slog.Level, bool) { return 0, false }})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		panicky.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if !strings.Contains(buf.String(), "status=500") || !strings.Contains(buf.String(), "kaboom") {
		t.Errorf("panic log %q", buf.String())
	}
}
