package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxBodyBytes bounds every request body the emulator reads.
const MaxBodyBytes = 1 << 20

// maxRequests bounds the request log; older entries are dropped first.
const maxRequests = 10000

// Duration is a time.Duration written in JSON as a Go duration string ("2s").
type Duration time.Duration

// MarshalJSON writes d as "2s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "2s" (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string such as \"2s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// String is the Go duration text.
func (d Duration) String() string { return time.Duration(d).String() }

// Settings are what a real provider keeps in its dashboard, plus the
// emulator's own knobs. JSON names are the flag names of `finconnectd sandbox`.
type Settings struct {
	ClickPesaWebhook        string `json:"clickpesa-webhook"`
	ClickPesaChecksumKey    string `json:"clickpesa-checksum-key"`
	ClickPesaChecksumMethod string `json:"clickpesa-checksum-method"` // canonical (default) | legacy
	AzamPayCallback         string `json:"azampay-callback"`
	// AzamPayUnsigned sends callbacks without a signature, as AzamPay
	// does for some accounts.
	AzamPayUnsigned bool     `json:"azampay-unsigned"`
	Delay           Duration `json:"delay"`       // customer answer delay, default 2s
	TokenTTL        Duration `json:"token-ttl"`   // 0 = each provider's documented lifetime
	Latency         Duration `json:"latency"`     // added to every answer
	SlowAnswer      Duration `json:"slow-answer"` // outcome 6, default 60s
	// ClickPesaBalance is the merchant's TZS balance payouts draw on
	// (default DefaultClickPesaBalance); setting it resets the balance.
	ClickPesaBalance string `json:"clickpesa-balance"`
}

// DefaultSettings are the settings of a fresh emulator.
func DefaultSettings() Settings {
	return Settings{
		ClickPesaChecksumMethod: checksumCanonical,
		Delay:                   Duration(2 * time.Second),
		SlowAnswer:              Duration(60 * time.Second),
		ClickPesaBalance:        DefaultClickPesaBalance,
	}
}

// Validate checks the settings' enums and URLs.
func (s Settings) Validate() error {
	var errs []error
	switch s.ClickPesaChecksumMethod {
	case "", checksumCanonical, checksumLegacy:
	default:
		errs = append(errs, fmt.Errorf("clickpesa-checksum-method %q: must be canonical or legacy", s.ClickPesaChecksumMethod))
	}
	for name, u := range map[string]string{"clickpesa-webhook": s.ClickPesaWebhook, "azampay-callback": s.AzamPayCallback} {
		if u != "" && !isHTTPURL(u) {
			errs = append(errs, fmt.Errorf("%s %q: must be an absolute http or https URL", name, u))
		}
	}
	if s.ClickPesaBalance != "" && !plainDecimal.MatchString(s.ClickPesaBalance) {
		errs = append(errs, fmt.Errorf("clickpesa-balance %q: must be a plain decimal number", s.ClickPesaBalance))
	}
	for name, d := range map[string]Duration{"delay": s.Delay, "token-ttl": s.TokenTTL, "latency": s.Latency, "slow-answer": s.SlowAnswer} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	return errors.Join(errs...)
}

// redactedText replaces credentials wherever the emulator shows what it has.
const redactedText = "(sensitive value)"

// redacted is the settings as shown to users: the checksum key hidden.
func (s Settings) redacted() Settings {
	if s.ClickPesaChecksumKey != "" {
		s.ClickPesaChecksumKey = redactedText
	}
	return s
}

// Options wire an Emulator.
type Options struct {
	Settings Settings
	Logger   *slog.Logger
	// HTTPClient sends notifications (default: 30 s timeout, no redirects).
	HTTPClient *http.Client
	// Now is the clock for token expiry and timestamps (default time.Now).
	Now func() time.Time
	// IPNRetry is the wait before each retry of an unacknowledged
	// notification (default 1m, 5m, 15m, 1h: at most 5 tries).
	IPNRetry []time.Duration
	// RSAKey signs AzamPay callbacks (default: a fresh RSA-2048 key).
	RSAKey *rsa.PrivateKey
}

