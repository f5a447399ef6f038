// Package wire holds what the three provider clients share about talking
// HTTP to a provider: one bounded, timed-out request; the classification of
// failures into *providers.Error kinds; lenient JSON scalars; reporting to
// the CallObserver.
//
// It must not log, must not put request bodies, tokens or credentials into
// errors, and holds no package-level state.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/tokencache"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/version"
)

// MaxBody is the most of a response body a client reads (1 MiB).
const MaxBody = 1 << 20

// DefaultTimeout bounds one provider call when the client's options say nothing.
const DefaultTimeout = 30 * time.Second

// Caller sends requests to one provider instance.
type Caller struct {
	Provider providers.Kind
	Block    string
	HTTP     *http.Client
	Timeout  time.Duration
	Observer providers.CallObserver
	Now      func() time.Time
	// Secrets are scrubbed from every provider message an error carries,
	// in case a provider echoes a credential back in its error text.
	Secrets []secret.Value
	// UserAgent is every request's User-Agent, unless the request sets
	// one; empty means version.UserAgent(). A client sets it once: reading
	// the build's version information costs about 5 µs, on every call.
	UserAgent string
}

// Response is a provider's answer with its body read (at most MaxBody).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request describes one call.
type Request struct {
	Op         string // human operation name for errors: "submit order"
	Method     string
	URL        string
	Header     http.Header
	Body       []byte // nil for none
	Initiation bool   // a payment initiation: a broken call is an unknown outcome
}

// Do sends r and reads the bounded response. The only error it returns is a
// classified *providers.Error for a transport failure (no HTTP answer, or an
// answer whose body could not be read).
func (c *Caller) Do(ctx context.Context, r Request) (Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		// A malformed URL is a configuration problem; repeating will not help.
		return Response{}, c.Err(r.Op, providers.Permanent, 0, "", "", fmt.Errorf("build request: %w", redactURLError(err)))
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		ua := c.UserAgent
		if ua == "" {
			ua = version.UserAgent()
		}
		req.Header.Set("User-Agent", ua)
	}
	if r.Body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		// Provider APIs do not redirect; following one could resend a
		// payment body somewhere unexpected.
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, c.Err(r.Op, transportKind(r.Initiation, err), 0, "", "", redactURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return Response{}, c.Err(r.Op, transportKind(r.Initiation, err), resp.StatusCode, "", "", fmt.Errorf("read response: %w", redactURLError(err)))
	}
	if len(b) > MaxBody {
		kind := providers.Retryable
		if r.Initiation {
			kind = providers.UnknownOutcome
		}
		return Response{}, c.Err(r.Op, kind, resp.StatusCode, "", "", fmt.Errorf("response body exceeds %d bytes", MaxBody))
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// transportKind classifies a failure to get an answer. A request that never
// left (connection refused, DNS failure) is safe to repeat even for an
// initiation; anything after that is an unknown outcome for an initiation.
func transportKind(initiation bool, err error) providers.ErrorKind {
	if !initiation {
		return providers.Retryable
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return providers.Retryable
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return providers.Retryable
	}
	return providers.UnknownOutcome
}

// redactURLError drops the URL from a *url.Error (the operation name says
// enough, and query strings are nobody's business in a log line), keeping the
// cause so errors.Is(err, context.DeadlineExceeded) still works.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// Err builds a classified error for this provider instance.
func (c *Caller) Err(op string, kind providers.ErrorKind, status int, code, msg string, cause error) *providers.Error {
	return &providers.Error{
		Provider:   c.Provider,
		Block:      c.Block,
		Op:         op,
		Kind:       kind,
		HTTPStatus: status,
		Code:       code,
		Message:    truncate(c.scrub(msg), 300),
		Err:        cause,
	}
}

func (c *Caller) scrub(msg string) string {
	for _, sv := range c.Secrets {
		if v := sv.Reveal(); len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, secret.Redacted)
		}
	}
	return msg
}

// StatusKind classifies an HTTP answer that is not a success: 429 is always
// retryable; 5xx is retryable for reads and an unknown outcome for an
// initiation; other 4xx are permanent rejections.
func StatusKind(initiation bool, status int) providers.ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return providers.Retryable
	case status >= 500:
		if initiation {
			return providers.UnknownOutcome
		}
		return providers.Retryable
	default:
		return providers.Permanent
	}
}

