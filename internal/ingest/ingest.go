package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// MaxBody bounds a notification body: anything longer gets 413.
const MaxBody = 1 << 20

// Store is what ingest reads from the store (state.Store satisfies it):
// the payment a notification is about, to check amount and currency, and
// the AzamPay keys recorded as key.azampay.NAME resources.
type Store interface {
	PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error)
	Resource(ctx context.Context, address string) (state.Resource, error)
}

// Settler records a verified status (settle.Settler does).
type Settler interface {
	Apply(ctx context.Context, st settle.Statement) (state.StatusResult, error)
}

// Runtime is what one notification is handled with: the route table of a
// configuration and the provider clients built from it, installed
// together by a reload and read together, once per request.
type Runtime struct {
	Routes *Routes
	// Payers returns the provider client that confirms unsigned notifications.
	Payers func(providerID string) (providers.Payer, bool)
	// AzamPay returns the AzamPay client of a provider ID, which fetches
	// the callback key when the recorded one does not verify (nil: none).
	AzamPay func(providerID string) *azampay.Client
}

// azamPay is the AzamPay client of providerID, or nil.
func (rt *Runtime) azamPay(providerID string) *azampay.Client {
	if rt.AzamPay == nil {
		return nil
	}
	return rt.AzamPay(providerID)
}

// Routes is one configuration's routes by path; build it once per
// configuration with NewRoutes.
type Routes struct {
	byPath map[string]*servedRoute
	names  map[string]bool
}

type servedRoute struct {
	route    *config.Route
	provider *config.Provider
}

// NewRoutes indexes the routes of cfg by path.
func NewRoutes(cfg *config.Config) *Routes {
	rs := &Routes{byPath: map[string]*servedRoute{}, names: map[string]bool{}}
	if cfg == nil {
		return rs
	}
	for _, r := range cfg.Routes {
		p := cfg.Provider(r.Provider)
		if p == nil {
			continue // validation guarantees one; never serve a route without
		}
		rs.byPath[r.Path] = &servedRoute{route: r, provider: p}
		rs.names[r.Name] = true
	}
	return rs
}

// Options wire an Ingester.
type Options struct {
	// Runtime returns the routes and clients being served.
	Runtime func() *Runtime
	Settler Settler
	Store   Store
	Logger  *slog.Logger
	// Registerer receives the webhook metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Now        func() time.Time

	// RateLimit is how many unverified notifications about payments this
	// installation does not hold (or whose provider reference differs) per
	// second one route may turn into provider status queries (default 5),
	// with bursts of RateBurst (default 20). Notifications beyond get 429.
	RateLimit float64
	RateBurst int
	// KnownRateLimit and KnownRateBurst are the separate budget of
	// unverified notifications about payments we hold (default 50/s,
	// bursts of 100): a flood of made-up ids never delays the IPN of a
	// payment finconnectd is waiting for.
	KnownRateLimit float64
	KnownRateBurst int
	// QueryTimeout bounds one confirming status query (default 20 s).
	QueryTimeout time.Duration

	// Payouts settles ClickPesa payout webhooks; nil acknowledges and
	// ignores them.
	Payouts PayoutSettler
}