// Request is one request the emulator received. Credential headers and
// credential body fields are redacted.
type Request struct {
	Time   time.Time   `json:"time"`
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query,omitempty"`
	Header http.Header `json:"header"`
	Body   string      `json:"body,omitempty"`
	Status int         `json:"status"`
}

// Emulator serves the three providers. Create it with New.
type Emulator struct {
	log      *slog.Logger
	client   *http.Client
	now      func() time.Time
	retry    []time.Duration
	key      *rsa.PrivateKey
	pubPEM   []byte
	handler  http.Handler
	bgCtx    context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup

	// lifeMu guards closed and wg.Add, so that work can be scheduled while
	// mu is held (a status change and its notification are one step).
	lifeMu sync.Mutex
	closed bool

	mu       sync.Mutex
	settings Settings
	requests []Request
	tokens   map[string]tokenInfo
	pp       pesapalState
	cp       clickpesaState
	cpo      cpPayoutState
	az       azampayState
	azd      azDisbursementState
	srv      *http.Server
	url      string
	serveErr chan error
}

type tokenInfo struct {
	provider string
	expires  time.Time
	clientID string
}

// New builds an emulator. It starts nothing: Start listens, Handler serves
// in someone else's server.
func New(o Options) (*Emulator, error) {
	s := o.Settings
	def := DefaultSettings()
	if s.ClickPesaChecksumMethod == "" {
		s.ClickPesaChecksumMethod = def.ClickPesaChecksumMethod
	}
	if s.Delay == 0 {
		s.Delay = def.Delay
	}
	if s.SlowAnswer == 0 {
		s.SlowAnswer = def.SlowAnswer
	}
	if s.ClickPesaBalance == "" {
		s.ClickPesaBalance = def.ClickPesaBalance
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox settings: %w", err)
	}
	e := &Emulator{
		log:      o.Logger,
		client:   o.HTTPClient,
		now:      o.Now,
		retry:    o.IPNRetry,
		key:      o.RSAKey,
		settings: s,
		tokens:   make(map[string]tokenInfo),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.client == nil {
		e.client = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if e.now == nil {
		e.now = time.Now
	}
	if len(e.retry) == 0 {
		e.retry = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}
	}
	if e.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate azampay signing key: %w", err)
		}
		e.key = k
	}
	der, err := x509.MarshalPKIXPublicKey(&e.key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode azampay public key: %w", err)
	}
	e.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	e.pp.init()
	e.cp.init()
	e.cpo.init(s.ClickPesaBalance)
	e.az.init()
	e.bgCtx, e.bgCancel = context.WithCancel(context.Background())

	mux := http.NewServeMux()
	e.routesPesaPal(mux)
	e.routesClickPesa(mux)
	e.routesAzamPay(mux)
	e.routesAzamPayDisbursement(mux)
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /_sandbox/requests", e.handleRequests)
	ctl.HandleFunc("GET /_sandbox/settings", e.handleGetSettings)
	ctl.HandleFunc("GET /_sandbox/azampay/disbursement-key", func(w http.ResponseWriter, _ *http.Request) {
		// The merchant's disbursement key: the emulator verifies checksums
		// made with it (PublicKeyPEM).
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(e.pubPEM)
	})
	ctl.HandleFunc("POST /_sandbox/settings", e.handlePostSettings)
	ctl.HandleFunc("POST /_sandbox/resend", e.handleResend)
	ctl.HandleFunc("POST /_sandbox/clickpesa/divergence", e.handleDivergence)
	ctl.HandleFunc("POST /_sandbox/clickpesa/bulk", e.handleBulk)
	ctl.HandleFunc("POST /_sandbox/pesapal/divergence", e.handleDivergencePesaPal)
	ctl.HandleFunc("POST /_sandbox/azampay/divergence", e.handleDivergenceAzamPay)
	ctl.HandleFunc("GET /{$}", e.handleIndex)
	ctl.Handle("/", e.record(e.withLatency(caseInsensitive(mux, aspNetPaths))))
	e.handler = ctl
	return e, nil
}

