package azampay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
	"github.com/finconnectd/finconnectd/internal/providers/tokencache"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/version"
)

// AzamPay's documented hosts (docs/providers/azampay.md).
const (
	SandboxAuthURL = "https://authenticator-sandbox.azampay.co.tz"
	LiveAuthURL    = "https://authenticator.azampay.co.tz"
	SandboxURL     = "https://sandbox.azampay.co.tz"
	LiveURL        = "https://checkout.azampay.co.tz"
	// Disbursement hosts: the sandbox one is in AzamPay's API description;
	// AzamPay does not publish the live one (the SDKs agree on this).
	SandboxDisbursementURL = "https://api-disbursement-sandbox.azampay.co.tz"
	LiveDisbursementURL    = "https://api-disbursement.azampay.co.tz"
)

// Default paths on the checkout host.
const (
	DefaultCheckoutPath  = "/azampay/mno/checkout"
	DefaultStatusPath    = "/api/v1/partner/gettransactionstatus"
	DefaultPartnersPath  = "/api/v1/Partner/GetPaymentPartners"
	DefaultPublicKeyPath = "/azampay/v1/public-key?format=Pem"
	// FallbackPublicKeyPath is tried on the auth host when the default
	// public-key URL answers 404.
	FallbackPublicKeyPath = "/api/Token/PublicKey"
)

// DefaultTokenLifetime is assumed when GenerateToken's expire is missing
// (AzamPay does not document the lifetime).
const DefaultTokenLifetime = 20 * time.Minute

// Phone formats for accountNumber.
const (
	PhoneLocal         = "local"         // 07XXXXXXXX (the official sample)
	PhoneInternational = "international" // 2557XXXXXXXX
)

// Options configure a Client.
type Options struct {
	AuthURL      string // authenticator host, e.g. SandboxAuthURL or http://127.0.0.1:9999/azampay-auth
	BaseURL      string // checkout host, e.g. SandboxURL or http://127.0.0.1:9999/azampay
	AppName      string
	ClientID     secret.Value
	ClientSecret secret.Value
	APIKey       secret.Value
	// PublicKeyURL is where FetchPublicKey reads the callback key
	// (default BaseURL + DefaultPublicKeyPath).
	PublicKeyURL string
	// StatusPath is the collection status path on BaseURL (default DefaultStatusPath).
	StatusPath string
	// CheckoutPath is the MNO checkout path on BaseURL (default DefaultCheckoutPath).
	CheckoutPath string
	PhoneFormat  string // PhoneLocal (default) | PhoneInternational
	// DisbursementURL is the disbursement host; with DisbursementKey (the
	// PEM public key AzamPay gives a merchant for disbursement checksums)
	// the client can look names up and disburse. Empty: it cannot.
	DisbursementURL string
	DisbursementKey secret.Value
	HTTPClient      *http.Client
	Timeout         time.Duration // per call, default 30 s
	Observer        providers.CallObserver
	Block           string // provider "azampay" "tz"
	Now             func() time.Time
	// TokenSkew: stop reusing a token this long before it expires (default 60 s).
	TokenSkew time.Duration
	// ReadRetries bounds the extra attempts of a read (status queries,
	// lists, key fetch) after a transient failure: 0 means the default (2),
	// negative means none. Initiations are never retried.
	ReadRetries int
	// RetryBackoff is the first wait between read attempts (default 200 ms,
	// doubling, with jitter).
	RetryBackoff time.Duration
}

// Client talks to one AzamPay app. Safe for concurrent use; build once and
// reuse so the token is reused.
type Client struct {
	auth, base   string
	appName      string
	clientID     secret.Value
	clientSecret secret.Value
	apiKey       secret.Value
	publicKeyURL string
	statusPath   string
	checkoutPath string
	phoneFormat  string
	disburseURL  string
	disburseKey  *rsa.PublicKey
	call         wire.Caller
	tokens       *tokencache.Cache
	retries      int
	backoff      time.Duration
	now          func() time.Time
}

var _ providers.Payer = (*Client)(nil)

func checkURL(name, s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("azampay client: %s %q is not an http(s) URL", name, s)
	}
	return nil
}