// Ingester is the handler of every route path. Safe for concurrent use;
// each request takes its route and clients from one Runtime.
type Ingester struct {
	runtime           func() *Runtime
	payouts           PayoutSettler
	azamPayKeys       *azamPayKeys
	settler           Settler
	store             Store
	log               *slog.Logger
	now               func() time.Time
	rate, knownRate   float64
	burst, knownBurst int
	qTimeout          time.Duration

	budgets budgets
	flights flights

	received *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// routeInfo is what handling one notification works with: its route and
// provider, the route's budgets, and the clients of the same Runtime.
type routeInfo struct {
	*servedRoute
	rt *Runtime
	*budget
}

// budget is a route's rate limits for confirming queries.
type budget struct {
	unknown *rate.Limiter // budget for notifications about payments we do not hold
	known   *rate.Limiter // budget for notifications about payments we hold
}

// budgets are the routes' rate limits by route name. They outlive the
// route tables: a route that keeps its name across a reload keeps its
// budget; the budgets of routes a newer table dropped are forgotten.
type budgets struct {
	mu     sync.Mutex
	routes *Routes // the table byName was last pruned for
	byName map[string]*budget
}

// of returns the budget of the route name of routes, new ones from mk.
func (b *budgets) of(routes *Routes, name string, mk func() *budget) *budget {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.routes != routes {
		for n := range b.byName {
			if !routes.names[n] {
				delete(b.byName, n)
			}
		}
		b.routes = routes
	}
	if b.byName == nil {
		b.byName = map[string]*budget{}
	}
	bu := b.byName[name]
	if bu == nil {
		bu = mk()
		b.byName[name] = bu
	}
	return bu
}

// New checks o and returns an Ingester; it starts nothing.
func New(o Options) (*Ingester, error) {
	var missing []string
	if o.Runtime == nil {
		missing = append(missing, "Runtime")
	}
	if o.Settler == nil {
		missing = append(missing, "Settler")
	}
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ingest: missing options: %s", strings.Join(missing, ", "))
	}
	in := &Ingester{
		runtime:    o.Runtime,
		payouts:    o.Payouts,
		settler:    o.Settler,
		store:      o.Store,
		log:        o.Logger,
		now:        o.Now,
		rate:       o.RateLimit,
		burst:      o.RateBurst,
		knownRate:  o.KnownRateLimit,
		knownBurst: o.KnownRateBurst,
		qTimeout:   o.QueryTimeout,
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.rate <= 0 {
		in.rate = 5
	}
	if in.burst <= 0 {
		in.burst = 20
	}
	if in.knownRate <= 0 {
		in.knownRate = 50
	}
	if in.knownBurst <= 0 {
		in.knownBurst = 100
	}
	if in.qTimeout <= 0 {
		in.qTimeout = 20 * time.Second
	}
	in.azamPayKeys = newAzamPayKeys(o.Store, in.now)
	var err error
	if in.received, err = registerCounter(o.Registerer, prometheus.CounterOpts{
		Name: "finconnectd_webhooks_received_total",
		Help: "Provider notifications received, by route.",
	}, []string{"route"}); err != nil {
		return nil, err
	}
	if in.rejected, err = registerCounter(o.Registerer, prometheus.CounterOpts{
		Name: "finconnectd_webhooks_rejected_total",
		Help: "Provider notifications answered with an error, by route and reason.",
	}, []string{"route", "reason"}); err != nil {
		return nil, err
	}
	return in, nil
}

// registerCounter registers a counter vector, or reuses the one already
// registered under the same name.
func registerCounter(reg prometheus.Registerer, opts prometheus.CounterOpts, labels []string) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(opts, labels)
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("ingest: register %s: %w", opts.Name, err)
	}
	return c, nil
}

// newBudget is a fresh route budget.
func (in *Ingester) newBudget() *budget {
	return &budget{unknown: newLimiter(in.rate, in.burst), known: newLimiter(in.knownRate, in.knownBurst)}
}

// ForgetAzamPayKeys drops the cached AzamPay keys, so that the next
// callback reads the key recorded in state again (after the refresh_keys
// schedule or a reload: state may hold a newer one).
func (in *Ingester) ForgetAzamPayKeys() { in.azamPayKeys.forget() }

// Handler serves the route paths; every other path is 404.
func (in *Ingester) Handler() http.Handler { return in }

// result is what handling one notification came to.
type result struct {
	code       int
	body       []byte // the answer; nil = a problem document built from reason/detail
	outcome    string // accepted | duplicate | unchanged | stale | ignored | rejected | failed
	reason     string // rejection reason (metric label), "" when accepted
	detail     string
	st         providers.PaymentStatus
	eventID    string
	err        error
	pesapalIPN bool
	// notHeld: the statement is about no payment we hold and could not
	// create one (answered 200, "ignored").
	notHeld     bool
	ackOK, ackF []byte // PesaPal's ack bodies for status 200 / 500
}

// ServeHTTP serves a route path in its exact, unencoded form only: a
// request whose path was percent-encoded anywhere ("/hooks%2fclickpesa",
// "/hooks/%63lickpesa") is 404, so that a path rule in front of the daemon
// (a reverse proxy, a firewall) sees the same path finconnectd serves.
func (in *Ingester) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := in.runtime()
	sr, ok := rt.Routes.byPath[r.URL.Path]
	if !ok || r.URL.RawPath != "" {
		http.NotFound(w, r)
		return
	}
	ri := &routeInfo{servedRoute: sr, rt: rt, budget: in.budgets.of(rt.Routes, sr.route.Name, in.newBudget)}
	start := in.now()
	in.received.WithLabelValues(ri.route.Name).Inc()
	res := in.handle(r.Context(), ri, w, r)
	if res.reason != "" {
		in.rejected.WithLabelValues(ri.route.Name, res.reason).Inc()
	}
	in.answer(w, res)
	in.logResult(r.Context(), ri, r, res, in.now().Sub(start))
}

