package clickpesa

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
	"github.com/finconnectd/finconnectd/internal/providers/tokencache"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/version"
)

// LiveURL is ClickPesa's only environment (there is no sandbox).
const LiveURL = "https://api.clickpesa.com/third-parties"

// TokenLifetime is the documented validity of a generated token.
const TokenLifetime = time.Hour

// apiPrefix is the path every endpoint lives under. A BaseURL that already
// ends with it (LiveURL) is used as is; otherwise (the emulator's
// http://ADDR/clickpesa) it is appended.
const apiPrefix = "/third-parties"

// Options configure a Client.
type Options struct {
	BaseURL        string // LiveURL, or http://127.0.0.1:9999/clickpesa
	ClientID       secret.Value
	APIKey         secret.Value
	ChecksumKey    secret.Value // zero: requests carry no checksum
	ChecksumMethod string       // canonical (default) | legacy
	HTTPClient     *http.Client
	Timeout        time.Duration // per call, default 30 s
	Observer       providers.CallObserver
	Block          string // provider "clickpesa" "tz"
	Now            func() time.Time
	// TokenSkew: stop reusing a token this long before it expires (default 5 min).
	TokenSkew time.Duration
	// ReadRetries bounds the extra attempts of a read (status queries,
	// lists, key fetch) after a transient failure: 0 means the default (2),
	// negative means none. Initiations are never retried.
	ReadRetries int
	// RetryBackoff is the first wait between read attempts (default 200 ms,
	// doubling, with jitter).
	RetryBackoff time.Duration
}

// Client talks to one ClickPesa application. Safe for concurrent use; build
// once and reuse so the token is reused.
type Client struct {
	base        string
	clientID    secret.Value
	apiKey      secret.Value
	checksumKey secret.Value
	method      string
	call        wire.Caller
	tokens      *tokencache.Cache
	retries     int
	backoff     time.Duration
	now         func() time.Time
}

var _ providers.Payer = (*Client)(nil)

// New validates opts and builds a Client. It sends nothing.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	if opts.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("clickpesa client: base URL %q is not an http(s) URL", opts.BaseURL)
	}
	if opts.ClientID.IsZero() || opts.APIKey.IsZero() {
		return nil, fmt.Errorf("clickpesa client: client ID and API key are required")
	}
	method := strings.ToLower(opts.ChecksumMethod)
	switch method {
	case "":
		method = MethodCanonical
	case MethodCanonical, MethodLegacy:
	default:
		return nil, fmt.Errorf("clickpesa client: checksum method %q is not canonical or legacy", opts.ChecksumMethod)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	if !strings.HasSuffix(base, apiPrefix) {
		base += apiPrefix
	}
	c := &Client{
		base:        base,
		clientID:    opts.ClientID,
		apiKey:      opts.APIKey,
		checksumKey: opts.ChecksumKey,
		method:      method,
		now:         now,
		call: wire.Caller{
			Provider:  providers.ClickPesa,
			Block:     opts.Block,
			HTTP:      opts.HTTPClient,
			Timeout:   opts.Timeout,
			Observer:  opts.Observer,
			Now:       now,
			Secrets:   []secret.Value{opts.ClientID, opts.APIKey, opts.ChecksumKey},
			UserAgent: version.UserAgent(),
		},
	}
	skew := opts.TokenSkew
	if skew <= 0 {
		skew = 5 * time.Minute
	}
	c.tokens = tokencache.New(c.GenerateToken, tokencache.Options{Skew: skew, Now: now})
	c.retries, c.backoff = wire.ReadRetryPolicy(opts.ReadRetries, opts.RetryBackoff)
	return c, nil
}

func opName(op string) string { return strings.ReplaceAll(op, "_", " ") }

type messageBody struct {
	Message wire.String `json:"message"`
}

