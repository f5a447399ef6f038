package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// storeTimeout bounds the store writes made after the provider answered;
// they run detached from the client's request so a client hanging up cannot
// leave a payment half-recorded.
const storeTimeout = 10 * time.Second

// RegisterAPI mounts the pay API on mux; its routes need the payments
// scope. Authentication is the caller's (the daemon wraps the private
// listener in httpapi.Authenticator).
func (s *Service) RegisterAPI(mux httpapi.Router) {
	scoped := func(h httpapi.HandlerFunc) http.Handler {
		return httpapi.RequireScope(config.ScopePayments, httpapi.Handle(h))
	}
	mux.Handle("POST /v1/payments", scoped(s.handleCreate))
	mux.Handle("GET /v1/payments/{id}", scoped(s.handleGet))
	mux.Handle("GET /v1/payments", scoped(s.handleList))
}

// problemWithPayment is a problem that also names the payment it is about
// (502/504 after the payment row was written).
type problemWithPayment struct {
	*httpapi.Problem
	PaymentID string   `json:"payment_id,omitempty"`
	Payment   *Payment `json:"payment,omitempty"`
}

// answer is one response of POST /v1/payments, kept to complete the
// idempotency key with.
type answer struct {
	status    int
	body      []byte
	paymentID string
}

func jsonAnswer(status int, v any, paymentID string) answer {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // our own types; they always encode
	return answer{status: status, body: buf.Bytes(), paymentID: paymentID}
}

func problemAnswer(p *httpapi.Problem) answer { return jsonAnswer(p.Status, p, "") }

func (a answer) write(w http.ResponseWriter) {
	ct := "application/json"
	if a.status >= 400 {
		ct = "application/problem+json"
	}
	if a.status == http.StatusCreated && a.paymentID != "" {
		w.Header().Set("Location", "/v1/payments/"+url.PathEscape(a.paymentID))
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) error {
	start := s.now()
	providerLabel := "invalid"
	code := 0
	defer func() {
		if code == 0 {
			code = http.StatusInternalServerError // an error WriteError turns into a 500
		}
		s.m.duration.WithLabelValues(providerLabel, strconv.Itoa(code)).Observe(s.now().Sub(start).Seconds())
	}()
	fail := func(p *httpapi.Problem) error { code = p.Status; return p }

	key := r.Header.Get("Idempotency-Key")
	if _, sent := r.Header["Idempotency-Key"]; sent && !validIdempotencyKey(key) {
		return fail(httpapi.NewProblem(http.StatusBadRequest, "invalid-idempotency-key", "Invalid Idempotency-Key",
			fmt.Sprintf("Idempotency-Key must be 1 to %d printable ASCII characters.", maxIdempotencyKey)))
	}
	var req Request
	var bodyErrs []httpapi.FieldError // mistyped or unknown fields
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		var p *httpapi.Problem
		if !errors.As(err, &p) {
			return err
		}
		if p.Status != http.StatusUnprocessableEntity {
			return fail(p)
		}
		bodyErrs = p.Errors
	}
	rt := s.runtime() // one configuration and its clients for the whole request
	v, prob := validate(rt.Config, req)
	if len(bodyErrs) > 0 {
		// Report every problem of the body at once: the decoding's, then
		// the checks' on the fields that decoded (a field already named
		// once is not named again).
		merged := fieldErrors(mergeFieldErrors(bodyErrs, prob))
		sortErrors(merged)
		prob = httpapi.ValidationProblem(merged)
	}
	if prob != nil {
		return fail(prob)
	}
	providerLabel = v.Provider
	payer, ok := rt.Payers(v.Provider)
	if !ok {
		return fail(httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
			fmt.Sprintf("No client is running for %s; check the daemon's log.", v.Provider)))
	}
	var notificationID string
	if v.IPN != "" {
		id, err := s.notificationID(r.Context(), v.IPN)
		if err != nil {
			if errors.Is(err, state.ErrNotFound) {
				return fail(httpapi.NewProblem(http.StatusConflict, "ipn-not-registered", "IPN not registered",
					fmt.Sprintf("ipn.%s is not in state yet: run 'finconnectd apply' (the daemon's reconcile schedule also registers it).", v.IPN)))
			}
			return fmt.Errorf("create payment: %w", err)
		}
		notificationID = id
	}

	// The payment row is written before the provider is called; with a key,
	// in the transaction that claims it.
	p := newPayment(v, s.now().UTC())
	var werr error
	if key != "" {
		rec, claimed, err := s.store.ClaimKeyAndCreatePayment(r.Context(), key, v.hash(), p.CreatedAt, p)
		switch {
		case err != nil && !(claimed && errors.Is(err, state.ErrConflict)):
			// Rolled back: neither the key nor the payment was written,
			// and nothing was started at the provider.
			return fmt.Errorf("claim idempotency key and create payment %s/%s: %w", v.Provider, v.Reference, err)
		case !claimed:
			a, err := s.replay(r.Context(), rec, v)
			if err != nil {
				return err
			}
			code = a.status
			a.write(w)
			return nil
		}
		werr = err
	} else {
		werr = s.store.CreatePayment(r.Context(), p)
	}
	if werr != nil {
		if !errors.Is(werr, state.ErrConflict) {
			return fmt.Errorf("create payment %s/%s: %w", v.Provider, v.Reference, werr)
		}
		a := s.referenceInUse(r.Context(), v)
		if key != "" {
			s.completeKey(r.Context(), key, a)
		}
		code = a.status
		a.write(w)
		return nil
	}

	a := s.initiate(r.Context(), v, payer, notificationID, p, key)
	code = a.status
	a.write(w)
	return nil
}

