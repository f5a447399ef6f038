package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

// RequestIDHeader carries a request's ID: the caller's when it sent a
// usable one, else one made up; always in the answer.
const RequestIDHeader = "X-Request-Id"

// maxRequestID bounds a caller's request ID.
const maxRequestID = 128

type requestIDKey struct{}

// RequestID returns the ID AccessLog gave the request ("" outside it).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ValidRequestID reports whether a caller's X-Request-Id can be used as
// it is: 1 to 128 characters of letters, digits and ._:-/+= (a UUID, a
// trace ID, a load balancer's ID), nothing that could break a log line.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '-', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// AccessLogOptions configure AccessLog.
type AccessLogOptions struct {
	// Level returns the level requests are logged at (read per request,
	// so a reload takes effect at once); ok false: not logged. Answers
	// of 500 and above are logged at Error whatever it says.
	Level func(r *http.Request) (level slog.Level, ok bool)
	// Now is the clock durations are measured with (default time.Now).
	Now func() time.Time
}

// AccessLog gives every request an ID (the caller's X-Request-Id when
// ValidRequestID, else a new one), answers it in X-Request-Id, and logs
// the request when it is done: method, route pattern (not the raw path,
// which may carry IDs), status, duration and ID. A 5xx is logged at Error
// with the error the handler gave WriteError, so the "see the daemon's
// log" of a 500 leads somewhere.
func AccessLog(next http.Handler, log *slog.Logger, o AccessLogOptions) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := o.Now()
		id := r.Header.Get(RequestIDHeader)
		if !ValidRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		rec := &recorder{ResponseWriter: w, id: id}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		defer func() {
			// A panic is answered 500 by net/http after this: log it as one.
			p := recover()
			status := rec.status
			if p != nil {
				status = http.StatusInternalServerError
			} else if status == 0 {
				status = http.StatusOK
			}
			level, ok := o.Level(r)
			if status >= 500 {
				level, ok = slog.LevelError, true
			}
			if ok && log.Enabled(r.Context(), level) {
				pattern := rec.pattern // the innermost mux's, when Handle saw it
				if pattern == "" {
					pattern = r.Pattern
				}
				if pattern == "" {
					pattern = "(no route)"
				}
				attrs := []slog.Attr{
					slog.String("method", r.Method), slog.String("route", pattern), slog.Int("status", status),
					slog.Float64("duration_ms", float64(o.Now().Sub(start).Microseconds())/1000),
					slog.Int64("bytes", rec.bytes), slog.String("request_id", id),
				}
				switch {
				case p != nil:
					attrs = append(attrs, slog.Any("err", p))
				case rec.err != nil:
					attrs = append(attrs, slog.String("err", rec.err.Error()))
				}
				log.LogAttrs(r.Context(), level, "api request", attrs...)
			}
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder notes the status, size and internal error of an answer.
type recorder struct {
	http.ResponseWriter
	id      string
	pattern string // the route pattern of the handler that answered
	status  int
	bytes   int64
	err     error
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// noteError keeps err for the access log line of w's request and returns
// the request's ID ("" when w is not inside AccessLog).
func noteError(w http.ResponseWriter, err error) string {
	for {
		switch v := w.(type) {
		case *recorder:
			v.err = err
			return v.id
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return ""
		}
	}
}

// notePattern records the route pattern of the request w answers, as the
// innermost ServeMux set it: a middleware that passes a copy of the
// request on (r.WithContext) keeps the outer one from seeing it.
func notePattern(w http.ResponseWriter, pattern string) {
	if pattern == "" {
		return
	}
	for {
		switch v := w.(type) {
		case *recorder:
			v.pattern = pattern
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return
		}
	}
}