// failure classifies a non-2xx answer ({"message": "..."}).
func (c *Client) failure(op string, initiation bool, resp wire.Response) error {
	var m messageBody
	msg := ""
	if json.Unmarshal(resp.Body, &m) == nil {
		msg = string(m.Message)
	} else {
		msg = wire.Snippet(resp.Body)
	}
	var kind providers.ErrorKind
	code := ""
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		kind = providers.Auth
	case resp.Status == http.StatusNotFound:
		kind, code = providers.Permanent, "not_found"
	case resp.Status == http.StatusConflict:
		kind, code = providers.Permanent, "order_reference_used"
	default:
		kind = wire.StatusKind(initiation, resp.Status)
	}
	return c.call.Err(opName(op), kind, resp.Status, code, msg, nil)
}

// GenerateToken obtains a token (POST /generate-token with headers
// client-id and api-key). The token already starts with "Bearer " and is
// sent verbatim. It is the token cache's fetch function.
func (c *Client) GenerateToken(ctx context.Context) (token string, expires time.Time, err error) {
	const op = "generate_token"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	h := http.Header{}
	h.Set("client-id", c.clientID.Reveal())
	h.Set("api-key", c.apiKey.Reveal())
	resp, err := c.call.Do(ctx, wire.Request{Op: opName(op), Method: http.MethodPost, URL: c.base + "/generate-token", Header: h})
	if err != nil {
		return "", time.Time{}, err
	}
	if resp.Status/100 != 2 {
		ferr := c.failure(op, false, resp).(*providers.Error)
		if ferr.Kind != providers.Retryable {
			ferr.Kind = providers.Auth
		}
		return "", time.Time{}, ferr
	}
	var r struct {
		Success *bool       `json:"success"`
		Token   wire.String `json:"token"`
	}
	if json.Unmarshal(resp.Body, &r) != nil || r.Token == "" || (r.Success != nil && !*r.Success) {
		return "", time.Time{}, c.call.Err(opName(op), providers.Auth, resp.Status, "", "no token in the answer", nil)
	}
	tok := string(r.Token)
	if !strings.HasPrefix(tok, "Bearer ") {
		tok = "Bearer " + tok
	}
	return tok, c.tokenExpiry(tok), nil
}

// tokenExpiry is the documented hour, or the JWT's own exp claim when it is
// readable and earlier (the token is not verified: this only decides when
// to stop reusing it).
func (c *Client) tokenExpiry(tok string) time.Time {
	now := c.now()
	exp := now.Add(TokenLifetime)
	parts := strings.Split(strings.TrimPrefix(tok, "Bearer "), ".")
	if len(parts) != 3 {
		return exp
	}
	claims, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return exp
	}
	var cl struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(claims, &cl) != nil {
		return exp
	}
	secs, err := cl.Exp.Int64()
	if err != nil {
		return exp
	}
	if t := time.Unix(secs, 0); t.After(now) && t.Before(exp) {
		return t
	}
	return exp
}

// do sends an authenticated JSON request, refreshing the token once after a 401.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, initiation bool) (wire.Response, error) {
	return c.call.DoAuthorized(ctx, c.tokens, wire.Request{Op: opName(op), Method: method, URL: c.base + path, Body: body, Initiation: initiation},
		func(h http.Header, tok string) {
			h.Set("Authorization", tok)
		})
}

var (
	referenceRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	phoneRE     = regexp.MustCompile(`^255[0-9]{9}$`)
)

// MaxReferenceLen keeps orderReference short: ClickPesa does not document
// a limit, so finconnectd stays at 30 characters.
const MaxReferenceLen = 30

// Phone turns a Tanzanian number in any common form (+255 7.., 2557..,
// 07..) into ClickPesa's 2557XXXXXXXX.
func Phone(s string) string {
	d := wire.Digits(s)
	if len(d) == 10 && d[0] == '0' {
		return "255" + d[1:]
	}
	if len(d) == 9 && (d[0] == '6' || d[0] == '7') {
		return "255" + d
	}
	return d
}

