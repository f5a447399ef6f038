package pesapal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
	"github.com/finconnectd/finconnectd/internal/providers/tokencache"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/version"
)

// PesaPal's documented base URLs (docs/providers/pesapal.md).
const (
	SandboxURL = "https://cybqa.pesapal.com/pesapalv3"
	LiveURL    = "https://pay.pesapal.com/v3"
)

// DefaultTokenLifetime is used when RequestToken's expiryDate is missing or
// unusable: PesaPal documents 5 minutes.
const DefaultTokenLifetime = 5 * time.Minute

// Options configure a Client.
type Options struct {
	BaseURL        string // e.g. SandboxURL, or http://127.0.0.1:9999/pesapal
	ConsumerKey    secret.Value
	ConsumerSecret secret.Value
	HTTPClient     *http.Client  // default http.DefaultClient
	Timeout        time.Duration // per call, default 30 s
	Observer       providers.CallObserver
	Block          string // config block for errors: provider "pesapal" "ke"
	Now            func() time.Time
	// TokenSkew: stop reusing a token this long before it expires (default 30 s).
	TokenSkew time.Duration
	// ReadRetries bounds the extra attempts of a read (status queries,
	// lists, key fetch) after a transient failure: 0 means the default (2),
	// negative means none. Initiations are never retried.
	ReadRetries int
	// RetryBackoff is the first wait between read attempts (default 200 ms,
	// doubling, with jitter).
	RetryBackoff time.Duration
}

// Client talks to one PesaPal merchant account. It is safe for concurrent
// use; build it once and reuse it so its token is reused.
type Client struct {
	base    string
	key     secret.Value
	secret  secret.Value
	call    wire.Caller
	tokens  *tokencache.Cache
	retries int
	backoff time.Duration
	now     func() time.Time
}

var _ providers.Payer = (*Client)(nil)

// New validates opts and builds a Client. It sends nothing.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		return nil, fmt.Errorf("pesapal client: base URL is empty")
	}
	if u, err := url.Parse(opts.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pesapal client: base URL %q is not an http(s) URL", opts.BaseURL)
	}
	if opts.ConsumerKey.IsZero() || opts.ConsumerSecret.IsZero() {
		return nil, fmt.Errorf("pesapal client: consumer key and secret are required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		base:   strings.TrimRight(opts.BaseURL, "/"),
		key:    opts.ConsumerKey,
		secret: opts.ConsumerSecret,
		now:    now,
		call: wire.Caller{
			Provider:  providers.PesaPal,
			Block:     opts.Block,
			HTTP:      opts.HTTPClient,
			Timeout:   opts.Timeout,
			Observer:  opts.Observer,
			Now:       now,
			Secrets:   []secret.Value{opts.ConsumerKey, opts.ConsumerSecret},
			UserAgent: version.UserAgent(),
		},
	}
	skew := opts.TokenSkew
	if skew <= 0 {
		skew = 30 * time.Second
	}
	c.tokens = tokencache.New(c.RequestToken, tokencache.Options{Skew: skew, Now: now})
	c.retries, c.backoff = wire.ReadRetryPolicy(opts.ReadRetries, opts.RetryBackoff)
	return c, nil
}

// apiError is PesaPal's error object in either documented shape:
// {type, code, message} or {error_type, code, message, call_back_url}.
// A bare string is taken as the message.
type apiError struct {
	Type        string
	Code        string
	Message     string
	CallBackURL string
}