// New validates opts and builds a Client. It sends nothing.
func New(opts Options) (*Client, error) {
	if err := checkURL("auth URL", opts.AuthURL); err != nil {
		return nil, err
	}
	if err := checkURL("base URL", opts.BaseURL); err != nil {
		return nil, err
	}
	if opts.AppName == "" || opts.ClientID.IsZero() || opts.ClientSecret.IsZero() {
		return nil, fmt.Errorf("azampay client: app name, client ID and client secret are required")
	}
	c := &Client{
		auth:         strings.TrimRight(opts.AuthURL, "/"),
		base:         strings.TrimRight(opts.BaseURL, "/"),
		appName:      opts.AppName,
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		apiKey:       opts.APIKey,
		publicKeyURL: opts.PublicKeyURL,
		statusPath:   opts.StatusPath,
		checkoutPath: opts.CheckoutPath,
		phoneFormat:  strings.ToLower(opts.PhoneFormat),
		now:          opts.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.publicKeyURL == "" {
		c.publicKeyURL = c.base + DefaultPublicKeyPath
	} else if err := checkURL("public key URL", c.publicKeyURL); err != nil {
		return nil, err
	}
	if c.statusPath == "" {
		c.statusPath = DefaultStatusPath
	}
	if c.checkoutPath == "" {
		c.checkoutPath = DefaultCheckoutPath
	}
	if opts.DisbursementURL != "" || !opts.DisbursementKey.IsZero() {
		if err := checkURL("disbursement URL", opts.DisbursementURL); err != nil {
			return nil, err
		}
		k, err := ParseDisbursementKey(opts.DisbursementKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("azampay client: %w", err)
		}
		c.disburseURL, c.disburseKey = strings.TrimRight(opts.DisbursementURL, "/"), k
	}
	switch c.phoneFormat {
	case "":
		c.phoneFormat = PhoneLocal
	case PhoneLocal, PhoneInternational:
	default:
		return nil, fmt.Errorf("azampay client: phone format %q is not local or international", opts.PhoneFormat)
	}
	c.call = wire.Caller{Provider: providers.AzamPay, Block: opts.Block, HTTP: opts.HTTPClient, Timeout: opts.Timeout, Observer: opts.Observer, Now: c.now,
		Secrets: []secret.Value{opts.ClientID, opts.ClientSecret, opts.APIKey}, UserAgent: version.UserAgent()}
	skew := opts.TokenSkew
	if skew <= 0 {
		skew = 60 * time.Second
	}
	c.tokens = tokencache.New(c.GenerateToken, tokencache.Options{Skew: skew, Now: c.now})
	c.retries, c.backoff = wire.ReadRetryPolicy(opts.ReadRetries, opts.RetryBackoff)
	return c, nil
}

func opName(op string) string { return strings.ReplaceAll(op, "_", " ") }

// errorBody covers AzamPay's failure shapes: {message, success, statusCode},
// {status:"Error", message} and ASP.NET problem-details {title, errors}.
type errorBody struct {
	Message    wire.String         `json:"message"`
	Msg        wire.String         `json:"msg"`
	Title      wire.String         `json:"title"`
	StatusCode wire.Int            `json:"statusCode"`
	Errors     map[string][]string `json:"errors"`
}

func (e errorBody) text() string {
	msg := string(e.Message)
	if msg == "" {
		msg = string(e.Msg)
	}
	if msg == "" {
		msg = string(e.Title)
	}
	if len(e.Errors) > 0 {
		keys := make([]string, 0, len(e.Errors))
		for k := range e.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+": "+strings.Join(e.Errors[k], " "))
		}
		msg = strings.TrimSpace(msg + " " + strings.Join(parts, "; "))
	}
	return msg
}

func (c *Client) failure(op string, initiation bool, resp wire.Response) error {
	var e errorBody
	msg := ""
	if json.Unmarshal(resp.Body, &e) == nil {
		msg = e.text()
	} else {
		msg = wire.Snippet(resp.Body)
	}
	var kind providers.ErrorKind
	code := ""
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden || resp.Status == http.StatusLocked:
		kind = providers.Auth
	case resp.Status == http.StatusNotFound:
		kind, code = providers.Permanent, "not_found"
	case resp.Status/100 == 2:
		kind = providers.Permanent // success:false in a 200
	default:
		kind = wire.StatusKind(initiation, resp.Status)
	}
	return c.call.Err(opName(op), kind, resp.Status, code, msg, nil)
}

