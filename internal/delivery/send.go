package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const (
	// maxResponseBody is how much of a receiver's answer is read (then
	// the rest is dropped with the connection).
	maxResponseBody = 64 << 10
	// maxErrorBody is how much of it goes into the attempt's error text.
	maxErrorBody = 200
)

// outcome is what one POST came to.
type outcome int

const (
	outcomeDelivered outcome = iota // 2xx
	outcomeFailed                   // anything else: retry on the schedule
	outcomeGone                     // 410: dead now
)

// sendResult describes one attempt.
type sendResult struct {
	outcome    outcome
	statusCode int    // 0 without a response
	errText    string // "" when delivered; never the secret, signature or query
	// retryAfter is the receiver's Retry-After (429/503), clamped.
	retryAfter    time.Duration
	hasRetryAfter bool
}

// message is one signed POST.
type message struct {
	id   string // webhook-id: the event ID
	body []byte
}

// noRedirect makes the client hand back 3xx answers as they are.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// send POSTs msg to the route's forward within its timeout and classifies
// the answer. ctx bounds it further (shutdown).
func send(ctx context.Context, client *http.Client, rt *routeConf, userAgent string, msg message, now time.Time) sendResult {
	ctx, cancel := context.WithTimeout(ctx, rt.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.url, bytes.NewReader(msg.body))
	if err != nil {
		return sendResult{outcome: outcomeFailed, errText: rt.redact("build request: " + err.Error())}
	}
	sig := Sign(rt.key, msg.id, now, msg.body)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h["webhook-id"] = []string{msg.id}
	h["webhook-timestamp"] = []string{strconv.FormatInt(now.Unix(), 10)}
	h["webhook-signature"] = []string{sig}
	resp, err := client.Do(req)
	if err != nil {
		return sendResult{outcome: outcomeFailed, errText: rt.redact(transportError(ctx, err, rt.timeout)), statusCode: 0}
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	code := resp.StatusCode
	res := sendResult{statusCode: code}
	switch {
	case code >= 200 && code <= 299:
		res.outcome = outcomeDelivered
		return res
	case code == http.StatusGone:
		res.outcome = outcomeGone
	default:
		res.outcome = outcomeFailed
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", code)
	if t := http.StatusText(code); t != "" {
		b.WriteString(" " + t)
	}
	switch {
	case code == http.StatusGone:
		b.WriteString(" (the receiver asked to stop: no more attempts)")
	case code >= 300 && code <= 399:
		b.WriteString(" (redirects are not followed")
		if loc := resp.Header.Get("Location"); loc != "" {
			b.WriteString("; Location: " + stripURL(loc))
		}
		b.WriteString(")")
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		res.retryAfter, res.hasRetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	if snippet := cleanText(body, maxErrorBody); snippet != "" {
		b.WriteString(": " + snippet)
	} else if rerr != nil {
		b.WriteString(": reading the body failed")
	}
	// The receiver might echo our headers back: keep the signature out.
	res.errText = strings.ReplaceAll(rt.redact(b.String()), sig, "(signature)")
	return res
}

// transportError says why there was no answer, without the URL (the
// caller knows the route; the URL's query may hold a token).
func transportError(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s (forward.timeout)", timeout)
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled: finconnectd is stopping"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return cleanText([]byte(err.Error()), 300)
}

// stripURL keeps scheme, host and path of a URL: no userinfo, query or
// fragment. Unparsable input is dropped.
func stripURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable URL)"
	}
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return cleanText([]byte(out.String()), 200)
}

// cleanText keeps at most n bytes of b as one printable line of valid
// UTF-8: invalid bytes (a rune cut at n included) are dropped, anything
// unprintable becomes a space, and runs of spaces become one.
func cleanText(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b[:min(len(b), n)]), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