func (in *Ingester) answer(w http.ResponseWriter, res result) {
	if res.pesapalIPN && res.ackOK != nil {
		body := res.ackF
		if res.code >= 200 && res.code < 300 {
			body = res.ackOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.code)
		_, _ = w.Write(body)
		return
	}
	if res.code >= 200 && res.code < 300 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.code)
		_, _ = w.Write([]byte(`{"received":true}` + "\n"))
		return
	}
	if res.code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", res.detail)
		res.detail = "This route accepts " + res.detail + "."
	}
	httpapi.WriteProblem(w, httpapi.NewProblem(res.code, strings.ReplaceAll(res.reason, "_", "-"), http.StatusText(res.code), res.detail))
}

func (in *Ingester) logResult(ctx context.Context, ri *routeInfo, r *http.Request, res result, took time.Duration) {
	level := slog.LevelInfo
	switch {
	case res.code >= 500:
		level = slog.LevelError
	case res.code >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("route", ri.route.Name),
		slog.String("provider", ri.provider.ID()),
		slog.String("method", r.Method),
		slog.String("outcome", res.outcome),
		slog.Int("http_status", res.code),
		slog.Duration("took", took),
	}
	if res.st.Reference != "" {
		attrs = append(attrs, slog.String("reference", res.st.Reference))
	}
	if res.st.ProviderReference != "" {
		attrs = append(attrs, slog.String("provider_reference", res.st.ProviderReference))
	}
	if res.st.Status != "" {
		attrs = append(attrs, slog.String("status", string(res.st.Status)))
	}
	if res.st.Phone != "" {
		attrs = append(attrs, slog.String("phone", maskPhone(res.st.Phone)))
	}
	if res.eventID != "" {
		attrs = append(attrs, slog.String("event_id", res.eventID))
	}
	if res.reason != "" {
		attrs = append(attrs, slog.String("reason", res.reason))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	in.log.LogAttrs(ctx, level, "webhook", attrs...)
}

func reject(code int, reason, detail string, err error) result {
	outcome := "rejected"
	if code >= 500 {
		outcome = "failed"
	}
	return result{code: code, outcome: outcome, reason: reason, detail: detail, err: err}
}

// handle reads the body and dispatches by provider kind.
func (in *Ingester) handle(ctx context.Context, ri *routeInfo, w http.ResponseWriter, r *http.Request) result {
	allow := "POST"
	if ri.provider.Kind == string(providers.PesaPal) {
		allow = "GET, POST"
	}
	if r.Method != http.MethodPost && !(allow != "POST" && r.Method == http.MethodGet) {
		return reject(http.StatusMethodNotAllowed, "method", allow, nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return reject(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("Notifications are limited to %d bytes.", MaxBody), nil)
		}
		return reject(http.StatusBadRequest, "read_error", "The body could not be read.", err)
	}
	switch providers.Kind(ri.provider.Kind) {
	case providers.PesaPal:
		return in.pesapal(ctx, ri, r, body)
	case providers.ClickPesa:
		return in.clickpesa(ctx, ri, body)
	case providers.AzamPay:
		return in.azampay(ctx, ri, body)
	}
	return reject(http.StatusNotFound, "unknown_provider", "No handler for this provider kind.", nil)
}

// errRateLimited: the route's budget of unverified notifications is spent.
var errRateLimited = errors.New("too many unverified notifications")

// confirm asks the provider about a payment an unverified notification
// names: coalesced per payment, rate limited per route for new queries
// from the budget b (ri.known or ri.unknown).
func (in *Ingester) confirm(ctx context.Context, ri *routeInfo, b *rate.Limiter, key string, q providers.PaymentQuery) (providers.PaymentStatus, error) {
	payer, ok := ri.rt.Payers(ri.provider.ID())
	if !ok {
		return providers.PaymentStatus{}, fmt.Errorf("no client for %s", ri.provider.Block())
	}
	st, _, err := in.flights.do(ctx, ri.provider.ID()+"\x00"+key, in.qTimeout,
		func() bool { return b.AllowN(in.now(), 1) },
		func(ctx context.Context) (providers.PaymentStatus, error) { return payer.QueryPayment(ctx, q) })
	return st, err
}

// confirmFailure turns a failed confirming query into an answer: the
// provider does not know the payment (forged or mistaken: 404), the
// budget is spent (429), or the provider could not answer (500: retry).
func confirmFailure(err error) result {
	switch {
	case errors.Is(err, errRateLimited):
		return reject(http.StatusTooManyRequests, "rate_limited", "Too many unverified notifications; retry later.", nil)
	case providers.IsPermanent(err):
		return reject(http.StatusNotFound, "unknown_payment", "The provider does not know this payment.", err)
	}
	return reject(http.StatusInternalServerError, "provider_error", "The payment could not be confirmed with the provider; retry later.", err)
}

// verified is a statement ingest has verified, ready to be applied.
type verified struct {
	st       providers.PaymentStatus
	dedupRef string // provider reference (or our reference) the dedup key starts with
	body     []byte // stored notification body (credentials are removed on the way in)
	// clean says body is already without credentials
	// (providers.WithoutCredentials's output): it is stored as it is.
	clean bool
	// source is what proves st: state.SourceNotification when the
	// notification's own proof (a signature, a checksum) bound to the
	// stored payment does; state.SourceStatusQuery when the provider's
	// answer to our status query does.
	source state.Source
}

// lookup finds the stored payment a notification names by our reference.
func (in *Ingester) lookup(ctx context.Context, ri *routeInfo, reference string) (state.Payment, bool, error) {
	if reference == "" {
		return state.Payment{}, false, nil
	}
	p, err := in.store.PaymentByReference(ctx, ri.provider.ID(), reference)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return state.Payment{}, false, nil
	case err != nil:
		return state.Payment{}, false, fmt.Errorf("look up payment %s: %w", reference, err)
	}
	return p, true, nil
}