// GenerateToken obtains a bearer token
// (POST {auth}/AppRegistration/GenerateToken). Rejected credentials (HTTP
// or body statusCode 423, 401, 403, validation errors) are Auth errors
// naming the config block. It is the token cache's fetch function.
func (c *Client) GenerateToken(ctx context.Context) (token string, expires time.Time, err error) {
	const op = "generate_token"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	body, _ := json.Marshal(map[string]string{
		"appName":      c.appName,
		"clientId":     c.clientID.Reveal(),
		"clientSecret": c.clientSecret.Reveal(),
	})
	h := http.Header{}
	if !c.apiKey.IsZero() {
		h.Set("X-API-KEY", c.apiKey.Reveal())
	}
	resp, err := c.call.Do(ctx, wire.Request{Op: opName(op), Method: http.MethodPost, URL: c.auth + "/AppRegistration/GenerateToken", Header: h, Body: body})
	if err != nil {
		return "", time.Time{}, err
	}
	var r struct {
		errorBody
		Success *bool `json:"success"`
		Data    *struct {
			AccessToken wire.String `json:"accessToken"`
			Expire      wire.String `json:"expire"`
		} `json:"data"`
	}
	jerr := json.Unmarshal(resp.Body, &r)
	if resp.Status/100 == 2 && jerr == nil && r.Data != nil && r.Data.AccessToken != "" &&
		(r.Success == nil || *r.Success) && (r.StatusCode == 0 || r.StatusCode == 200) {
		return string(r.Data.AccessToken), c.expiry(string(r.Data.Expire)), nil
	}
	ferr := c.failure(op, false, resp).(*providers.Error)
	if ferr.Kind != providers.Retryable {
		ferr.Kind = providers.Auth
	}
	if ferr.Message == "" {
		ferr.Message = "credentials rejected or no token returned"
	}
	return "", time.Time{}, ferr
}

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
	if err != nil || !t.After(now) || t.After(now.Add(7*24*time.Hour)) {
		return fallback
	}
	return t
}

// do sends an authenticated request (Bearer + X-API-Key), refreshing the
// token once after a 401.
func (c *Client) do(ctx context.Context, op, method, target string, body []byte, initiation bool) (wire.Response, error) {
	return c.call.DoAuthorized(ctx, c.tokens, wire.Request{Op: opName(op), Method: method, URL: target, Body: body, Initiation: initiation},
		func(h http.Header, tok string) {
			h.Set("Authorization", "Bearer "+tok)
			if !c.apiKey.IsZero() {
				h.Set("X-API-Key", c.apiKey.Reveal())
			}
		})
}

// MNO names as AzamPay spells them.
const (
	MNOAirtel   = "Airtel"
	MNOTigo     = "Tigo"
	MNOHalopesa = "Halopesa"
	MNOAzampesa = "Azampesa"
	MNOMpesa    = "Mpesa"
)

// mnoPrefixes maps the Tanzanian mobile prefix (the two digits after 0 or
// 255) to the network AzamPay calls it: 74/75/76/79 Vodacom M-Pesa;
// 65/67/71/77 Tigo (Mixx by Yas, including former Zantel 77); 68/69/78
// Airtel; 61/62 Halotel Halopesa. 73 (TTCL) has no AzamPay provider, and
// Azampesa is a wallet, not a network: it is never inferred. This is the
// one copy of the table: the pay API and the emulator use InferMNO.
var mnoPrefixes = map[string]string{
	"74": MNOMpesa, "75": MNOMpesa, "76": MNOMpesa, "79": MNOMpesa,
	"65": MNOTigo, "67": MNOTigo, "71": MNOTigo, "77": MNOTigo,
	"68": MNOAirtel, "69": MNOAirtel, "78": MNOAirtel,
	"61": MNOHalopesa, "62": MNOHalopesa,
}

// MNOs lists the networks AzamPay collects from, as it spells them.
func MNOs() []string { return []string{MNOAirtel, MNOTigo, MNOHalopesa, MNOAzampesa, MNOMpesa} }

// InferMNO returns the AzamPay provider for a Tanzanian phone number, or ""
// when the prefix is not one AzamPay collects from.
func InferMNO(phone string) string {
	local := localPhone(phone)
	if len(local) != 10 {
		return ""
	}
	return mnoPrefixes[local[1:3]]
}

