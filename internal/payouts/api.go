package payouts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
)

// storeTimeout bounds the store writes made after the provider answered;
// they run detached from the client's request so a client hanging up
// cannot leave a payout half-recorded.
const storeTimeout = 10 * time.Second

// idemPrefix keeps payout Idempotency-Keys apart from payment ones.
const idemPrefix = "payout:"

// RegisterAPI mounts the payouts API (scope payouts) and the audit trail
// (scope audit) on mux. Authentication is the caller's: mux serves
// requests that carry an httpapi.Principal. A request to send a payout
// refused for its token's scopes is audited too.
func (s *Service) RegisterAPI(mux httpapi.Router) {
	mux.Handle("POST /v1/payouts", s.guard(config.ScopePayouts, "payout.create", httpapi.Handle(s.handleCreate)))
	mux.Handle("POST /v1/payouts/preview", s.guard(config.ScopePayouts, "", httpapi.Handle(s.handlePreview)))
	mux.Handle("GET /v1/payouts/{id}", s.guard(config.ScopePayouts, "", httpapi.Handle(s.handleGet)))
	mux.Handle("GET /v1/payouts", s.guard(config.ScopePayouts, "", httpapi.Handle(s.handleList)))
	mux.Handle("GET /v1/audit", s.guard(config.ScopeAudit, "", httpapi.Handle(s.handleAudit)))
	s.registerRefunds(mux)
}

// answer is one response of POST /v1/payouts, kept to complete the
// idempotency key with and to audit.
type answer struct {
	status   int
	body     []byte
	payoutID string
	result   string // audit result
	detail   string
	subject  string // audited subject when no payout was stored (a refund's payment)
}

func jsonAnswer(status int, v any, payoutID, result string) answer {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // our own types; they always encode
	return answer{status: status, body: buf.Bytes(), payoutID: payoutID, result: result}
}

func problemAnswer(p *httpapi.Problem, result string) answer {
	a := jsonAnswer(p.Status, p, "", result)
	a.detail = p.Detail
	return a
}

func (a answer) write(w http.ResponseWriter) {
	ct := "application/json"
	if a.status >= 400 {
		ct = "application/problem+json"
	}
	if a.status == http.StatusCreated && a.payoutID != "" {
		w.Header().Set("Location", "/v1/payouts/"+url.PathEscape(a.payoutID))
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// created is the answer to a payout that was sent: the payout and what the
// preview told before it.
type created struct {
	Payout
	// Balance is the provider balance the payout is taken from, as the
	// preview reported it just before the payout was sent.
	Balance string `json:"balance,omitempty"`
}

// problemWithPayout is a problem that also carries the payout it is about.
type problemWithPayout struct {
	*httpapi.Problem
	PayoutID string  `json:"payout_id,omitempty"`
	Payout   *Payout `json:"payout,omitempty"`
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) error {
	a, reqBody := s.create(w, r)
	s.audit(r, "payout.create", reqBody, a)
	a.write(w)
	return nil
}

// create runs POST /v1/payouts and returns its answer and the request as
// audited (nil when it could not be read).
func (s *Service) create(w http.ResponseWriter, r *http.Request) (answer, json.RawMessage) {
	key := r.Header.Get("Idempotency-Key")
	if _, sent := r.Header["Idempotency-Key"]; sent && !validIdempotencyKey(key) {
		return problemAnswer(httpapi.NewProblem(http.StatusBadRequest, "invalid-idempotency-key", "Invalid Idempotency-Key",
			fmt.Sprintf("Idempotency-Key must be 1 to %d printable ASCII characters.", maxIdempotencyKey)), "rejected"), nil
	}
	var req Request
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		var p *httpapi.Problem
		if !errors.As(err, &p) {
			p = httpapi.NewProblem(http.StatusBadRequest, "malformed", "Malformed JSON", "The body could not be read.")
		}
		return problemAnswer(p, "rejected"), nil
	}
	reqBody, _ := json.Marshal(req)
	rt := s.runtime() // one configuration and its clients for the whole request
	v, prob := validate(rt.Config, req)
	if prob != nil {
		return problemAnswer(prob, "rejected"), reqBody
	}
	if prob := guardrails(rt.Config.Payouts, v.Order, false); prob != nil {
		return problemAnswer(prob, "refused"), reqBody
	}
	v.limit = rollingLimit(rt.Config, v.Currency)
	prov, ok := rt.provider(v.Provider)
	if !ok {
		return problemAnswer(httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
			fmt.Sprintf("No client is running for %s; check the daemon's log.", v.Provider)), "failed"), reqBody
	}
	if key != "" {
		key = idemPrefix + key
		rec, claimed, err := s.store.ClaimIdempotencyKey(r.Context(), key, v.hash(), s.now().UTC())
		if err != nil {
			s.log.Error("claim idempotency key", "error", err)
			return problemAnswer(storeProblem(), "failed"), reqBody
		}
		if !claimed {
			return s.replay(r.Context(), rec, v), reqBody
		}
	}
	a, started := s.send(r.Context(), v, prov, tokenName(r))
	if key != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		var err error
		if started {
			err = s.store.CompleteIdempotencyKey(ctx, key, a.status, a.body, a.payoutID)
		} else {
			// Nothing was sent: a retry with this key may run again.
			err = s.store.ReleaseIdempotencyKey(ctx, key)
		}
		cancel()
		if err != nil {
			s.log.Error("finish idempotency key", "payout_id", a.payoutID, "error", err)
		}
	}
	return a, reqBody
}