// Observe reports one finished operation to the observer, if any.
func (c *Caller) Observe(op string, start time.Time, err error) {
	if c.Observer == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		switch providers.KindOf(err) {
		case providers.Retryable:
			outcome = "retryable"
		case providers.Permanent:
			outcome = "permanent"
		case providers.Auth:
			outcome = "auth"
		case providers.UnknownOutcome:
			outcome = "unknown_outcome"
		default:
			outcome = "error"
		}
	}
	c.Observer(c.Provider, op, outcome, c.now().Sub(start))
}

// Start returns the clock reading for Observe.
func (c *Caller) Start() time.Time { return c.now() }

func (c *Caller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// String is a JSON scalar read leniently as text: a string as-is, a number
// verbatim (no float64 round trip), true/false, and null as "".
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (s *String) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		if v, ok := plainString(b); ok {
			*s = String(v)
			return nil
		}
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = String(v)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("want a string or number, got %c", b[0])
	default:
		*s = String(b)
	}
	return nil
}

// plainString returns the text of a quoted JSON string that is printable
// ASCII without escapes (nearly every value providers send): it is exactly
// the bytes between the quotes, so decoding it with encoding/json, a full
// decoder run per value, is skipped. Any other string is not plain.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(inner), true
}

// Int is a JSON integer that may also arrive as a string ("200") or null (0).
type Int int

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	var s String
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*n = 0
		return nil
	}
	v, err := strconv.Atoi(string(s))
	if err != nil {
		return fmt.Errorf("want an integer, got %q", truncate(string(s), 20))
	}
	*n = Int(v)
	return nil
}

// Snippet returns the start of a body for an error message when the
// provider gave no structured message: printable, at most 200 bytes.
func Snippet(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	return truncate(s, 200)
}

// JoinURL appends path to base without doubling slashes.
func JoinURL(base, path string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// DefaultReadRetries and DefaultRetryBackoff bound the retries of reads.
const (
	DefaultReadRetries  = 2
	DefaultRetryBackoff = 200 * time.Millisecond
)

// Retry runs fn, and runs it again (at most retries more times) while it
// fails with a Retryable error that is not a timeout, waiting base, 2·base,
// 4·base … (each with up to 50 % jitter) in between. Only reads may be
// retried: an initiation is never passed here. A timed-out call is not
// repeated (the caller's budget is spent); the context ends the waiting.
func Retry(ctx context.Context, retries int, base time.Duration, fn func() error) error {
	err := fn()
	for i := 0; i < retries && err != nil; i++ {
		if !providers.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return err
		}
		wait := base << i
		wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = fn()
	}
	return err
}

// ReadRetryPolicy resolves a client's ReadRetries and RetryBackoff options:
// 0 retries means DefaultReadRetries, negative means none; a backoff of 0
// or less means DefaultRetryBackoff.
func ReadRetryPolicy(retries int, backoff time.Duration) (int, time.Duration) {
	switch {
	case retries == 0:
		retries = DefaultReadRetries
	case retries < 0:
		retries = 0
	}
	if backoff <= 0 {
		backoff = DefaultRetryBackoff
	}
	return retries, backoff
}

// DoAuthorized sends r with a token from tokens, put in r.Header by
// authorize. After a 401 it forgets that token and tries once more with a
// fresh one (the provider may have revoked it before its expiry); a second
// 401 is returned to the caller to report as an authentication failure.
func (c *Caller) DoAuthorized(ctx context.Context, tokens *tokencache.Cache, r Request, authorize func(h http.Header, token string)) (Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := tokens.Token(ctx)
		if err != nil {
			return Response{}, err
		}
		req := r
		req.Header = r.Header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		authorize(req.Header, tok)
		resp, err := c.Do(ctx, req)
		if err != nil {
			return Response{}, err
		}
		if resp.Status == http.StatusUnauthorized && attempt == 0 {
			tokens.Invalidate(tok)
			continue
		}
		return resp, nil
	}
}