// Handler serves every provider route and the /_sandbox control routes.
func (e *Emulator) Handler() http.Handler { return e.handler }

// Start listens on addr ("127.0.0.1:0") and serves in the background.
func (e *Emulator) Start(addr string) error {
	e.mu.Lock() // held until srv is set, so a concurrent Stop sees it (lock order: mu, then lifeMu)
	defer e.mu.Unlock()
	e.lifeMu.Lock()
	closed := e.closed
	e.lifeMu.Unlock()
	if closed {
		return errors.New("start sandbox: emulator is stopped")
	}
	if e.srv != nil {
		return errors.New("start sandbox: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("start sandbox: listen %s: %w", addr, err)
	}
	e.srv = &http.Server{
		Handler:           e.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // extended per request by latency and slow answers
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
	e.url = "http://" + ln.Addr().String()
	e.serveErr = make(chan error, 1)
	srv := e.srv
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		e.serveErr <- err
	}()
	return nil
}

// URL is the base URL after Start ("http://127.0.0.1:PORT"), else "".
func (e *Emulator) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.url
}

// Stop stops the listener (if started), the customer timers and every
// notification goroutine. It is idempotent and bounded by ctx.
func (e *Emulator) Stop(ctx context.Context) error {
	e.lifeMu.Lock()
	already := e.closed
	e.closed = true
	e.lifeMu.Unlock()
	e.mu.Lock()
	srv, serveErr := e.srv, e.serveErr
	e.mu.Unlock()
	e.bgCancel() // wakes slow answers, latency waits, timers, retries
	var errs []error
	if srv != nil && !already {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox listener: %w", err))
			_ = srv.Close()
		}
		select {
		case err := <-serveErr:
			if err != nil {
				errs = append(errs, fmt.Errorf("sandbox serve: %w", err))
			}
		case <-ctx.Done():
		}
	}
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stop sandbox background work: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// UpdateSettings changes the settings under the emulator's lock (f must not
// call the emulator). Turning the ClickPesa checksum on or off invalidates
// ClickPesa tokens, as ClickPesa does.
func (e *Emulator) UpdateSettings(f func(*Settings)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.settings
	f(&e.settings)
	e.settingsChangedLocked(old)
}

func (e *Emulator) settingsChangedLocked(old Settings) {
	if e.settings.ClickPesaChecksumMethod == "" {
		e.settings.ClickPesaChecksumMethod = checksumCanonical
	}
	if e.settings.ClickPesaBalance == "" {
		e.settings.ClickPesaBalance = DefaultClickPesaBalance
	}
	if e.settings.ClickPesaBalance != old.ClickPesaBalance {
		e.cpo.reset(e.settings.ClickPesaBalance)
	}
	if (old.ClickPesaChecksumKey == "") != (e.settings.ClickPesaChecksumKey == "") {
		for t, info := range e.tokens {
			if info.provider == providerClickPesa {
				delete(e.tokens, t)
			}
		}
	}
}

// Settings returns the current settings.
func (e *Emulator) Settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.settings
}

// Requests returns a copy of what the emulator received, oldest first.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, len(e.requests))
	for i, r := range e.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// PublicKeyPEM is the PEM (SubjectPublicKeyInfo) of the AzamPay signing key.
func (e *Emulator) PublicKeyPEM() []byte { return bytes.Clone(e.pubPEM) }

// baseURL is where this emulator is reachable, for links it hands out.
func (e *Emulator) baseURL(r *http.Request) string {
	if u := e.URL(); u != "" {
		return u
	}
	return "http://" + r.Host
}

// after runs f after d unless the emulator stops first. It may be called
// with mu held.
func (e *Emulator) after(d time.Duration, f func(ctx context.Context)) {
	e.lifeMu.Lock()
	if e.closed {
		e.lifeMu.Unlock()
		return
	}
	e.wg.Add(1)
	e.lifeMu.Unlock()
	go func() {
		defer e.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			f(e.bgCtx)
		case <-e.bgCtx.Done():
		}
	}()
}