func storeProblem() *httpapi.Problem {
	return httpapi.NewProblem(http.StatusInternalServerError, "store-error", "Store unavailable",
		"finconnectd could not use its state store; nothing was sent. See the daemon's log.")
}

// replay answers a request whose Idempotency-Key was already claimed.
func (s *Service) replay(ctx context.Context, rec state.IdempotencyRecord, v validated) answer {
	return s.replayWith(ctx, rec, v.hash(), v.Provider, v.Reference)
}

// replayWith answers a request whose Idempotency-Key was already claimed,
// hash being the request's; provider and reference find what a first
// request that died in the middle wrote.
func (s *Service) replayWith(ctx context.Context, rec state.IdempotencyRecord, hash, provider, reference string) answer {
	switch {
	case rec.RequestHash != hash:
		return problemAnswer(httpapi.NewProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			"This Idempotency-Key was first used with a different request body; use a new key for a new payout."), "rejected")
	case !rec.Done:
		if s.now().Sub(rec.CreatedAt) > s.createTimeout+s.previewTimeout+time.Minute {
			// The first request died between claim and completion (a
			// crash): answer with the payout if it was written.
			if p, err := s.store.PayoutByReference(ctx, provider, reference); err == nil {
				a := jsonAnswer(http.StatusOK, View(p), p.ID, "replayed")
				return a
			}
		}
		return problemAnswer(httpapi.NewProblem(http.StatusConflict, "idempotency-key-in-flight", "Request in progress",
			"The first request with this Idempotency-Key has not finished yet; retry later."), "rejected")
	}
	status := rec.StatusCode
	if status == http.StatusCreated {
		status = http.StatusOK
	}
	return answer{status: status, body: rec.Body, payoutID: rec.PaymentID, result: "replayed"}
}