// completeKey stores a under key (when the answer was not stored with the
// initiation's record).
func (s *Service) completeKey(ctx context.Context, key string, a answer) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.store.CompleteIdempotencyKey(cctx, key, a.status, a.body, a.paymentID); err != nil {
		// The answer is still right; a replay would see the key in flight (409).
		s.log.Error("complete idempotency key", "payment_id", a.paymentID, "error", err)
	}
}

// referenceInUse is the answer when the provider already has a payment
// with v's reference: nothing is sent.
func (s *Service) referenceInUse(ctx context.Context, v validated) answer {
	s.m.initiations.WithLabelValues(v.Provider, "duplicate").Inc()
	prob := httpapi.NewProblem(http.StatusConflict, "reference-in-use", "Reference already used",
		fmt.Sprintf("%s already has a payment with reference %q; references are unique per provider.", v.Provider, v.Reference))
	if old, err := s.store.PaymentByReference(ctx, v.Provider, v.Reference); err == nil {
		return jsonAnswer(prob.Status, problemWithPayment{Problem: prob, PaymentID: old.ID}, "")
	}
	return problemAnswer(prob)
}

// replay answers a request whose Idempotency-Key was already claimed.
func (s *Service) replay(ctx context.Context, rec state.IdempotencyRecord, v validated) (answer, error) {
	switch {
	case rec.RequestHash != v.hash():
		return problemAnswer(httpapi.NewProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			"This Idempotency-Key was first used with a different request body; use a new key for a new payment.")), nil
	case !rec.Done:
		if s.now().Sub(rec.CreatedAt) > s.initTimeout+time.Minute {
			// The first request died between claim and completion (a crash):
			// answer with the payment if it was written.
			if p, err := s.store.PaymentByReference(ctx, v.Provider, v.Reference); err == nil {
				return jsonAnswer(http.StatusOK, View(p), p.ID), nil
			}
		}
		return problemAnswer(httpapi.NewProblem(http.StatusConflict, "idempotency-key-in-flight", "Request in progress",
			"The first request with this Idempotency-Key has not finished yet; retry later.")), nil
	}
	status := rec.StatusCode
	if status == http.StatusCreated {
		status = http.StatusOK
	}
	return answer{status: status, body: rec.Body, paymentID: rec.PaymentID}, nil
}

// newPayment is the row written for v before the provider is called.
func newPayment(v validated, now time.Time) state.Payment {
	return state.Payment{
		ID:          newPaymentID(),
		Provider:    v.Provider,
		Reference:   v.Reference,
		Status:      state.StatusPending,
		Amount:      v.Amount,
		Currency:    v.Currency,
		Phone:       v.Phone,
		Description: v.Description,
		MNO:         v.MNO,
		IPN:         v.IPN,
		CreatedAt:   now,
		UpdatedAt:   now,
		NextSyncAt:  now.Add(syncDelay(0)),
	}
}