// wait blocks for d, or until the request or the emulator ends.
func (e *Emulator) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-e.bgCtx.Done():
		return false
	}
}

// slowAnswer holds the answer back for d (outcome 6). When the client or the
// emulator gives up first it answers 503 and reports false.
func (e *Emulator) slowAnswer(w http.ResponseWriter, r *http.Request, d time.Duration) bool {
	if e.wait(r.Context(), d) {
		return true
	}
	http.Error(w, "emulator stopping", http.StatusServiceUnavailable)
	return false
}

// ---- middleware ----

// aspNetPaths are the routes of the ASP.NET providers (PesaPal, AzamPay),
// whose paths match case-insensitively: AzamPay's own docs write both
// /api/v1/Partner/... and /api/v1/partner/....
var aspNetPaths = []string{
	"/pesapal/api/Auth/RequestToken",
	"/pesapal/api/URLSetup/RegisterIPN",
	"/pesapal/api/URLSetup/GetIpnList",
	"/pesapal/api/Transactions/SubmitOrderRequest",
	"/pesapal/api/Transactions/GetTransactionStatus",
	"/pesapal/api/Transactions/RefundRequest",
	"/pesapal/api/Transactions/CancelOrder",
	"/azampay-auth/AppRegistration/GenerateToken",
	"/azampay-auth/api/Token/PublicKey",
	"/azampay/azampay/mno/checkout",
	"/azampay/api/v1/checkout/checkoutmno",
	"/azampay/api/v1/Partner/GetPaymentPartners",
	"/azampay/api/v1/partner/gettransactionstatus",
	"/azampay/azampay/v1/public-key",
	"/azampay/azampay/transaction/query",
}

// caseInsensitive rewrites a request path that equals one of paths but for
// case to that path's spelling before routing.
func caseInsensitive(next http.Handler, paths []string) http.Handler {
	canon := make(map[string]string, len(paths))
	for _, p := range paths {
		canon[strings.ToLower(p)] = p
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := canon[strings.ToLower(r.URL.Path)]; ok && p != r.URL.Path {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = p, ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// record reads the bounded body once, lets the handler run, and logs the
// request (redacted) with the answer's status.
func (e *Emulator) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := e.now()
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		sw := &statusWriter{ResponseWriter: w}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(sw, "request body too large", http.StatusRequestEntityTooLarge)
			} else {
				http.Error(sw, "could not read request body", http.StatusBadRequest)
			}
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(sw, r)
		}
		req := Request{
			Time:   started,
			Method: r.Method,
			Path:   r.URL.Path,
			Query:  r.URL.RawQuery,
			Header: redactHeader(r.Header),
			Body:   redactBody(body),
			Status: sw.status,
		}
		e.mu.Lock()
		if len(e.requests) >= maxRequests {
			n := copy(e.requests, e.requests[maxRequests/2:])
			clear(e.requests[n:])
			e.requests = e.requests[:n]
		}
		e.requests = append(e.requests, req)
		e.mu.Unlock()
	})
}

// withLatency delays every provider answer by Settings.Latency and makes
// room in the write deadline for it and for slow answers.
func (e *Emulator) withLatency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.Settings()
		lat := time.Duration(s.Latency)
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30*time.Second + lat + time.Duration(s.SlowAnswer)))
		if !e.wait(r.Context(), lat) {
			http.Error(w, "emulator stopping", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

var credentialHeaders = []string{"Authorization", "Api-Key", "X-Api-Key", "Cookie", "Proxy-Authorization"}

func redactHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range credentialHeaders {
		if _, ok := out[k]; ok {
			out[k] = []string{redactedText}
		}
	}
	return out
}

var credentialFields = map[string]bool{
	"consumer_secret": true, "consumer_key": true, "clientsecret": true, "client_secret": true,
	"password": true, "api_key": true, "apikey": true, "token": true, "accesstoken": true,
}

// redactBody hides credential fields of a JSON body; other bodies are kept.
func redactBody(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(b)
	}
	if !redactValue(v) {
		return string(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}

func redactValue(v any) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if credentialFields[strings.ToLower(k)] {
				if x != nil && x != "" {
					t[k] = redactedText
					changed = true
				}
				continue
			}
			changed = redactValue(x) || changed
		}
	case []any:
		for _, x := range t {
			changed = redactValue(x) || changed
		}
	}
	return changed
}