// send previews the payout, writes its row, asks the provider to send it
// and records the answer. started is false when nothing was stored or
// sent (the request may be retried as is).
func (s *Service) send(ctx context.Context, v validated, prov Provider, token string) (answer, bool) {
	log := s.log.With("provider", v.Provider, "reference", v.Reference)
	if _, err := s.store.PayoutByReference(ctx, v.Provider, v.Reference); err == nil {
		return s.referenceInUse(ctx, v), false
	}
	if prob := s.precheckLimit(ctx, v); prob != nil {
		return problemAnswer(prob, "refused"), false
	}
	pctx, cancel := context.WithTimeout(ctx, s.previewTimeout)
	pv, err := prov.Preview(pctx, v.Order)
	cancel()
	if err != nil {
		log.Warn("payout preview refused", "error", err)
		return s.previewRefused(ctx, v, err), false
	}

	now := s.now().UTC()
	p := state.Payout{
		ID: newPayoutID(), Provider: v.Provider, Reference: v.Reference, Status: state.PayoutPending,
		Amount: v.Amount, Currency: v.Currency, Fee: pv.Fee, DestinationType: v.Type, Phone: v.Phone,
		AccountNumber: v.AccountNumber, AccountName: v.AccountName, Bank: v.Bank, ReceiverName: pv.ReceiverName,
		Channel: pv.Channel, Description: v.Description, Token: token, PaymentID: v.PaymentID,
		CreatedAt: now, UpdatedAt: now, NextSyncAt: now.Add(syncDelay(0)),
	}
	if a, ok := s.storePayout(ctx, p, v, log, "payout"); !ok {
		return a, false
	}
	log = log.With("payout_id", p.ID)

	// The provider call outlives a client that hangs up: its outcome must be recorded.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.createTimeout)
	order := v.Order
	order.ReceiverName = pv.ReceiverName
	out, callErr := prov.Create(callCtx, order)
	timedOut := callErr != nil && (isTimeout(callErr) || callCtx.Err() != nil)
	cancel()

	c := state.PayoutChange{ID: p.ID, NextSyncAt: p.NextSyncAt}
	var prob *httpapi.Problem
	result := "created"
	switch {
	case callErr == nil:
		c.Status, c.ProviderReference, c.Fee, c.Channel, c.Message, c.Raw = out.Status, out.ProviderReference, out.Fee, out.Channel, out.Message, out.Raw
		c.ReceiverName = out.ReceiverName
		if out.Status == state.PayoutFailed {
			result = "failed"
		}
	case providers.IsPermanent(callErr) || providers.IsRetryable(callErr) || providers.IsAuth(callErr):
		// Refused before anything started: the payout failed and its
		// reference is spent (a payout is never sent twice for one reference).
		c.Status, c.Message = state.PayoutFailed, providerMessage(callErr)
		result = "failed"
		prob = createRefused(v, callErr)
	default:
		c.Status, c.Message = state.PayoutUnknown, "outcome unknown: "+providerMessage(callErr)
		result = "unknown"
		if timedOut {
			prob = httpapi.NewProblem(http.StatusGatewayTimeout, "provider-timeout", "Provider timed out",
				fmt.Sprintf("%s did not answer in time; the payout %s is unknown and will be settled by sync. Do not retry with a new reference: check the payout instead.", v.Provider, p.ID))
		} else {
			prob = httpapi.NewProblem(http.StatusBadGateway, "provider-error", "Provider error",
				fmt.Sprintf("%s failed while sending the payout; the payout %s is unknown and will be settled by sync. Do not retry with a new reference: check the payout instead.", v.Provider, p.ID))
		}
	}
	if callErr != nil {
		log.Warn("payout create failed", "outcome", result, "error", callErr)
	} else {
		log.Info("payout sent", "status", c.Status, "provider_reference", c.ProviderReference)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	res, err := s.apply(rctx, c)
	rcancel()
	stored := res.Payout
	if err != nil {
		// The row exists (pending); sync will find it. Say so.
		log.Error("record payout answer", "error", err)
		stored = p
		if c.Status != state.PayoutFailed {
			stored.Status = state.PayoutUnknown
		}
		if prob == nil {
			prob = httpapi.NewProblem(http.StatusInternalServerError, "store-error", "Payout not fully recorded",
				fmt.Sprintf("The provider accepted payout %s but finconnectd could not record its answer; sync will settle it.", p.ID))
		}
	}
	view := View(stored)
	if prob != nil {
		a := jsonAnswer(prob.Status, problemWithPayout{Problem: prob, PayoutID: p.ID, Payout: &view}, p.ID, result)
		a.detail = prob.Detail
		return a, true
	}
	return jsonAnswer(http.StatusCreated, created{Payout: view, Balance: pv.Balance}, p.ID, result), true
}

// referenceInUse is the 409 for a reference that already has a payout.
func (s *Service) referenceInUse(ctx context.Context, v validated) answer {
	prob := httpapi.NewProblem(http.StatusConflict, "reference-in-use", "Reference already used",
		fmt.Sprintf("%s already has a payout with reference %q; references are unique per provider.", v.Provider, v.Reference))
	a := problemAnswer(prob, "rejected")
	if old, err := s.store.PayoutByReference(ctx, v.Provider, v.Reference); err == nil {
		a = jsonAnswer(prob.Status, problemWithPayout{Problem: prob, PayoutID: old.ID}, "", "rejected")
		a.detail = prob.Detail
	}
	return a
}

// previewRefused answers a preview the provider refused or could not
// answer: nothing was stored or sent.
func (s *Service) previewRefused(ctx context.Context, v validated, err error) answer {
	switch {
	case errorCode(err) == clickpesa.CodeInsufficientBalance:
		p := httpapi.ValidationProblem([]httpapi.FieldError{{Field: "amount",
			Message: fmt.Sprintf("is more than the %s balance can pay, fee included: %s", v.Provider, providerMessage(err))}})
		p.Type, p.Title = "urn:finconnectd:problem:insufficient-balance", "Insufficient balance"
		p.Detail = "The provider's balance is too low for this payout and its fee; nothing was sent."
		return problemAnswer(p, "rejected")
	case errorCode(err) == clickpesa.CodeReferenceUsed:
		return s.referenceInUse(ctx, v)
	case errorCode(err) == azampay.CodeNameNotFound:
		return problemAnswer(httpapi.ValidationProblem([]httpapi.FieldError{{Field: "destination.phone",
			Message: fmt.Sprintf("%s has no wallet holder %s knows (%s)", v.Phone, v.Provider, providerMessage(err))}}), "rejected")
	case errorCode(err) == clickpesa.CodeUnknownBank:
		return problemAnswer(httpapi.ValidationProblem([]httpapi.FieldError{{Field: "destination.bank",
			Message: fmt.Sprintf("%s is not a bank %s pays to (%s)", v.Bank, v.Provider, providerMessage(err))}}), "rejected")
	case providers.IsPermanent(err):
		return problemAnswer(httpapi.NewProblem(http.StatusUnprocessableEntity, "provider-rejected", "Provider rejected the payout",
			fmt.Sprintf("%s refused the payout: %s. Nothing was sent.", v.Provider, providerMessage(err))), "rejected")
	case providers.IsAuth(err):
		return problemAnswer(httpapi.NewProblem(http.StatusBadGateway, "provider-unavailable", "Provider unavailable",
			fmt.Sprintf("%s rejected finconnectd's credentials; nothing was sent. Check the provider block.", v.Provider)), "failed")
	case isTimeout(err):
		return problemAnswer(httpapi.NewProblem(http.StatusGatewayTimeout, "provider-timeout", "Provider timed out",
			fmt.Sprintf("%s did not answer the payout preview in time; nothing was sent. Retry later.", v.Provider)), "failed")
	}
	return problemAnswer(httpapi.NewProblem(http.StatusBadGateway, "provider-unavailable", "Provider unavailable",
		fmt.Sprintf("%s could not preview the payout (%s); nothing was sent. Retry later.", v.Provider, providerMessage(err))), "failed")
}

// createRefused is the problem for a create call refused before anything started.
func createRefused(v validated, err error) *httpapi.Problem {
	switch {
	case providers.IsPermanent(err):
		return httpapi.NewProblem(http.StatusUnprocessableEntity, "provider-rejected", "Provider rejected the payout",
			fmt.Sprintf("%s refused the payout: %s. Nothing was sent; the reference is spent.", v.Provider, providerMessage(err)))
	case providers.IsAuth(err):
		return httpapi.NewProblem(http.StatusBadGateway, "provider-unavailable", "Provider unavailable",
			fmt.Sprintf("%s rejected finconnectd's credentials; nothing was sent. Check the provider block.", v.Provider))
	}
	return httpapi.NewProblem(http.StatusBadGateway, "provider-unavailable", "Provider unavailable",
		fmt.Sprintf("%s could not be reached or refused the call (%s); nothing was sent. Retry with a new reference.", v.Provider, providerMessage(err)))
}

// limitProblem is the 422 for a payout over the rolling limit.
func limitProblem(le *state.LimitError) *httpapi.Problem {
	p := httpapi.ValidationProblem([]httpapi.FieldError{{Field: "amount",
		Message: fmt.Sprintf("is over the %s limit of %s per %s: %s left", le.Currency, le.Max, windowText(le.Window), le.Allowance)}})
	p.Type, p.Title = "urn:finconnectd:problem:payout-limit", "Payout limit reached"
	p.Detail = fmt.Sprintf("Payouts in %s within the last %s come to %s of the %s allowed; %s is left. Nothing was sent.",
		le.Currency, windowText(le.Window), le.Used, le.Max, le.Allowance)
	return p
}

func windowText(d time.Duration) string {
	if d == 24*time.Hour {
		return "24 hours"
	}
	return d.String()
}

// providerMessage is the provider's own words when it gave some, else the
// error kind; never a secret (provider errors carry none).
func providerMessage(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		switch {
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
	p, err := s.store.Payout(r.Context(), id)
	if err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return httpapi.NewProblem(http.StatusNotFound, "not-found", "Payout not found", fmt.Sprintf("No payout %q.", id))
		}
		return fmt.Errorf("read payout %s: %w", id, err)
	}
	httpapi.WriteJSON(w, http.StatusOK, View(p))
	return nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := state.PayoutFilter{Provider: q.Get("provider"), Reference: q.Get("reference"), Status: q.Get("status"), PaymentID: q.Get("payment_id")}
	var errs fieldErrors
	switch f.Status {
	case "", state.PayoutPending, state.PayoutSucceeded, state.PayoutFailed, state.PayoutReversed, state.PayoutUnknown:
	default:
		errs.add("status", "must be pending, succeeded, failed, reversed or unknown")
	}
	f.Limit = errs.limit(q)
	if len(errs) > 0 {
		return httpapi.QueryProblem(errs)
	}
	list, err := s.store.ListPayouts(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list payouts: %w", err)
	}
	out := struct {
		Payouts []Payout `json:"payouts"`
	}{Payouts: make([]Payout, 0, len(list))}
	for _, p := range list {
		out.Payouts = append(out.Payouts, View(p))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// storePayout writes the payout row before anything is sent, the rolling
// limit and any refund's cap checked atomically with it; when the store
// refuses, ok is false and a is the answer (nothing was stored or sent).
// what names the request in the log ("payout", "refund").
func (s *Service) storePayout(ctx context.Context, p state.Payout, v validated, log *slog.Logger, what string) (a answer, ok bool) {
	lim := v.limit
	lim.RefundOf = v.RefundOf
	err := s.store.CreatePayout(ctx, p, lim)
	if err == nil {
		return answer{}, true
	}
	var (
		le *state.LimitError
		re *state.RefundError
	)
	switch {
	case errors.As(err, &le):
		return problemAnswer(limitProblem(le), "refused"), false
	case errors.As(err, &re):
		return problemAnswer(refundProblem(re), "refused"), false
	case errors.Is(err, state.ErrConflict):
		return s.referenceInUse(ctx, v), false
	}
	log.Error("create "+what, "error", err)
	return problemAnswer(storeProblem(), "failed"), false
}