// initiate calls the provider for the written payment p and records its
// answer (with key, completing the key in the same transaction). Every
// outcome is an answer.
func (s *Service) initiate(ctx context.Context, v validated, payer providers.Payer, notificationID string, p state.Payment, key string) answer {
	log := s.log.With("payment_id", p.ID, "provider", p.Provider, "reference", p.Reference)

	// The provider call outlives a client that hangs up: its outcome must be recorded.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.initTimeout)
	res, callErr := payer.InitiatePayment(callCtx, v.providerRequest(notificationID))
	timedOut := callErr != nil && (isTimeout(callErr) || callCtx.Err() != nil)
	cancel()

	in := state.PaymentInitiation{NextSyncAt: p.NextSyncAt}
	status := http.StatusCreated
	var prob *httpapi.Problem
	outcome := "pending"
	switch {
	case callErr == nil:
		in.Status = state.StatusPending
		if res.Status == providers.StatusFailed {
			in.Status = state.StatusFailed
			outcome = "failed"
		}
		in.ProviderReference, in.RedirectURL, in.Raw = res.ProviderReference, res.RedirectURL, res.Raw
	case providers.IsPermanent(callErr):
		in.Status, in.Message = state.StatusFailed, providerMessage(callErr)
		outcome = "rejected"
		prob = httpapi.NewProblem(http.StatusUnprocessableEntity, "provider-rejected", "Provider rejected the payment",
			fmt.Sprintf("%s rejected the payment: %s", v.Provider, providerMessage(callErr)))
	case providers.IsRetryable(callErr) || providers.IsAuth(callErr):
		// The request never reached the provider or was refused before it
		// started anything: the payment failed, and the reference is spent
		// (a payment is never sent twice for one reference).
		in.Status, in.Message = state.StatusFailed, "provider unavailable: "+providerMessage(callErr)
		outcome = "unavailable"
		detail := fmt.Sprintf("%s could not be reached or refused the call; nothing was started. Retry with a new reference.", v.Provider)
		if providers.IsAuth(callErr) {
			detail = fmt.Sprintf("%s rejected finconnectd's credentials; nothing was started. Check the provider block.", v.Provider)
		}
		prob = httpapi.NewProblem(http.StatusBadGateway, "provider-unavailable", "Provider unavailable", detail)
	default:
		// Unknown outcome (timeout, broken connection, 5xx on initiate, or
		// an unclassified error): maybe started. Never re-sent; sync settles it.
		in.Status, in.Message = state.StatusUnknown, "outcome unknown: "+providerMessage(callErr)
		outcome = "unknown"
		if timedOut {
			prob = httpapi.NewProblem(http.StatusGatewayTimeout, "provider-timeout", "Provider timed out",
				fmt.Sprintf("%s did not answer in time; the payment %s is unknown and will be settled by sync. Do not retry with a new reference: check the payment instead.", v.Provider, p.ID))
		} else {
			prob = httpapi.NewProblem(http.StatusBadGateway, "provider-error", "Provider error",
				fmt.Sprintf("%s failed while starting the payment; the payment %s is unknown and will be settled by sync. Do not retry with a new reference: check the payment instead.", v.Provider, p.ID))
		}
	}
	if callErr != nil {
		log.Warn("payment initiation failed", "outcome", outcome, "error", callErr)
	} else {
		log.Info("payment initiated", "status", in.Status, "provider_reference", in.ProviderReference)
	}
	s.m.initiations.WithLabelValues(v.Provider, outcome).Inc()

	// The answer as the payment was recorded; with a key it is built
	// inside the transaction that completes the key.
	build := func(stored state.Payment, prob *httpapi.Problem) answer {
		view := View(stored)
		if prob != nil {
			return jsonAnswer(prob.Status, problemWithPayment{Problem: prob, PaymentID: p.ID, Payment: &view}, p.ID)
		}
		return jsonAnswer(status, view, p.ID)
	}
	var a answer
	if key != "" {
		in.IdempotencyKey = key
		in.Answer = func(stored state.Payment) (int, []byte) {
			a = build(stored, prob)
			return a.status, a.body
		}
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	stored, err := s.store.RecordInitiation(rctx, p.ID, in, s.now().UTC())
	rcancel()
	if err == nil {
		if key == "" {
			a = build(stored, prob)
		}
		return a
	}
	// The payment row exists (pending); sync will find it. Say so.
	log.Error("record payment initiation", "error", err)
	stored = p
	if in.Status != state.StatusFailed {
		stored.Status = state.StatusUnknown
	}
	if prob == nil {
		prob = httpapi.NewProblem(http.StatusInternalServerError, "store-error", "Payment not fully recorded",
			fmt.Sprintf("The provider accepted payment %s but finconnectd could not record its answer; sync will settle it.", p.ID))
	}
	a = build(stored, prob)
	if key != "" {
		s.completeKey(ctx, key, a)
	}
	return a
}

// providerMessage is the provider's own words when it gave some, else the
// error kind; never a secret (provider errors carry none).
func providerMessage(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Message != "" && pe.Code != "":
			return pe.Message + " (" + pe.Code + ")"
		case pe.Message != "":
			return pe.Message
		case pe.HTTPStatus != 0:
			return fmt.Sprintf("HTTP %d", pe.HTTPStatus)
		}
		return pe.Kind.String()
	}
	if isTimeout(err) {
		return "timed out"
	}
	return "error"
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	refresh := false
	if q := r.URL.Query().Get("refresh"); q != "" {
		want, perr := strconv.ParseBool(q)
		if perr != nil {
			return httpapi.QueryProblem([]httpapi.FieldError{{Field: "refresh", Message: "must be true or false"}})
		}
		refresh = want
	}
	p, err := s.store.Payment(r.Context(), id)
	if err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return httpapi.NewProblem(http.StatusNotFound, "not-found", "Payment not found", fmt.Sprintf("No payment %q.", id))
		}
		return fmt.Errorf("read payment %s: %w", id, err)
	}
	if refresh {
		p, err = s.refresh(r.Context(), p)
		if err != nil {
			return err
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, View(p))
	return nil
}

