package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/version"
)

// testEventType is the type of the events 'events test' sends: receivers
// ignore types they do not know, so it can never be taken for a payment.
const testEventType = "test"

// eventsTest is `finconnectd events test ROUTE`: one signed test event
// POSTed to the route's forward, as a delivery attempt would send it.
func eventsTest(ctx context.Context, cio IO, a eventsArgs, now func() time.Time) int {
	cfg := loadConfig(cio, a.Config)
	if cfg == nil {
		return ExitError
	}
	name := a.IDs[0]
	rt := cfg.Route(name)
	if rt == nil {
		names := make([]string, 0, len(cfg.Routes))
		for _, r := range cfg.Routes {
			names = append(names, r.Name)
		}
		fmt.Fprintf(cio.Stderr, "Error: no route %q in the configuration (routes: %v)\n", clean(name), names)
		return ExitError
	}
	key, err := delivery.DecodeSecret(rt.Forward.Secret.Reveal())
	if err != nil {
		fmt.Fprintf(cio.Stderr, "Error: route %s: forward secret: %v\n", rt.Name, err)
		return ExitError
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	id := "evt_test_" + hex.EncodeToString(b)
	at := now().UTC()
	body, err := settle.EventPayload(state.Payment{ID: "pay_test", Provider: rt.Provider, Reference: "TEST", Status: "test"}, id, testEventType, at, nil)
	if err != nil {
		fmt.Fprintf(cio.Stderr, "Error: %v\n", err)
		return ExitError
	}
	timeout := rt.Forward.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.Forward.URL, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(cio.Stderr, "Error: route %s: forward url: %v\n", rt.Name, err)
		return ExitError
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", version.UserAgent())
	req.Header["webhook-id"] = []string{id}
	req.Header["webhook-timestamp"] = []string{strconv.FormatInt(at.Unix(), 10)}
	req.Header["webhook-signature"] = []string{delivery.Sign(key, id, at, body)}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry credentials in its query: name the route, not it.
		fmt.Fprintf(cio.Stderr, "Error: route %s: the forward did not answer: %v\n", rt.Name, urlErrorCause(err))
		return ExitError
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	fmt.Fprintf(cio.Stdout, "Sent test event %s to route %s: HTTP %d %s\n", id, rt.Name, resp.StatusCode, clean(string(bytes.TrimSpace(answer))))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(cio.Stderr, "Error: the receiver did not accept it (a delivery would be retried); check its URL and that it verifies with the route's secret.")
		return ExitError
	}
	return ExitOK
}

// urlErrorCause drops the URL a *url.Error repeats (it may carry a token in
// its query).
func urlErrorCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