// USSDPushRequest is the body of preview and initiate.
type USSDPushRequest struct {
	Amount         string // decimal string, e.g. "1000"
	Currency       string // TZS
	OrderReference string // alphanumeric, unique
	PhoneNumber    string // 2557XXXXXXXX (other forms are normalized)
	// FetchSenderDetails asks preview to name the account holder.
	FetchSenderDetails bool
	// Extra is merged into the JSON payload last (ProviderData), before the checksum.
	Extra map[string]any
}

func (r USSDPushRequest) payload(initiate bool) (map[string]any, error) {
	if _, err := wire.Decimal(r.Amount); err != nil {
		return nil, err
	}
	if !referenceRE.MatchString(r.OrderReference) || len(r.OrderReference) > MaxReferenceLen {
		return nil, fmt.Errorf("orderReference %q must be 1-%d letters and digits only", r.OrderReference, MaxReferenceLen)
	}
	phone := Phone(r.PhoneNumber)
	if (initiate || phone != "") && !phoneRE.MatchString(phone) {
		return nil, fmt.Errorf("phone number %q is not a Tanzanian number (2557XXXXXXXX)", r.PhoneNumber)
	}
	cur := strings.ToUpper(r.Currency)
	if cur == "" {
		cur = "TZS"
	}
	p := map[string]any{
		"amount":         strings.TrimSpace(r.Amount),
		"currency":       cur,
		"orderReference": r.OrderReference,
	}
	if phone != "" {
		p["phoneNumber"] = phone
	}
	if !initiate && r.FetchSenderDetails {
		p["fetchSenderDetails"] = true
	}
	for k, v := range r.Extra {
		p[k] = v
	}
	return p, nil
}

// post sends the JSON payload p, which the caller built (buildErr is what
// building it returned), to path with the checksum when one is configured.
// A payload that could not be built or encoded is Permanent; an answer
// other than 2xx is turned into an error by fail.
func (c *Client) post(ctx context.Context, op, path string, p map[string]any, buildErr error, initiation bool,
	fail func(op string, initiation bool, resp wire.Response) error) (wire.Response, error) {
	if buildErr != nil {
		return wire.Response{}, c.call.Err(opName(op), providers.Permanent, 0, "invalid_request", buildErr.Error(), nil)
	}
	body, err := c.body(p)
	if err != nil {
		return wire.Response{}, c.call.Err(opName(op), providers.Permanent, 0, "", "encode request", err)
	}
	resp, err := c.do(ctx, op, http.MethodPost, path, body, initiation)
	if err != nil {
		return resp, err
	}
	if resp.Status/100 != 2 {
		return resp, fail(op, initiation, resp)
	}
	return resp, nil
}

// body marshals the payload and adds the checksum when a key is configured.
func (c *Client) body(p map[string]any) ([]byte, error) {
	delete(p, "checksum")
	delete(p, "checksumMethod")
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if c.checksumKey.IsZero() {
		return b, nil
	}
	sum, err := Checksum(c.method, []byte(c.checksumKey.Reveal()), b)
	if err != nil {
		return nil, err
	}
	p["checksum"] = sum
	if c.method == MethodLegacy {
		p["checksumMethod"] = MethodLegacy
	}
	return json.Marshal(p)
}

// Method is one payment channel in a preview answer.
type Method struct {
	Name   string // TIGO-PESA, M-PESA, AIRTEL-MONEY, HALOPESA
	Status string // AVAILABLE | UNAVAILABLE
	Fee    string
}

// Sender is the account holder, when preview was asked for it.
type Sender struct {
	AccountName     string
	AccountNumber   string
	AccountProvider string
}

// Preview is the answer to PreviewUSSDPush.
type Preview struct {
	ActiveMethods []Method
	Sender        *Sender
	Raw           json.RawMessage
}