// budget is the rate budget of a notification about p (found: we hold it)
// naming providerRef: the known budget only when it names a payment we
// hold and does not contradict its provider reference.
func (ri *routeInfo) budgetFor(p state.Payment, found bool, providerRef string) *rate.Limiter {
	if found && (p.ProviderReference == "" || providerRef == "" || p.ProviderReference == providerRef) {
		return ri.known
	}
	return ri.unknown
}

func storeFailure(err error) result {
	return reject(http.StatusInternalServerError, "store_error", "The notification could not be checked; retry later.", err)
}

// apply checks a verified statement against the stored payment and
// records it. Only a committed (or duplicate) notification is acked.
func (in *Ingester) apply(ctx context.Context, ri *routeInfo, v verified) result {
	res := result{st: v.st}
	pid := ri.provider.ID()
	fail := func(r result) result { r.st = v.st; return r }
	if v.st.Reference == "" && v.st.ProviderReference == "" {
		return fail(reject(http.StatusBadRequest, "malformed", "The notification names no payment.", nil))
	}
	dedup := v.dedupRef
	if dedup == "" {
		dedup = v.st.ProviderReference
	}
	if dedup == "" {
		dedup = v.st.Reference
	}
	body := json.RawMessage(v.body)
	if !v.clean {
		body = providers.WithoutCredentials(v.body)
	}
	if body == nil {
		body = json.RawMessage("{}")
	}
	ntf := &state.Notification{
		Route:      ri.route.Name,
		Provider:   pid,
		DedupKey:   dedup + ":" + string(v.st.Status),
		Body:       body,
		ReceivedAt: in.now().UTC(),
	}
	source := v.source
	if source == "" {
		source = state.SourceNotification
	}
	sr, err := in.settler.Apply(ctx, settle.Statement{
		ProviderID:   pid,
		Status:       v.st,
		Source:       source,
		Notification: ntf,
		// Only the provider's own answer to a status query may bring a
		// payment this installation does not hold into being.
		CreateIfMissing: source == state.SourceStatusQuery && v.st.Reference != "",
	})
	switch {
	case errors.Is(err, state.ErrInvalid):
		return fail(reject(http.StatusBadRequest, "malformed", "The notified amount or currency is not valid money.", err))
	case errors.Is(err, state.ErrMismatch):
		return fail(reject(http.StatusUnprocessableEntity, "mismatch", "The notified provider reference, amount or currency differs from the payment's.", err))
	case errors.Is(err, state.ErrNotFound):
		// Authentic, but about no payment we have and nothing to create
		// it from: acknowledge so the provider stops, change nothing.
		res.code, res.outcome, res.notHeld = http.StatusOK, "ignored", true
		return res
	case err != nil:
		return fail(reject(http.StatusInternalServerError, "store_error", "The notification could not be recorded; retry later.", err))
	}
	res.code = http.StatusOK
	res.eventID = sr.EventID
	switch {
	case sr.Duplicate:
		res.outcome = "duplicate"
	case sr.Outcome == state.Refused:
		res.outcome = "stale" // would move the payment backwards: nothing changed
	case sr.Changed:
		res.outcome = "accepted"
	default:
		res.outcome = "unchanged"
	}
	return res
}
