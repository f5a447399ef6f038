package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/finconnectd/finconnectd/internal/payments"
	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/state"
)

// moneyOutTimeout bounds one refund or cancel call to the daemon: its own
// provider calls are bounded (45 s) and it records the outcome before
// answering.
const moneyOutTimeout = 100 * time.Second

// maxAnswer bounds what is read of the daemon's answer.
const maxAnswer = 1 << 20

// apiTarget is where the running daemon's API is and how to reach it.
type apiTarget struct {
	base   string // http://host:port (or http://unix for a socket)
	client *http.Client
}

// resolveAPI finds the daemon's API: -api, else $FINCONNECT_API_URL, else
// $API (what serve -dev's banner exports), else the configuration's
// api.listen, else 127.0.0.1:8081.
func resolveAPI(io IO, flagAPI, cfgPath string, dev bool) (apiTarget, error) {
	t := apiTarget{client: &http.Client{Timeout: moneyOutTimeout}}
	raw := flagAPI
	for _, env := range []string{"FINCONNECT_API_URL", "API"} {
		if raw == "" {
			raw, _ = io.LookupEnv(env)
		}
	}
	if raw == "" && !dev {
		l := newLoader(io)
		if cfg, diags := l.Load(configPath(io, cfgPath)); !diags.HasErrors() {
			raw = cfg.API.Listen
		} else if cfgPath != "" {
			var errs hcl.Diagnostics
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			_ = l.WriteDiagnostics(io.Stderr, errs, diagWidth, colorOn(io))
			return t, errors.New("the configuration has errors")
		}
	}
	if raw == "" {
		raw = "127.0.0.1:8081"
	}
	if path, ok := strings.CutPrefix(raw, "unix:"); ok {
		t.base = "http://unix"
		t.client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
		return t, nil
	}
	if !strings.Contains(raw, "://") {
		host, port, err := net.SplitHostPort(raw)
		if err != nil {
			return t, fmt.Errorf("API address %q: %w", raw, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		raw = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return t, fmt.Errorf("API URL %q is not an http(s) URL", raw)
	}
	t.base = strings.TrimSuffix(raw, "/")
	return t, nil
}

// apiToken is the bearer token for the daemon: $FINCONNECT_API_TOKEN, else
// $TOKEN (what serve -dev's banner exports). Never a flag: a flag's value
// shows in the process list and the shell history.
func apiToken(io IO) string {
	for _, env := range []string{"FINCONNECT_API_TOKEN", "TOKEN"} {
		if v, ok := io.LookupEnv(env); ok && v != "" {
			return v
		}
	}
	return ""
}

// apiProblem is an error answer of the daemon.
type apiProblem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// post sends body to path with the token and returns the answer's status
// and body.
func (t apiTarget) post(ctx context.Context, path, token, idemKey string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer to POST %s: %w", path, err)
	}
	return resp.StatusCode, b, nil
}

// printProblem writes an error answer for a person.
func printProblem(w io.Writer, status int, body []byte) {
	var p apiProblem
	if json.Unmarshal(body, &p) != nil || p.Title == "" {
		fmt.Fprintf(w, "Error: the daemon answered %d: %s\n", status, clean(strings.TrimSpace(string(body))))
		return
	}
	fmt.Fprintf(w, "Error: %s (%d): %s\n", clean(p.Title), status, clean(p.Detail))
	for _, e := range p.Errors {
		fmt.Fprintf(w, "  %s: %s\n", clean(e.Field), clean(e.Message))
	}
}

// runMoneyOut is payments refund|cancel: a call to the running daemon's
// API, which stores, audits and sends.
func runMoneyOut(ctx context.Context, io IO, a paymentsArgs) int {
	token := apiToken(io)
	if token == "" {
		fmt.Fprintln(io.Stderr, "Error: no API token: export FINCONNECT_API_TOKEN (a token with the refunds scope), or paste the export line of serve -dev's banner")
		return ExitError
	}
	target, err := resolveAPI(io, a.API, a.Config, a.Dev)
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: %v\n", err)
		return ExitError
	}
	path := "/v1/payments/" + url.PathEscape(a.ID) + "/cancel"
	var body []byte
	if a.Sub == "refund" {
		path = "/v1/payments/" + url.PathEscape(a.ID) + "/refunds"
		body, _ = json.Marshal(payouts.RefundRequest{Reference: a.RefundRef, Amount: a.Amount, Reason: a.Reason})
	}
	status, resp, err := target.post(ctx, path, token, a.IdemKey, body)
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: %v (is 'finconnectd serve' running? -api names its address)\n", err)
		return ExitError
	}
	if status >= 300 {
		printProblem(io.Stderr, status, resp)
		return ExitError
	}
	if a.JSON {
		_, _ = io.Stdout.Write(resp)
		return ExitOK
	}
	if a.Sub == "refund" {
		var p payouts.Payout
		if err := json.Unmarshal(resp, &p); err != nil {
			fmt.Fprintf(io.Stderr, "Error: read the refund: %v\n", err)
			return ExitError
		}
		writePayout(io.Stdout, payoutFromView(p))
		return ExitOK
	}
	var p payments.Payment
	if err := json.Unmarshal(resp, &p); err != nil {
		fmt.Fprintf(io.Stderr, "Error: read the payment: %v\n", err)
		return ExitError
	}
	fmt.Fprintf(io.Stdout, "Payment %s cancelled: %s.\n", clean(p.ID), clean(p.Status))
	return ExitOK
}

// payoutFromView turns the API's payout back into the stored form the
// text writer prints.
func payoutFromView(p payouts.Payout) state.Payout {
	return state.Payout{ID: p.ID, Provider: p.Provider, Reference: p.Reference, Status: p.Status, Amount: p.Amount,
		Currency: p.Currency, Fee: p.Fee, DestinationType: p.Destination.Type, Phone: p.Destination.Phone,
		AccountNumber: p.Destination.AccountNumber, AccountName: p.Destination.AccountName, Bank: p.Destination.Bank,
		ReceiverName: p.ReceiverName, Channel: p.Channel, Description: p.Description, PaymentID: p.PaymentID,
		ProviderReference: p.ProviderReference, Message: p.Message, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}