func (e *apiError) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*e = apiError{}
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = apiError{Message: s}
		return nil
	}
	var w struct {
		Type        wire.String `json:"type"`
		ErrorType   wire.String `json:"error_type"`
		Code        wire.String `json:"code"`
		Message     wire.String `json:"message"`
		CallBackURL wire.String `json:"call_back_url"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t := string(w.ErrorType)
	if t == "" {
		t = string(w.Type)
	}
	*e = apiError{Type: t, Code: string(w.Code), Message: string(w.Message), CallBackURL: string(w.CallBackURL)}
	return nil
}

// Present reports whether the object describes an error.
func (e apiError) Present() bool { return e.Code != "" || e.Message != "" }

// envelope is what every PesaPal JSON answer carries.
type envelope struct {
	Error   apiError    `json:"error"`
	Status  wire.String `json:"status"`
	Message wire.String `json:"message"`
}

func (e envelope) ok() bool {
	return !e.Error.Present() && (e.Status == "" || e.Status == "200")
}

func opName(op string) string { return strings.ReplaceAll(op, "_", " ") }

// failure classifies a non-success answer. env may be zero when the body
// was not PesaPal JSON.
func (c *Client) failure(op string, initiation bool, resp wire.Response, env envelope) error {
	code, msg := env.Error.Code, env.Error.Message
	if msg == "" {
		msg = string(env.Message)
	}
	if msg == "" && code == "" && len(resp.Body) > 0 && resp.Body[0] != '{' && resp.Body[0] != '[' {
		msg = wire.Snippet(resp.Body)
	}
	var kind providers.ErrorKind
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		kind = providers.Auth
	case resp.Status == http.StatusTooManyRequests || resp.Status >= 500:
		kind = wire.StatusKind(initiation, resp.Status)
	default:
		// 2xx with an error in the body, or another 4xx: a business rejection.
		kind = providers.Permanent
	}
	if code == "" && env.Status != "" && env.Status != "200" {
		code = "status_" + string(env.Status)
	}
	return c.call.Err(opName(op), kind, resp.Status, code, msg, nil)
}

// RequestToken asks PesaPal for a bearer token (POST /api/Auth/RequestToken).
// It is the token cache's fetch function; callers normally never call it.
// Credential rejections are Auth errors naming the config block.
func (c *Client) RequestToken(ctx context.Context) (token string, expires time.Time, err error) {
	const op = "request_token"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()

	body, err := json.Marshal(map[string]string{
		"consumer_key":    c.key.Reveal(),
		"consumer_secret": c.secret.Reveal(),
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("request token: %w", err)
	}
	resp, err := c.call.Do(ctx, wire.Request{Op: opName(op), Method: http.MethodPost, URL: c.base + "/api/Auth/RequestToken", Body: body})
	if err != nil {
		return "", time.Time{}, err
	}
	var r struct {
		envelope
		Token      wire.String `json:"token"`
		ExpiryDate wire.String `json:"expiryDate"`
	}
	decErr := json.Unmarshal(resp.Body, &r)
	if resp.Status/100 == 2 && decErr == nil && r.Token != "" && !r.Error.Present() {
		return string(r.Token), c.expiry(string(r.ExpiryDate)), nil
	}
	if decErr != nil {
		r.envelope = envelope{}
	}
	ferr := c.failure(op, false, resp, r.envelope)
	pe := ferr.(*providers.Error)
	// Anything but a transient server problem means the credentials were
	// not accepted; PesaPal reports bad keys with body status "500".
	if pe.Kind != providers.Retryable || credentialCode(pe.Code) {
		pe.Kind = providers.Auth
	}
	if pe.Message == "" {
		pe.Message = "credentials rejected or no token returned"
	}
	return "", time.Time{}, pe
}

func credentialCode(code string) bool {
	code = strings.ToLower(code)
	return strings.Contains(code, "consumer") || strings.Contains(code, "credential") ||
		strings.Contains(code, "unauthori") || strings.Contains(code, "invalid_key") || strings.Contains(code, "secret")
}

// expiry parses expiryDate (7-digit fraction, "Z" or no zone) and falls back
// to the documented 5 minutes when it is missing or implausible.
func (c *Client) expiry(s string) time.Time {
	now := c.now()
	fallback := now.Add(DefaultTokenLifetime)
	if s == "" {
		return fallback
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	}
	if err != nil || !t.After(now) || t.After(now.Add(24*time.Hour)) {
		return fallback
	}
	return t
}

// do sends an authenticated request, refreshing the token once after a 401.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, initiation bool) (wire.Response, error) {
	return c.call.DoAuthorized(ctx, c.tokens, wire.Request{Op: opName(op), Method: method, URL: c.base + path, Body: body, Initiation: initiation},
		func(h http.Header, tok string) {
			h.Set("Authorization", "Bearer "+tok)
		})
}

// IPNRegistration is a registered IPN URL (RegisterIPN / GetIpnList element).
type IPNRegistration struct {
	URL                         string
	CreatedDate                 string
	IPNID                       string
	NotificationType            int    // 0 GET, 1 POST
	NotificationTypeDescription string // "GET" / "POST"
	IPNStatus                   int    // 1 active, 0 inactive
	IPNStatusDescription        string // "Active" / "Inactive"
	// Adopted is set by RegisterIPN when the URL was already registered and
	// the existing registration was returned instead of a new one.
	Adopted bool
	Raw     json.RawMessage
}

type wireIPN struct {
	envelope
	URL                            wire.String `json:"url"`
	CreatedDate                    wire.String `json:"created_date"`
	IPNID                          wire.String `json:"ipn_id"`
	NotificationType               *wire.Int   `json:"notification_type"`
	IPNNotificationTypeDescription wire.String `json:"ipn_notification_type_description"`
	IPNStatus                      wire.Int    `json:"ipn_status"`
	IPNStatusDecription            wire.String `json:"ipn_status_decription"` // sic, as live sends it
	IPNStatusDescription           wire.String `json:"ipn_status_description"`
}

func (w wireIPN) registration(raw []byte) IPNRegistration {
	r := IPNRegistration{
		URL:                         string(w.URL),
		CreatedDate:                 string(w.CreatedDate),
		IPNID:                       string(w.IPNID),
		NotificationTypeDescription: strings.ToUpper(string(w.IPNNotificationTypeDescription)),
		IPNStatus:                   int(w.IPNStatus),
		IPNStatusDescription:        string(w.IPNStatusDecription),
		Raw:                         providers.WithoutCredentials(raw),
	}
	if r.IPNStatusDescription == "" {
		r.IPNStatusDescription = string(w.IPNStatusDescription)
	}
	switch {
	case w.NotificationType != nil:
		r.NotificationType = int(*w.NotificationType)
		if r.NotificationTypeDescription == "" {
			r.NotificationTypeDescription = map[int]string{0: "GET", 1: "POST"}[r.NotificationType]
		}
	case r.NotificationTypeDescription == "POST":
		r.NotificationType = 1
	}
	return r
}

// RegisterIPN registers url for IPNs sent with notificationType ("GET" or
// "POST") — POST /api/URLSetup/RegisterIPN. PesaPal does not document what
// registering a URL twice does, so, like PesaPal's own library, it first
// lists the registered IPNs and adopts an existing registration of the same
// URL (and, when the listing says, the same method), marking it Adopted.
func (c *Client) RegisterIPN(ctx context.Context, ipnURL, notificationType string) (IPNRegistration, error) {
	notificationType = strings.ToUpper(strings.TrimSpace(notificationType))
	if notificationType != "GET" && notificationType != "POST" {
		return IPNRegistration{}, c.call.Err("register ipn", providers.Permanent, 0, "", fmt.Sprintf("notification type %q is not GET or POST", notificationType), nil)
	}
	list, err := c.GetIPNList(ctx)
	if err != nil {
		return IPNRegistration{}, fmt.Errorf("register ipn %q: %w", ipnURL, err)
	}
	for _, r := range list {
		if r.URL == ipnURL && r.IPNID != "" && (r.NotificationTypeDescription == "" || r.NotificationTypeDescription == notificationType) {
			r.Adopted = true
			if r.NotificationTypeDescription == "" {
				r.NotificationTypeDescription = notificationType
			}
			return r, nil
		}
	}
	return c.RegisterNewIPN(ctx, ipnURL, notificationType)
}

// RegisterNewIPN registers url without looking for an existing registration
// first: for callers that have just listed the IPNs themselves (reconcile),
// so a plan with many ipn blocks costs one GetIpnList, not one per block.
func (c *Client) RegisterNewIPN(ctx context.Context, ipnURL, notificationType string) (reg IPNRegistration, err error) {
	notificationType = strings.ToUpper(strings.TrimSpace(notificationType))
	if notificationType != "GET" && notificationType != "POST" {
		return IPNRegistration{}, c.call.Err("register ipn", providers.Permanent, 0, "", fmt.Sprintf("notification type %q is not GET or POST", notificationType), nil)
	}
	const op = "register_ipn"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	body, _ := json.Marshal(map[string]string{"url": ipnURL, "ipn_notification_type": notificationType})
	resp, err := c.do(ctx, op, http.MethodPost, "/api/URLSetup/RegisterIPN", body, false)
	if err != nil {
		return IPNRegistration{}, err
	}
	var w wireIPN
	if jerr := json.Unmarshal(resp.Body, &w); jerr != nil || resp.Status/100 != 2 || !w.ok() || w.IPNID == "" {
		if jerr != nil {
			w = wireIPN{}
		}
		return IPNRegistration{}, c.failure(op, false, resp, w.envelope)
	}
	return w.registration(resp.Body), nil
}

// getIPNList makes one attempt of GetIPNList.
func (c *Client) getIPNList(ctx context.Context) (list []IPNRegistration, err error) {
	const op = "get_ipn_list"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	resp, err := c.do(ctx, op, http.MethodGet, "/api/URLSetup/GetIpnList", nil, false)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(resp.Body)
	if resp.Status/100 == 2 && len(trimmed) > 0 && trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err == nil {
			out := make([]IPNRegistration, 0, len(raws))
			for _, raw := range raws {
				var w wireIPN
				if err := json.Unmarshal(raw, &w); err != nil {
					return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable list element", err)
				}
				out = append(out, w.registration(raw))
			}
			return out, nil
		}
	}
	if string(trimmed) == "null" && resp.Status/100 == 2 {
		return nil, nil
	}
	var env envelope
	if json.Unmarshal(trimmed, &env) != nil {
		env = envelope{}
	}
	if resp.Status/100 == 2 && !env.Error.Present() && (env.Status == "" || env.Status == "200") {
		return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "answer is not a JSON array: "+wire.Snippet(trimmed), nil)
	}
	return nil, c.failure(op, false, resp, env)
}

// Token returns the cached bearer token, fetching one if there is none or
// it is about to expire: a credential check, or a refresh ahead of expiry
// for a schedule. The value is a credential: never log or store it.
func (c *Client) Token(ctx context.Context) (string, error) { return c.tokens.Token(ctx) }

// GetIPNList lists the registered IPN URLs (GET /api/URLSetup/GetIpnList).
// Transient failures (5xx, 429, connection refused or reset, not
// timeouts) are retried up to Options.ReadRetries times with backoff.
func (c *Client) GetIPNList(ctx context.Context) ([]IPNRegistration, error) {
	var list []IPNRegistration
	err := wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		list, err = c.getIPNList(ctx)
		return err
	})
	return list, err
}