// refresh asks the provider about p now and applies the answer.
func (s *Service) refresh(ctx context.Context, p state.Payment) (state.Payment, error) {
	payer, ok := s.payer(p.Provider)
	if !ok {
		return p, httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
			fmt.Sprintf("No client is running for %s (removed from the configuration?).", p.Provider))
	}
	if !canQuery(p) {
		return p, httpapi.NewProblem(http.StatusConflict, "cannot-query", "Provider cannot be asked yet",
			fmt.Sprintf("%s has no provider reference for this payment yet; its notification will settle it.", p.Provider))
	}
	out, err := s.query(ctx, payer, p, state.SourceRefresh)
	if err != nil {
		if isTimeout(err) {
			return p, httpapi.NewProblem(http.StatusGatewayTimeout, "provider-timeout", "Provider timed out",
				fmt.Sprintf("%s did not answer the status query in time.", p.Provider))
		}
		return p, httpapi.NewProblem(http.StatusBadGateway, "provider-error", "Provider error",
			fmt.Sprintf("Asking %s about the payment failed: %s", p.Provider, providerMessage(err)))
	}
	return out, nil
}

// query asks the provider about p and applies the answer through the
// Settler as a statement from src (state.SourceStatusQuery for sync,
// SourceRefresh for ?refresh=true); it returns the payment as stored
// afterwards. Whether the answer moves the payment (forward only), and
// whether its amount and currency agree with the payment's, is the
// store's rule: an answer that contradicts the payment is an error and
// changes nothing.
func (s *Service) query(ctx context.Context, payer providers.Payer, p state.Payment, src state.Source) (state.Payment, error) {
	qctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	st, err := payer.QueryPayment(qctx, providers.PaymentQuery{Reference: p.Reference, ProviderReference: p.ProviderReference, MNO: p.MNO})
	cancel()
	if err != nil {
		s.m.syncs.WithLabelValues(p.Provider, "error").Inc()
		return p, fmt.Errorf("query %s payment %s: %w", p.Provider, p.ID, err)
	}
	if st.Status == "" {
		s.m.syncs.WithLabelValues(p.Provider, "unchanged").Inc()
		return p, nil
	}
	// The lookup key is ours: the provider may echo its own spelling.
	st.Reference = p.Reference
	if st.ProviderReference == "" {
		st.ProviderReference = p.ProviderReference
	}
	res, err := s.settler.Apply(ctx, settle.Statement{ProviderID: p.Provider, Status: st, Source: src})
	if errors.Is(err, state.ErrMismatch) || errors.Is(err, state.ErrInvalid) {
		s.m.syncs.WithLabelValues(p.Provider, "mismatch").Inc()
		s.log.Error("provider status does not match the payment; not applied", "payment_id", p.ID, "provider", p.Provider, "reference", p.Reference, "error", err)
		return p, fmt.Errorf("query %s payment %s: %w", p.Provider, p.ID, err)
	}
	if err != nil {
		s.m.syncs.WithLabelValues(p.Provider, "error").Inc()
		return p, fmt.Errorf("apply %s status of payment %s: %w", st.Status, p.ID, err)
	}
	switch {
	case res.Changed:
		s.m.syncs.WithLabelValues(p.Provider, "changed").Inc()
		s.log.Info("payment status changed", "payment_id", p.ID, "provider", p.Provider, "reference", p.Reference,
			"from", p.Status, "to", res.Payment.Status, "event_id", res.EventID, "source", src)
	case res.Outcome == state.Refused:
		s.m.syncs.WithLabelValues(p.Provider, "stale").Inc()
		s.log.Info("provider status would move the payment backwards; status kept", "payment_id", p.ID, "provider", p.Provider,
			"reference", p.Reference, "status", res.Payment.Status, "stated", st.Status, "source", src)
	default:
		s.m.syncs.WithLabelValues(p.Provider, "unchanged").Inc()
	}
	if res.Payment.ID == "" {
		return p, nil
	}
	return res.Payment, nil
}