// PreviewUSSDPush validates a push without sending it
// (POST /payments/preview-ussd-push-request).
func (c *Client) PreviewUSSDPush(ctx context.Context, r USSDPushRequest) (pv Preview, err error) {
	const op = "preview_ussd_push"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	p, err := r.payload(false)
	resp, err := c.post(ctx, op, "/payments/preview-ussd-push-request", p, err, false, c.failure)
	if err != nil {
		return Preview{}, err
	}
	var w struct {
		ActiveMethods []struct {
			Name   wire.String `json:"name"`
			Status wire.String `json:"status"`
			Fee    wire.String `json:"fee"`
		} `json:"activeMethods"`
		Sender *struct {
			AccountName     wire.String `json:"accountName"`
			AccountNumber   wire.String `json:"accountNumber"`
			AccountProvider wire.String `json:"accountProvider"`
		} `json:"sender"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return Preview{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable answer", err)
	}
	pv.Raw = providers.WithoutCredentials(resp.Body)
	for _, m := range w.ActiveMethods {
		pv.ActiveMethods = append(pv.ActiveMethods, Method{Name: string(m.Name), Status: string(m.Status), Fee: string(m.Fee)})
	}
	if w.Sender != nil {
		pv.Sender = &Sender{AccountName: string(w.Sender.AccountName), AccountNumber: string(w.Sender.AccountNumber), AccountProvider: string(w.Sender.AccountProvider)}
	}
	return pv, nil
}

// USSDPush is ClickPesa's answer to an initiation.
type USSDPush struct {
	ID                string
	Status            string // PROCESSING normally
	Channel           string
	OrderReference    string
	CollectedAmount   string
	CollectedCurrency string
	CreatedAt         string
	ClientID          string
	Raw               json.RawMessage
}

// InitiateUSSDPush sends the PIN prompt to the customer's phone
// (POST /payments/initiate-ussd-push-request), with the checksum in the
// body when a checksum key is configured. A timeout, broken connection or
// 5xx is an UnknownOutcome error: query by order reference, never resend.
func (c *Client) InitiateUSSDPush(ctx context.Context, r USSDPushRequest) (push USSDPush, err error) {
	const op = "initiate_ussd_push"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	p, err := r.payload(true)
	resp, err := c.post(ctx, op, "/payments/initiate-ussd-push-request", p, err, true, c.failure)
	if err != nil {
		return USSDPush{}, err
	}
	var w struct {
		ID                wire.String `json:"id"`
		Status            wire.String `json:"status"`
		Channel           wire.String `json:"channel"`
		OrderReference    wire.String `json:"orderReference"`
		CollectedAmount   wire.String `json:"collectedAmount"`
		CollectedCurrency wire.String `json:"collectedCurrency"`
		CreatedAt         wire.String `json:"createdAt"`
		ClientID          wire.String `json:"clientId"`
	}
	if json.Unmarshal(resp.Body, &w) != nil || w.ID == "" {
		return USSDPush{}, c.call.Err(opName(op), providers.UnknownOutcome, resp.Status, "", "answer carries no transaction id", nil)
	}
	return USSDPush{
		ID: string(w.ID), Status: string(w.Status), Channel: string(w.Channel), OrderReference: string(w.OrderReference),
		CollectedAmount: string(w.CollectedAmount), CollectedCurrency: string(w.CollectedCurrency),
		CreatedAt: string(w.CreatedAt), ClientID: string(w.ClientID), Raw: providers.WithoutCredentials(resp.Body),
	}, nil
}

// Payment is one element of QueryPayments' answer.
type Payment struct {
	ID                 string
	Status             string // SUCCESS, SETTLED, PROCESSING, PENDING, FAILED ...
	PaymentReference   string
	PaymentPhoneNumber string
	OrderReference     string
	CollectedAmount    string // integer or string on the wire; decimal text here
	CollectedCurrency  string
	Message            string
	CreatedAt          string
	UpdatedAt          string
	Customer           Customer
	ClientID           string
	Raw                json.RawMessage
}

// queryPayments makes one attempt of QueryPayments.
func (c *Client) queryPayments(ctx context.Context, orderReference string) (ps []Payment, err error) {
	const op = "query_payments"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	if orderReference == "" {
		return nil, c.call.Err(opName(op), providers.Permanent, 0, "", "order reference is empty", nil)
	}
	resp, err := c.do(ctx, op, http.MethodGet, "/payments/"+url.PathEscape(orderReference), nil, false)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 != 2 {
		return nil, c.failure(op, false, resp)
	}
	trimmed := bytes.TrimSpace(resp.Body)
	var raws []json.RawMessage
	if len(trimmed) > 0 && trimmed[0] == '{' {
		// Tolerate a single object or a {"data":[...]} page.
		var page struct {
			Data []json.RawMessage `json:"data"`
		}
		if json.Unmarshal(trimmed, &page) == nil && page.Data != nil {
			raws = page.Data
		} else {
			raws = []json.RawMessage{trimmed}
		}
	} else if err := json.Unmarshal(trimmed, &raws); err != nil {
		return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "answer is not a JSON array", err)
	}
	for _, raw := range raws {
		p, err := parsePayment(raw)
		if err != nil {
			return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable payment", err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// InitiatePayment implements providers.Payer with a USSD push: Reference
// is the orderReference (letters and digits only), the phone is normalized
// to 2557XXXXXXXX, ProviderData merged last (before the checksum).
func (c *Client) InitiatePayment(ctx context.Context, req providers.PaymentRequest) (providers.PaymentResult, error) {
	push, err := c.InitiateUSSDPush(ctx, USSDPushRequest{
		Amount: req.Amount, Currency: req.Currency, OrderReference: req.Reference, PhoneNumber: req.Phone, Extra: req.ProviderData,
	})
	if err != nil {
		return providers.PaymentResult{}, err
	}
	return providers.PaymentResult{ProviderReference: push.ID, Status: MapStatus(push.Status), Raw: push.Raw}, nil
}

// QueryPayment implements providers.Payer with QueryPayments(q.Reference).
// When several payments share the reference, a paid one wins, else the most
// recently updated.
func (c *Client) QueryPayment(ctx context.Context, q providers.PaymentQuery) (providers.PaymentStatus, error) {
	ps, err := c.QueryPayments(ctx, q.Reference)
	if err != nil {
		return providers.PaymentStatus{}, err
	}
	if len(ps) == 0 {
		return providers.PaymentStatus{}, c.call.Err("query payments", providers.Permanent, 0, "not_found", "no payment for this order reference", nil)
	}
	best := ps[0]
	for _, p := range ps[1:] {
		bs, ps := MapStatus(best.Status), MapStatus(p.Status)
		switch {
		case ps == providers.StatusSucceeded && bs != providers.StatusSucceeded:
			best = p
		case bs == providers.StatusSucceeded && ps != providers.StatusSucceeded:
		case p.UpdatedAt >= best.UpdatedAt:
			best = p
		}
	}
	phone := best.PaymentPhoneNumber
	if phone == "" {
		phone = best.Customer.Phone
	}
	ref := best.OrderReference
	if ref == "" {
		ref = q.Reference
	}
	return providers.PaymentStatus{
		Status:            MapStatus(best.Status),
		Reference:         ref,
		ProviderReference: best.ID,
		Amount:            best.CollectedAmount,
		Currency:          best.CollectedCurrency,
		Phone:             phone,
		ConfirmationCode:  best.PaymentReference,
		Message:           best.Message,
		Raw:               best.Raw,
	}, nil
}

// Token returns the cached bearer token, fetching one if there is none or
// it is about to expire: a credential check, or a refresh ahead of expiry
// for a schedule. The value is a credential: never log or store it.
func (c *Client) Token(ctx context.Context) (string, error) { return c.tokens.Token(ctx) }

// QueryPayments lists the payments made against an order reference
// (GET /payments/{orderReference}). An unknown reference (404) is a
// Permanent error with Code "not_found".
// Transient failures (5xx, 429, connection refused or reset, not
// timeouts) are retried up to Options.ReadRetries times with backoff.
func (c *Client) QueryPayments(ctx context.Context, orderReference string) ([]Payment, error) {
	var ps []Payment
	err := wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		ps, err = c.queryPayments(ctx, orderReference)
		return err
	})
	return ps, err
}