// NormalizeMNO returns the canonical spelling of an MNO name given in any
// case ("mpesa", "TIGO"), or "" when it is not one AzamPay knows.
func NormalizeMNO(s string) string {
	for _, m := range MNOs() {
		if strings.EqualFold(strings.TrimSpace(s), m) {
			return m
		}
	}
	return ""
}

// localPhone turns 2557XXXXXXXX / +255 7.. / 7XXXXXXXX into 07XXXXXXXX.
func localPhone(s string) string {
	d := wire.Digits(s)
	switch {
	case len(d) == 12 && strings.HasPrefix(d, "255"):
		return "0" + d[3:]
	case len(d) == 9:
		return "0" + d
	}
	return d
}

// Phone formats a number for accountNumber in the configured format.
func (c *Client) Phone(s string) string {
	local := localPhone(s)
	if c.phoneFormat == PhoneInternational && len(local) == 10 && local[0] == '0' {
		return "255" + local[1:]
	}
	return local
}

// CheckoutRequest is an MNO checkout (USSD push).
type CheckoutRequest struct {
	AccountNumber        string // payer MSISDN, formatted by the caller (see Phone)
	Amount               string // decimal string
	Currency             string // TZS
	ExternalID           string // our reference, ≤128 ASCII
	Provider             string // Airtel, Tigo, Halopesa, Azampesa, Mpesa
	AdditionalProperties map[string]any
	// Extra is merged into the JSON payload last (ProviderData).
	Extra map[string]any
}

// CheckoutResponse is AzamPay's answer to a checkout.
type CheckoutResponse struct {
	Success       bool
	TransactionID string
	Message       string
	Raw           json.RawMessage
}

// MNOCheckout starts a USSD push (POST {base}/azampay/mno/checkout). A
// timeout, broken connection or 5xx is an UnknownOutcome error.
func (c *Client) MNOCheckout(ctx context.Context, r CheckoutRequest) (res CheckoutResponse, err error) {
	const op = "mno_checkout"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	if verr := r.validate(); verr != nil {
		return CheckoutResponse{}, c.call.Err(opName(op), providers.Permanent, 0, "invalid_request", verr.Error(), nil)
	}
	payload := struct {
		AccountNumber        string         `json:"accountNumber"`
		Amount               string         `json:"amount"`
		Currency             string         `json:"currency"`
		ExternalID           string         `json:"externalId"`
		Provider             string         `json:"provider"`
		AdditionalProperties map[string]any `json:"additionalProperties,omitempty"`
	}{r.AccountNumber, strings.TrimSpace(r.Amount), strings.ToUpper(r.Currency), r.ExternalID, r.Provider, r.AdditionalProperties}
	body, err := wire.MergeJSON(payload, r.Extra)
	if err != nil {
		return CheckoutResponse{}, c.call.Err(opName(op), providers.Permanent, 0, "", "encode request", err)
	}
	resp, err := c.do(ctx, op, http.MethodPost, c.base+c.checkoutPath, body, true)
	if err != nil {
		return CheckoutResponse{}, err
	}
	var w struct {
		Success       *bool       `json:"success"`
		TransactionID wire.String `json:"transactionId"`
		Message       wire.String `json:"message"`
	}
	jerr := json.Unmarshal(resp.Body, &w)
	if resp.Status/100 == 2 && jerr == nil && (w.Success == nil || *w.Success) && w.TransactionID != "" {
		return CheckoutResponse{Success: true, TransactionID: string(w.TransactionID), Message: string(w.Message), Raw: providers.WithoutCredentials(resp.Body)}, nil
	}
	if resp.Status/100 == 2 && (jerr != nil || w.Success == nil || *w.Success) {
		return CheckoutResponse{}, c.call.Err(opName(op), providers.UnknownOutcome, resp.Status, "", "answer carries no transactionId", nil)
	}
	return CheckoutResponse{}, c.failure(op, true, resp)
}