// canQuery reports whether the provider can be asked about p: ClickPesa is
// asked by our reference, the others need their own reference.
func canQuery(p state.Payment) bool {
	return p.ProviderReference != "" || strings.HasPrefix(p.Provider, string(providers.ClickPesa)+".")
}

// statusList is every payment status, comma-separated.
func statusList() string {
	var out []string
	for _, st := range state.PaymentStatuses() {
		out = append(out, string(st))
	}
	return strings.Join(out, ", ")
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := state.PaymentFilter{Provider: q.Get("provider"), Reference: q.Get("reference"), Status: state.PaymentStatus(q.Get("status"))}
	var errs []httpapi.FieldError
	if f.Status != "" && !f.Status.Valid() {
		errs = append(errs, httpapi.FieldError{Field: "status", Message: "must be one of " + statusList()})
	}
	limit := defaultListLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxListLimit {
			errs = append(errs, httpapi.FieldError{Field: "limit", Message: fmt.Sprintf("must be a number from 1 to %d", maxListLimit)})
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		id, err := httpapi.DecodeCursor(c)
		if err != nil {
			errs = append(errs, httpapi.FieldError{Field: "cursor", Message: err.Error()})
		}
		f.After = id
	}
	if len(errs) > 0 {
		return httpapi.QueryProblem(errs)
	}
	f.Limit = limit + 1 // one more says whether there is a next page
	list, err := s.store.ListPayments(r.Context(), f)
	if errors.Is(err, state.ErrNotFound) && f.After != "" {
		return httpapi.QueryProblem([]httpapi.FieldError{{Field: "cursor", Message: "names no payment; list again without it"}})
	}
	if err != nil {
		return fmt.Errorf("list payments: %w", err)
	}
	out := PaymentList{Payments: make([]Payment, 0, len(list))}
	if len(list) > limit {
		list = list[:limit]
		out.NextCursor = httpapi.EncodeCursor(list[len(list)-1].ID)
	}
	for _, p := range list {
		out.Payments = append(out.Payments, View(p))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// Page sizes of GET /v1/payments.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// PaymentList is the answer of GET /v1/payments: a page of payments,
// newest first, and when more follow, the cursor of the next page.
type PaymentList struct {
	Payments   []Payment `json:"payments"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// mergeFieldErrors is first followed by the field errors of p (may be nil)
// whose field first does not name already.
func mergeFieldErrors(first []httpapi.FieldError, p *httpapi.Problem) []httpapi.FieldError {
	out := append([]httpapi.FieldError(nil), first...)
	if p == nil {
		return out
	}
	seen := make(map[string]bool, len(first))
	for _, e := range first {
		seen[e.Field] = true
	}
	for _, e := range p.Errors {
		if !seen[e.Field] {
			out = append(out, e)
		}
	}
	return out
}