// ---- control routes ----

func (e *Emulator) handleRequests(w http.ResponseWriter, r *http.Request) {
	reqs := e.Requests()
	if p := r.URL.Query().Get("path"); p != "" {
		kept := reqs[:0]
		for _, q := range reqs {
			if strings.HasPrefix(q.Path, p) {
				kept = append(kept, q)
			}
		}
		reqs = kept
	}
	writeJSON(w, http.StatusOK, reqs)
}

func (e *Emulator) handleGetSettings(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, e.Settings().redacted())
}

func (e *Emulator) handlePostSettings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
		return
	}
	e.mu.Lock()
	next := e.settings
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(&next)
	if err == nil {
		err = next.Validate()
	}
	if err != nil {
		e.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid settings: " + err.Error()})
		return
	}
	old := e.settings
	if next.ClickPesaChecksumKey == redactedText {
		next.ClickPesaChecksumKey = old.ClickPesaChecksumKey // a GET answer posted back keeps the key
	}
	e.settings = next
	e.settingsChangedLocked(old)
	cur := e.settings
	e.mu.Unlock()
	e.log.Info("sandbox settings changed", "settings", fmt.Sprintf("%+v", cur.redacted()))
	writeJSON(w, http.StatusOK, cur.redacted())
}

func (e *Emulator) handleIndex(w http.ResponseWriter, r *http.Request) {
	base := e.baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"service": "finconnectd sandbox (provider emulator)",
		"pesapal": map[string]string{"base_url": base + "/pesapal"},
		"clickpesa": map[string]string{
			"base_url": base + "/clickpesa",
		},
		"azampay": map[string]string{
			"auth_url": base + "/azampay-auth",
			"base_url": base + "/azampay",
		},
		"requests": base + "/_sandbox/requests",
		"settings": base + "/_sandbox/settings",
	})
}

// ---- small helpers ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func isHTTPURL(s string) bool {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return false
	}
	host := s[strings.Index(s, "//")+2:]
	return host != "" && host[0] != '/'
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

func newGUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomHex(n int) string { return fmt.Sprintf("%x", randomBytes((n+1)/2))[:n] }

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomCode(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = upperAlnum[int(b[i])%len(upperAlnum)]
	}
	return string(b)
}

// outcome is the simulated customer's answer, chosen by the phone's last digit.
type outcome int

const (
	outcomeSuccess     outcome = 0
	outcomeInsufficent outcome = 1
	outcomeCancelled   outcome = 2
	outcomeSilent      outcome = 3
	outcomeTwice       outcome = 4
	outcomeServerError outcome = 5
	outcomeSlow        outcome = 6
)

// outcomeFor reads the last digit of phone; digits 7-9 and phones without
// digits succeed like 0.
func outcomeFor(phone string) outcome {
	for i := len(phone) - 1; i >= 0; i-- {
		if c := phone[i]; c >= '0' && c <= '9' {
			if d := outcome(c - '0'); d <= outcomeSlow {
				return d
			}
			return outcomeSuccess
		}
	}
	return outcomeSuccess
}

// notifications is how many notifications the outcome sends.
func (o outcome) notifications() int {
	switch o {
	case outcomeSilent:
		return 0
	case outcomeTwice:
		return 2
	}
	return 1
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// maskPhone shows a phone as providers do: 2557xxx45678.
func maskPhone(p string) string {
	if len(p) < 9 {
		return p
	}
	return p[:4] + "xxx" + p[len(p)-5:]
}