func (r CheckoutRequest) validate() error {
	if _, err := wire.Decimal(r.Amount); err != nil {
		return err
	}
	if r.ExternalID == "" || len(r.ExternalID) > 128 {
		return fmt.Errorf("externalId must be 1-128 ASCII characters")
	}
	for i := 0; i < len(r.ExternalID); i++ {
		if r.ExternalID[i] < 0x20 || r.ExternalID[i] > 0x7e {
			return fmt.Errorf("externalId must be printable ASCII")
		}
	}
	if NormalizeMNO(r.Provider) == "" {
		return fmt.Errorf("provider %q is not one of Airtel, Tigo, Halopesa, Azampesa, Mpesa", r.Provider)
	}
	if d := wire.Digits(r.AccountNumber); d != r.AccountNumber || (len(d) != 10 && len(d) != 12) {
		return fmt.Errorf("accountNumber %q must be 0XXXXXXXXX or 255XXXXXXXXX, digits only", r.AccountNumber)
	}
	return nil
}

// Partner is one element of the payment partners list.
type Partner struct {
	ID                          string
	LogoURL                     string
	PartnerName                 string
	Provider                    int // airtel 2, tigo 3, halopesa 4, azampesa 5, mpesa 10
	VendorName                  string
	PaymentVendorID             string
	PaymentPartnerID            string
	PaymentAcknowledgementRoute string
	Currency                    string
	Status                      string
	VendorType                  string
}

// paymentPartners makes one attempt of PaymentPartners.
func (c *Client) paymentPartners(ctx context.Context) (ps []Partner, err error) {
	const op = "payment_partners"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	resp, err := c.do(ctx, op, http.MethodGet, c.base+DefaultPartnersPath, nil, false)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(resp.Body)
	if resp.Status/100 != 2 || len(trimmed) == 0 || trimmed[0] != '[' {
		if resp.Status/100 == 2 {
			return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "answer is not a JSON array: "+wire.Snippet(trimmed), nil)
		}
		return nil, c.failure(op, false, resp)
	}
	var w []struct {
		ID                          wire.String `json:"id"`
		LogoURL                     wire.String `json:"logoUrl"`
		PartnerName                 wire.String `json:"partnerName"`
		Provider                    wire.Int    `json:"provider"`
		VendorName                  wire.String `json:"vendorName"`
		PaymentVendorID             wire.String `json:"paymentVendorId"`
		PaymentPartnerID            wire.String `json:"paymentPartnerId"`
		PaymentAcknowledgementRoute wire.String `json:"paymentAcknowledgementRoute"`
		Currency                    wire.String `json:"currency"`
		Status                      wire.String `json:"status"`
		VendorType                  wire.String `json:"vendorType"`
	}
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable partners list", err)
	}
	for _, p := range w {
		ps = append(ps, Partner{
			ID: string(p.ID), LogoURL: string(p.LogoURL), PartnerName: string(p.PartnerName), Provider: int(p.Provider),
			VendorName: string(p.VendorName), PaymentVendorID: string(p.PaymentVendorID), PaymentPartnerID: string(p.PaymentPartnerID),
			PaymentAcknowledgementRoute: string(p.PaymentAcknowledgementRoute), Currency: string(p.Currency),
			Status: string(p.Status), VendorType: string(p.VendorType),
		})
	}
	return ps, nil
}

// TransactionStatus is the collection status answer.
type TransactionStatus struct {
	TransactionID     string
	ExternalID        string
	Reference         string
	MSISDN            string
	Amount            string
	Currency          string
	Operator          string
	MNOReference      string
	TransactionStatus string // success / failure / pending
	Message           string
	Status            providers.Status
	Raw               json.RawMessage
}

