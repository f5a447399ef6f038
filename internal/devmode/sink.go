package devmode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/delivery"
)

// sinkMaxBody bounds an event body; sinkMaxEvents bounds what Events keeps.
const (
	sinkMaxBody      = 1 << 20
	sinkMaxEvents    = 1000
	sinkTolerance    = 5 * time.Minute
	sinkStopDeadline = 5 * time.Second
)

// SinkOptions configure a Sink.
type SinkOptions struct {
	// Secret is the Standard Webhooks secret, "whsec_" + base64.
	Secret string
	Logger *slog.Logger
	// Stdout gets one human line per accepted event; with it, the Logger
	// gets that event at debug level only, so it is reported once (nil:
	// the Logger reports it at info level).
	Stdout io.Writer
	Now    func() time.Time
	// AnyPath accepts events POSTed to any path, not only /events.
	AnyPath bool
	// Bodies makes the Stdout line of each event its signed body, one
	// JSON document a line, instead of a summary.
	Bodies bool
}

// SinkEvent is one event the sink accepted.
type SinkEvent struct {
	ID        string // webhook-id
	Type      string
	PaymentID string
	Reference string
	Provider  string
	Status    string
	Body      []byte
}

// Sink is the dev event receiver: it verifies the Standard Webhooks
// signature of every POST /events and logs what it got.
type Sink struct {
	key     []byte
	log     *slog.Logger
	stdout  io.Writer
	now     func() time.Time
	anyPath bool
	bodies  bool

	mu     sync.Mutex
	events []SinkEvent
	srv    *http.Server
	url    string
	done   chan struct{}
}

// NewSink checks the secret; it starts nothing.
func NewSink(o SinkOptions) (*Sink, error) {
	key, err := delivery.DecodeSecret(o.Secret)
	if err != nil {
		return nil, fmt.Errorf("event sink: %w", err)
	}
	s := &Sink{key: key, log: o.Logger, stdout: o.Stdout, now: o.Now, anyPath: o.AnyPath, bodies: o.Bodies}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Handler serves POST /events (POST to any path with AnyPath).
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.anyPath {
		mux.HandleFunc("POST /", s.handle)
	} else {
		mux.HandleFunc("POST /events", s.handle)
	}
	return mux
}

// Start listens on addr and serves in the background.
func (s *Sink) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("event sink: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.url = "http://" + ln.Addr().String()
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	s.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ErrServerClosed after Stop
	}()
	return nil
}

// URL is the sink's base URL after Start.
func (s *Sink) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Stop shuts the listener down; idempotent and bounded by ctx.
func (s *Sink) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

// Events returns the accepted events, oldest first.
func (s *Sink) Events() []SinkEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkEvent(nil), s.events...)
}

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sinkMaxBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	id := r.Header.Get("webhook-id")
	if err := delivery.Verify(s.key, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, s.now(), sinkTolerance); err != nil {
		s.log.Warn("event sink: rejected an event: signature not verified", "webhook_id", id, "error", err)
		http.Error(w, "signature not verified", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID        string `json:"id"` // a payout's or refund's
			PaymentID string `json:"payment_id"`
			Provider  string `json:"provider"`
			Reference string `json:"reference"`
			Status    string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		s.log.Warn("event sink: signed body is not an event", "webhook_id", id, "error", err)
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	got := SinkEvent{ID: id, Type: ev.Type, PaymentID: ev.Data.PaymentID, Reference: ev.Data.Reference,
		Provider: ev.Data.Provider, Status: ev.Data.Status, Body: body}
	s.mu.Lock()
	if len(s.events) >= sinkMaxEvents {
		s.events = append(s.events[:0], s.events[1:]...)
	}
	s.events = append(s.events, got)
	s.mu.Unlock()
	// One report per event: the human line when there is a Stdout (the
	// log then has it at debug level only), else the log line.
	level := slog.LevelInfo
	switch {
	case s.stdout != nil && s.bodies:
		level = slog.LevelDebug
		var b bytes.Buffer
		if json.Compact(&b, body) == nil {
			b.WriteByte('\n')
			_, _ = s.stdout.Write(b.Bytes())
		}
	case s.stdout != nil:
		level = slog.LevelDebug
		subject := ev.Data.PaymentID
		if strings.HasPrefix(ev.Data.ID, "po_") {
			subject = ev.Data.ID // a payout or refund: its own ID
		}
		fmt.Fprintf(s.stdout, "event sink: %s %s reference %s (%s) - signature verified\n", clean(ev.Type), clean(subject), clean(ev.Data.Reference), clean(ev.Data.Provider))
	}
	s.log.Log(r.Context(), level, "event sink: received event, signature verified", "webhook_id", id, "type", ev.Type,
		"payment_id", ev.Data.PaymentID, "provider", ev.Data.Provider, "reference", ev.Data.Reference, "status", ev.Data.Status)
	w.WriteHeader(http.StatusNoContent)
}

// clean keeps sender-supplied text from moving the terminal around.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