// transactionStatus makes one attempt of TransactionStatus.
func (c *Client) transactionStatus(ctx context.Context, transactionID, provider string) (ts TransactionStatus, err error) {
	const op = "transaction_status"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	if transactionID == "" {
		return TransactionStatus{}, c.call.Err(opName(op), providers.Permanent, 0, "", "transaction id is empty", nil)
	}
	q := url.Values{"transactionId": {transactionID}}
	if provider != "" {
		q.Set("provider", provider)
	}
	sep := "?"
	if strings.Contains(c.statusPath, "?") {
		sep = "&"
	}
	resp, err := c.do(ctx, op, http.MethodGet, c.base+c.statusPath+sep+q.Encode(), nil, false)
	if err != nil {
		return TransactionStatus{}, err
	}
	if resp.Status/100 != 2 {
		return TransactionStatus{}, c.failure(op, false, resp)
	}
	var env struct {
		Data       json.RawMessage `json:"data"`
		Message    wire.String     `json:"message"`
		Success    *bool           `json:"success"`
		StatusCode wire.Int        `json:"statusCode"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		return TransactionStatus{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable answer", err)
	}
	if env.Success != nil && !*env.Success {
		return TransactionStatus{}, c.call.Err(opName(op), providers.Permanent, resp.Status, "", string(env.Message), nil)
	}
	ts = TransactionStatus{TransactionID: transactionID, Raw: providers.WithoutCredentials(resp.Body)}
	data := bytes.TrimSpace(env.Data)
	switch {
	case len(data) > 0 && data[0] == '"':
		var s string
		_ = json.Unmarshal(data, &s)
		ts.TransactionStatus = s
		ts.Message = string(env.Message)
	case len(data) > 0 && data[0] == '{':
		var d struct {
			TransactionID     wire.String `json:"transactionId"`
			ExternalID        wire.String `json:"externalId"`
			UtilityRef        wire.String `json:"utilityref"`
			Reference         wire.String `json:"reference"`
			MSISDN            wire.String `json:"msisdn"`
			Amount            wire.String `json:"amount"`
			Currency          wire.String `json:"currency"`
			Operator          wire.String `json:"operator"`
			MNOReference      wire.String `json:"mnoreference"`
			TransactionStatus wire.String `json:"transactionstatus"`
			Status            wire.String `json:"status"`
			Message           wire.String `json:"message"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return TransactionStatus{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable data", err)
		}
		if d.TransactionID != "" {
			ts.TransactionID = string(d.TransactionID)
		}
		ts.ExternalID = string(d.ExternalID)
		if ts.ExternalID == "" {
			ts.ExternalID = string(d.UtilityRef)
		}
		ts.Reference, ts.MSISDN, ts.Amount, ts.Currency = string(d.Reference), string(d.MSISDN), string(d.Amount), string(d.Currency)
		ts.Operator, ts.MNOReference, ts.Message = string(d.Operator), string(d.MNOReference), string(d.Message)
		ts.TransactionStatus = string(d.TransactionStatus)
		if ts.TransactionStatus == "" {
			ts.TransactionStatus = string(d.Status)
		}
	default:
		return TransactionStatus{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "answer carries no data", nil)
	}
	ts.Status = MapStatus(ts.TransactionStatus)
	return ts, nil
}

// fetchPublicKey makes one attempt of FetchPublicKey.
func (c *Client) fetchPublicKey(ctx context.Context, target string) (pemBytes []byte, key *rsa.PublicKey, err error) {
	const op = "fetch_public_key"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	resp, err := c.do(ctx, op, http.MethodGet, target, nil, false)
	if err != nil {
		return nil, nil, err
	}
	if resp.Status/100 != 2 {
		return nil, nil, c.failure(op, false, resp)
	}
	key, perr := ParsePublicKey(resp.Body)
	if perr != nil {
		return nil, nil, c.call.Err(opName(op), providers.Permanent, resp.Status, "", "answer is not an RSA public key", perr)
	}
	der, merr := x509.MarshalPKIXPublicKey(key)
	if merr != nil {
		return nil, nil, c.call.Err(opName(op), providers.Permanent, resp.Status, "", "re-encode key", merr)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), key, nil
}

// InitiatePayment implements providers.Payer with an MNO checkout:
// externalId = Reference, accountNumber in the configured phone format,
// provider = req.MNO or inferred from the phone prefix (see InferMNO),
// currency TZS when empty, ProviderData merged last.
func (c *Client) InitiatePayment(ctx context.Context, req providers.PaymentRequest) (providers.PaymentResult, error) {
	mno := NormalizeMNO(req.MNO)
	if req.MNO == "" {
		mno = InferMNO(req.Phone)
		if mno == "" {
			return providers.PaymentResult{}, c.call.Err("mno checkout", providers.Permanent, 0, "invalid_request",
				fmt.Sprintf("cannot infer the mobile network of %q; set mno to Airtel, Tigo, Halopesa, Azampesa or Mpesa", req.Phone), nil)
		}
	} else if mno == "" {
		mno = req.MNO // let validation name it
	}
	cur := req.Currency
	if cur == "" {
		cur = "TZS"
	}
	res, err := c.MNOCheckout(ctx, CheckoutRequest{
		AccountNumber: c.Phone(req.Phone), Amount: req.Amount, Currency: cur, ExternalID: req.Reference,
		Provider: mno, Extra: req.ProviderData,
	})
	if err != nil {
		return providers.PaymentResult{}, err
	}
	return providers.PaymentResult{ProviderReference: res.TransactionID, Status: providers.StatusPending, Raw: res.Raw}, nil
}

// QueryPayment implements providers.Payer with TransactionStatus; it needs
// q.ProviderReference (the checkout transactionId) and sends q.MNO as the
// provider when known.
func (c *Client) QueryPayment(ctx context.Context, q providers.PaymentQuery) (providers.PaymentStatus, error) {
	if q.ProviderReference == "" {
		return providers.PaymentStatus{}, c.call.Err("transaction status", providers.Permanent, 0, "", "azampay needs the checkout transactionId (provider reference) to query a payment", nil)
	}
	mno := NormalizeMNO(q.MNO)
	if mno == "" {
		mno = q.MNO
	}
	ts, err := c.TransactionStatus(ctx, q.ProviderReference, mno)
	if err != nil {
		return providers.PaymentStatus{}, err
	}
	ref := ts.ExternalID
	if ref == "" {
		ref = q.Reference
	}
	return providers.PaymentStatus{
		Status:            ts.Status,
		Reference:         ref,
		ProviderReference: ts.TransactionID,
		Amount:            ts.Amount,
		Currency:          ts.Currency,
		Phone:             ts.MSISDN,
		ConfirmationCode:  ts.MNOReference,
		Message:           ts.Message,
		Raw:               ts.Raw,
	}, nil
}

// Token returns the cached bearer token, fetching one if there is none or
// it is about to expire: a credential check, or a refresh ahead of expiry
// for a schedule. The value is a credential: never log or store it.
func (c *Client) Token(ctx context.Context) (string, error) { return c.tokens.Token(ctx) }

// TransactionStatus asks for a checkout's status
// (GET {base}{StatusPath}?transactionId=&provider=). An unknown id (404) is
// a Permanent error with Code "not_found".
// Transient failures (5xx, 429, connection refused or reset, not
// timeouts) are retried up to Options.ReadRetries times with backoff.
func (c *Client) TransactionStatus(ctx context.Context, transactionID, provider string) (TransactionStatus, error) {
	var ts TransactionStatus
	err := wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		ts, err = c.transactionStatus(ctx, transactionID, provider)
		return err
	})
	return ts, err
}

// PaymentPartners lists the MNOs (GET {base}/api/v1/Partner/GetPaymentPartners).
// Transient failures (5xx, 429, connection refused or reset, not
// timeouts) are retried up to Options.ReadRetries times with backoff.
func (c *Client) PaymentPartners(ctx context.Context) ([]Partner, error) {
	var ps []Partner
	err := wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		ps, err = c.paymentPartners(ctx)
		return err
	})
	return ps, err
}

// FetchPublicKey reads AzamPay's callback-signing key from PublicKeyURL
// (Bearer + X-API-Key). The answer may be JSON {"publicKey": PEM} or raw
// PEM; pemBytes is the key re-encoded as a canonical "PUBLIC KEY" PEM block,
// fit to store in state. When the default URL answers 404, the
// authenticator host's /api/Token/PublicKey is tried once (AzamPay's sandbox
// has served the key there; docs/providers/azampay.md).
// Transient failures (5xx, 429, connection refused or reset, not
// timeouts) are retried up to Options.ReadRetries times with backoff.
func (c *Client) FetchPublicKey(ctx context.Context) (pemBytes []byte, key *rsa.PublicKey, err error) {
	fetch := func(target string) error {
		return wire.Retry(ctx, c.retries, c.backoff, func() error {
			var err error
			pemBytes, key, err = c.fetchPublicKey(ctx, target)
			return err
		})
	}
	err = fetch(c.publicKeyURL)
	var pe *providers.Error
	if err != nil && c.publicKeyURL == c.base+DefaultPublicKeyPath && errors.As(err, &pe) && pe.HTTPStatus == http.StatusNotFound {
		// Some sandboxes serve the key only on the authenticator host.
		if ferr := fetch(c.auth + FallbackPublicKeyPath); ferr == nil {
			return pemBytes, key, nil
		}
	}
	return pemBytes, key, err
}
