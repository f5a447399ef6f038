package payouts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// refundIdemPrefix keeps refund Idempotency-Keys apart from the others.
const refundIdemPrefix = "refund:"

// maxRefundReference bounds a refund reference at a provider that takes
// any (PesaPal: the reference is finconnectd's own).
const maxRefundReference = 50

// RefundRequest is the body of POST /v1/payments/{id}/refunds.
type RefundRequest struct {
	// Reference is yours, unique per provider among payouts and refunds.
	Reference string `json:"reference"`
	// Amount is what to pay back; "" is everything not yet refunded.
	Amount string `json:"amount,omitempty"`
	// Reason is kept, and sent to PesaPal as the refund's remarks.
	Reason string `json:"reason"`
}

// registerRefunds mounts the refund routes (scope refunds).
func (s *Service) registerRefunds(mux httpapi.Router) {
	mux.Handle("POST /v1/payments/{id}/refunds", s.guard(config.ScopeRefunds, "refund.create", httpapi.Handle(s.handleRefund)))
	mux.Handle("GET /v1/payments/{id}/refunds", s.guard(config.ScopeRefunds, "", httpapi.Handle(s.handleListRefunds)))
}

func (s *Service) handleRefund(w http.ResponseWriter, r *http.Request) error {
	a, req := s.refund(w, r)
	s.audit(r, "refund.create", req, a)
	a.write(w)
	return nil
}

func (s *Service) handleListRefunds(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.store.Payment(r.Context(), id); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return httpapi.NewProblem(http.StatusNotFound, "not-found", "Payment not found", fmt.Sprintf("No payment %q.", id))
		}
		return fmt.Errorf("read payment %s: %w", id, err)
	}
	list, err := s.store.ListPayouts(r.Context(), state.PayoutFilter{PaymentID: id, Limit: 1000})
	if err != nil {
		return fmt.Errorf("list the refunds of payment %s: %w", id, err)
	}
	out := struct {
		Refunds []Payout `json:"refunds"`
	}{Refunds: make([]Payout, 0, len(list))}
	for _, p := range list {
		out.Refunds = append(out.Refunds, View(p))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// refund runs POST /v1/payments/{id}/refunds and returns its answer and
// the request as audited.
func (s *Service) refund(w http.ResponseWriter, r *http.Request) (answer, json.RawMessage) {
	paymentID := r.PathValue("id")
	withSubject := func(a answer) answer {
		a.subject = paymentID
		return a
	}
	key := r.Header.Get("Idempotency-Key")
	if _, sent := r.Header["Idempotency-Key"]; sent && !validIdempotencyKey(key) {
		return withSubject(problemAnswer(httpapi.NewProblem(http.StatusBadRequest, "invalid-idempotency-key", "Invalid Idempotency-Key",
			fmt.Sprintf("Idempotency-Key must be 1 to %d printable ASCII characters.", maxIdempotencyKey)), "rejected")), nil
	}
	var req RefundRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		var p *httpapi.Problem
		if !errors.As(err, &p) {
			p = httpapi.NewProblem(http.StatusBadRequest, "malformed", "Malformed JSON", "The body could not be read.")
		}
		return withSubject(problemAnswer(p, "rejected")), nil
	}
	reqBody, _ := json.Marshal(req)
	pay, err := s.store.Payment(r.Context(), paymentID)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return withSubject(problemAnswer(httpapi.NewProblem(http.StatusNotFound, "not-found", "Payment not found",
			fmt.Sprintf("No payment %q.", paymentID)), "rejected")), reqBody
	case err != nil:
		s.log.Error("read payment", "payment_id", paymentID, "error", err)
		return withSubject(problemAnswer(storeProblem(), "failed")), reqBody
	}
	// The key is claimed over the request as sent (not the amount it
	// resolves to): a replay after a full refund answers the first answer.
	if key != "" {
		key = refundIdemPrefix + key
		sum := sha256.Sum256(append([]byte(pay.ID+"\n"), reqBody...))
		hash := hex.EncodeToString(sum[:])
		rec, claimed, err := s.store.ClaimIdempotencyKey(r.Context(), key, hash, s.now().UTC())
		if err != nil {
			s.log.Error("claim idempotency key", "error", err)
			return withSubject(problemAnswer(storeProblem(), "failed")), reqBody
		}
		if !claimed {
			return withSubject(s.replayWith(r.Context(), rec, hash, pay.Provider, strings.TrimSpace(req.Reference))), reqBody
		}
	}
	release := func() {
		if key == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		defer cancel()
		if err := s.store.ReleaseIdempotencyKey(ctx, key); err != nil {
			s.log.Error("release idempotency key", "error", err)
		}
	}
	rt := s.runtime() // one configuration and its clients for the whole request
	v, prov, refunder, prob := s.validateRefund(r.Context(), rt, pay, req)
	if prob != nil {
		release()
		res := "rejected"
		if prob.Status == http.StatusServiceUnavailable {
			res = "failed"
		}
		return withSubject(problemAnswer(prob, res)), reqBody
	}
	if prob := guardrails(rt.Config.Payouts, v.Order, true); prob != nil {
		release()
		return withSubject(problemAnswer(prob, "refused")), reqBody
	}
	v.limit = rollingLimit(rt.Config, v.Currency)
	var (
		a       answer
		started bool
	)
	if refunder != nil {
		a, started = s.sendRefund(r.Context(), v, pay, refunder, tokenName(r))
	} else {
		a, started = s.send(r.Context(), v, prov, tokenName(r))
	}
	if key != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		if started {
			err = s.store.CompleteIdempotencyKey(ctx, key, a.status, a.body, a.payoutID)
		} else {
			err = s.store.ReleaseIdempotencyKey(ctx, key)
		}
		cancel()
		if err != nil {
			s.log.Error("finish idempotency key", "payout_id", a.payoutID, "error", err)
		}
	}
	return withSubject(a), reqBody
}

// validateRefund checks a refund of pay: the payment's status, the
// provider's rules, the amount against what is left. It returns the
// refund as a payout to send, and the client that sends it: a Refunder
// (PesaPal's own refund) or a payout Provider (a payout to the payer).
func (s *Service) validateRefund(ctx context.Context, rt *Runtime, pay state.Payment, req RefundRequest) (validated, Provider, *Refunder, *httpapi.Problem) {
	v := validated{Provider: pay.Provider, Description: strings.TrimSpace(req.Reason), PaymentID: pay.ID, RefundOf: pay.Amount}
	v.Reference = strings.TrimSpace(req.Reference)
	v.Currency = pay.Currency
	conflict := func(slug, title, detail string) (validated, Provider, *Refunder, *httpapi.Problem) {
		return v, nil, nil, httpapi.NewProblem(http.StatusConflict, slug, title, detail)
	}
	unprocessable := func(slug, title, detail string) (validated, Provider, *Refunder, *httpapi.Problem) {
		return v, nil, nil, httpapi.NewProblem(http.StatusUnprocessableEntity, slug, title, detail)
	}
	if s.settler == nil {
		return v, nil, nil, httpapi.NewProblem(http.StatusServiceUnavailable, "refunds-unavailable", "Refunds unavailable", "This daemon was started without refunds.")
	}
	if pay.Status != state.StatusSucceeded && pay.Status != state.StatusPartiallyRefunded {
		return conflict("payment-not-refundable", "Payment cannot be refunded",
			fmt.Sprintf("Payment %s is %s; only a succeeded (or partially refunded) payment can be refunded. A pending PesaPal order is cancelled instead (POST /v1/payments/%s/cancel).", pay.ID, pay.Status, pay.ID))
	}
	p := rt.Config.Provider(pay.Provider)
	if p == nil {
		return unprocessable("provider-unavailable", "Provider not configured", fmt.Sprintf("Payment %s was made through %s, which the configuration no longer declares.", pay.ID, pay.Provider))
	}
	var (
		errs     fieldErrors
		prov     Provider
		refunder *Refunder
	)
	switch providers.Kind(p.Kind) {
	case providers.PesaPal:
		rf, ok := rt.refunder(pay.Provider)
		if !ok {
			return v, nil, nil, httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
				fmt.Sprintf("No client is running for %s; check the daemon's log.", pay.Provider))
		}
		if pay.ConfirmationCode == "" {
			return conflict("payment-not-refundable", "Payment cannot be refunded yet",
				fmt.Sprintf("Payment %s has no PesaPal confirmation code, which a refund needs; sync records it once PesaPal reports it.", pay.ID))
		}
		refunder = rf
		v.Type, v.Phone = state.DestinationOriginal, pay.Phone
		if v.Reference != "" && (len(v.Reference) > maxRefundReference || !refReference(v.Reference)) {
			errs.add("reference", "must be 1 to %d letters, digits, '-' or '_'", maxRefundReference)
		}
	case providers.ClickPesa:
		if p.ClickPesa == nil || !p.ClickPesa.RefundByPayout {
			return unprocessable("refunds-not-enabled", "Refunds not enabled",
				fmt.Sprintf("ClickPesa has no refund of a collection; finconnectd pays it back as a payout to the payer, which %s does not allow. Set refund_by_payout = true in the provider block to allow it.", p.Block()))
		}
		pr, ok := rt.provider(pay.Provider)
		if !ok {
			return v, nil, nil, httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
				fmt.Sprintf("No client is running for %s; check the daemon's log.", pay.Provider))
		}
		prov = pr
		v.Kind = p.Kind
		v.Type, v.Phone = state.DestinationMobileMoney, clickpesa.Phone(pay.Phone)
		if !clickpesa.IsMobileNumber(v.Phone) {
			return unprocessable("payment-not-refundable", "No number to pay back",
				fmt.Sprintf("Payment %s has no Tanzanian mobile-money number (%q) to pay the refund to.", pay.ID, pay.Phone))
		}
		if !contains(payoutCurrencies(p.Kind), pay.Currency) {
			return unprocessable("payment-not-refundable", "Currency cannot be paid out", fmt.Sprintf("Payment %s is in %s, which %s cannot pay out.", pay.ID, pay.Currency, pay.Provider))
		}
		if v.Reference != "" && (len(v.Reference) > clickpesa.MaxReferenceLen || !isAlnum(v.Reference)) {
			errs.add("reference", "must be 1 to %d letters and digits for ClickPesa", clickpesa.MaxReferenceLen)
		}
	case providers.AzamPay:
		switch {
		case !p.AzamPay.RefundByPayout:
			return unprocessable("refunds-not-enabled", "Refunds not enabled",
				fmt.Sprintf("AzamPay has no refund of a checkout; finconnectd pays it back as a disbursement to the payer, which %s does not allow. Set refund_by_payout = true (and the disbursement settings) in the provider block to allow it.", p.Block()))
		case !p.AzamPay.CanDisburse():
			return unprocessable("refunds-not-available", "Refunds not available",
				fmt.Sprintf("%s has refund_by_payout but no disbursement settings (disbursement_key, disbursement_account); add them, or refund from the AzamPay portal.", p.Block()))
		}
		pr, ok := rt.provider(pay.Provider)
		if !ok {
			return v, nil, nil, httpapi.NewProblem(http.StatusServiceUnavailable, "provider-unavailable", "Provider not ready",
				fmt.Sprintf("No client is running for %s; check the daemon's log.", pay.Provider))
		}
		prov = pr
		v.Kind = p.Kind
		v.Type, v.Phone = state.DestinationMobileMoney, clickpesa.Phone(pay.Phone)
		if !clickpesa.IsMobileNumber(v.Phone) || azampay.DisbursementWallet(v.Phone) == "" {
			return unprocessable("payment-not-refundable", "No wallet to pay back",
				fmt.Sprintf("Payment %s came from %q; AzamPay disburses only to Airtel and Tigo wallets: refund from the AzamPay portal.", pay.ID, pay.Phone))
		}
		if v.Reference != "" && (len(v.Reference) > azampay.MaxDisbursementReference || !refReference(v.Reference)) {
			errs.add("reference", "must be 1 to %d letters, digits, '-' or '_' for AzamPay", azampay.MaxDisbursementReference)
		}
	default:
		return unprocessable("refunds-not-available", "Refunds not available", fmt.Sprintf("%s cannot refund through finconnectd.", pay.Provider))
	}
	if v.Reference == "" {
		errs.add("reference", "is required: your unique reference for this refund")
	}
	switch {
	case v.Description == "":
		errs.add("reason", "is required: why the payment is refunded")
	case len(v.Description) > maxDescription:
		errs.add("reason", "must be at most %d characters", maxDescription)
	}
	paid, ok := parseAmount(pay.Amount)
	if !ok {
		return unprocessable("payment-not-refundable", "Payment amount unknown", fmt.Sprintf("Payment %s has no amount (%q) to refund.", pay.ID, pay.Amount))
	}
	others, err := s.store.ListPayouts(ctx, state.PayoutFilter{PaymentID: pay.ID, Limit: 1000})
	if err != nil {
		s.log.Error("list refunds", "payment_id", pay.ID, "error", err)
		return v, nil, nil, storeProblem()
	}
	refunded := new(big.Rat)
	for _, o := range others {
		if o.Status == state.PayoutFailed {
			continue
		}
		if refunder != nil {
			return conflict("refund-exists", "Payment already has a refund",
				fmt.Sprintf("PesaPal takes one refund request per payment, and payment %s has refund %s (%s).", pay.ID, o.ID, o.Status))
		}
		if a, ok := parseAmount(o.Amount); ok {
			refunded.Add(refunded, a)
		}
	}
	dec := decimals(pay.Amount)
	left := new(big.Rat).Sub(paid, refunded)
	if left.Sign() <= 0 {
		return conflict("payment-not-refundable", "Payment refunded in full", fmt.Sprintf("Payment %s's %s %s is refunded in full already.", pay.ID, pay.Amount, pay.Currency))
	}
	v.Amount = strings.TrimSpace(req.Amount)
	if v.Amount == "" {
		v.Amount = left.FloatString(dec)
	}
	amt, ok := new(big.Rat).SetString(v.Amount)
	switch {
	case !amountRE.MatchString(v.Amount) || !ok || amt.Sign() <= 0:
		errs.add("amount", "must be a decimal string greater than 0 with at most 2 decimals, or absent to refund everything left")
	case amt.Cmp(left) > 0:
		errs.add("amount", "is more than what is left to refund: %s %s", left.FloatString(dec), pay.Currency)
	case refunder != nil && amt.Cmp(paid) != 0 && refundsInFull(paymentMethod(pay.Raw)):
		errs.add("amount", "PesaPal refunds a mobile-money payment only in full: %s %s", pay.Amount, pay.Currency)
	}
	if len(errs) > 0 {
		return v, nil, nil, httpapi.ValidationProblem(errs)
	}
	return v, prov, refunder, nil
}

// paymentMethod is the payment_method of PesaPal's last answer about a
// payment, or "".
func paymentMethod(raw json.RawMessage) string {
	var m struct {
		PaymentMethod string `json:"payment_method"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.PaymentMethod
}

func refReference(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// sendRefund writes the refund's row, asks the provider to refund and
// records the answer. started is false when nothing was stored or sent.
func (s *Service) sendRefund(ctx context.Context, v validated, pay state.Payment, rf *Refunder, token string) (answer, bool) {
	log := s.log.With("provider", v.Provider, "reference", v.Reference, "payment_id", pay.ID)
	if _, err := s.store.PayoutByReference(ctx, v.Provider, v.Reference); err == nil {
		return s.referenceInUse(ctx, v), false
	}
	if prob := s.precheckLimit(ctx, v); prob != nil {
		return problemAnswer(prob, "refused"), false
	}
	now := s.now().UTC()
	p := state.Payout{
		ID: newPayoutID(), Provider: v.Provider, Reference: v.Reference, Status: state.PayoutPending,
		Amount: v.Amount, Currency: v.Currency, DestinationType: state.DestinationOriginal, Phone: pay.Phone,
		Description: v.Description, Token: token, PaymentID: pay.ID,
		CreatedAt: now, UpdatedAt: now, NextSyncAt: now.Add(syncDelay(0)),
	}
	if a, ok := s.storePayout(ctx, p, v, log, "refund"); !ok {
		return a, false
	}
	log = log.With("payout_id", p.ID)
	by := "finconnectd"
	if token != "" {
		by = "finconnectd:" + token
	}
	// The provider call outlives a client that hangs up: its outcome must be recorded.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.createTimeout)
	out, callErr := rf.Refund(callCtx, pay, v.Amount, by, v.Description)
	timedOut := callErr != nil && (isTimeout(callErr) || callCtx.Err() != nil)
	cancel()
	c := state.PayoutChange{ID: p.ID, NextSyncAt: p.NextSyncAt}
	var prob *httpapi.Problem
	result := "requested"
	switch {
	case callErr == nil:
		c.Status, c.Message, c.Raw = out.Status, out.Message, out.Raw
	case providers.IsPermanent(callErr) || providers.IsRetryable(callErr) || providers.IsAuth(callErr):
		c.Status, c.Message = state.PayoutFailed, providerMessage(callErr)
		result = "failed"
		prob = httpapi.NewProblem(http.StatusUnprocessableEntity, "provider-rejected", "Provider rejected the refund",
			fmt.Sprintf("%s refused the refund: %s. Nothing was refunded; the reference is spent.", v.Provider, providerMessage(callErr)))
		if providers.IsAuth(callErr) || providers.IsRetryable(callErr) {
			prob = createRefused(v, callErr)
		}
	default:
		c.Status, c.Message = state.PayoutUnknown, "outcome unknown: "+providerMessage(callErr)
		result = "unknown"
		status, slug, title := http.StatusBadGateway, "provider-error", "Provider error"
		if timedOut {
			status, slug, title = http.StatusGatewayTimeout, "provider-timeout", "Provider timed out"
		}
		prob = httpapi.NewProblem(status, slug, title,
			fmt.Sprintf("%s did not say whether it took the refund request; refund %s is unknown and is never sent again: sync follows the payment's status. Do not retry with a new reference.", v.Provider, p.ID))
	}
	if callErr != nil {
		log.Warn("refund request failed", "outcome", result, "error", callErr)
	} else {
		log.Info("refund requested", "status", c.Status)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	res, err := s.apply(rctx, c)
	rcancel()
	stored := res.Payout
	if err != nil {
		log.Error("record refund answer", "error", err)
		stored = p
		if c.Status != state.PayoutFailed {
			stored.Status = state.PayoutUnknown
		}
		if prob == nil {
			prob = httpapi.NewProblem(http.StatusInternalServerError, "store-error", "Refund not fully recorded",
				fmt.Sprintf("The provider took refund %s but finconnectd could not record its answer; sync will settle it.", p.ID))
		}
	}
	view := View(stored)
	if prob != nil {
		a := jsonAnswer(prob.Status, problemWithPayout{Problem: prob, PayoutID: p.ID, Payout: &view}, p.ID, result)
		a.detail = prob.Detail
		return a, true
	}
	return jsonAnswer(http.StatusCreated, view, p.ID, result), true
}

// refundProblem is the 422 for a refund over what is left of the payment.
func refundProblem(re *state.RefundError) *httpapi.Problem {
	p := httpapi.ValidationProblem([]httpapi.FieldError{{Field: "amount",
		Message: fmt.Sprintf("is more than what is left to refund: %s", re.Left)}})
	p.Detail = fmt.Sprintf("Payment %s's refunds already take %s of its %s; %s is left. Nothing was sent.", re.PaymentID, re.Refunded, re.Amount, re.Left)
	return p
}

// settleRefunded moves payment id to partially_refunded or refunded from
// what its succeeded refunds add up to, through the payment status rule.
func (s *Service) settleRefunded(ctx context.Context, id string) error {
	if s.settler == nil {
		return errors.New("no payment settler")
	}
	pay, err := s.store.Payment(ctx, id)
	if err != nil {
		return fmt.Errorf("read payment %s: %w", id, err)
	}
	list, err := s.store.ListPayouts(ctx, state.PayoutFilter{PaymentID: id, Limit: 1000})
	if err != nil {
		return fmt.Errorf("list the refunds of payment %s: %w", id, err)
	}
	done := new(big.Rat)
	for _, r := range list {
		if r.Status != state.PayoutSucceeded {
			continue
		}
		if a, ok := parseAmount(r.Amount); ok {
			done.Add(done, a)
		}
	}
	paid, ok := parseAmount(pay.Amount)
	if !ok || done.Sign() <= 0 {
		return nil
	}
	target := state.StatusPartiallyRefunded
	if done.Cmp(paid) >= 0 {
		target = state.StatusRefunded
	}
	_, err = s.settler.Apply(ctx, settle.Statement{ProviderID: pay.Provider, Source: state.SourceRefund,
		Status: providers.PaymentStatus{Status: providers.Status(target), Reference: pay.Reference,
			Message: fmt.Sprintf("refunded %s of %s %s", done.FloatString(decimals(pay.Amount)), pay.Amount, pay.Currency)}})
	if err != nil {
		return fmt.Errorf("record payment %s as %s: %w", id, target, err)
	}
	return nil
}

// RefundAware wraps the settler payment notifications and sync go
// through: a provider that reports a payment reversed while finconnectd
// has a refund of it in flight (PesaPal shows an approved refund that
// way) settles that refund (succeeded) and the payment (refunded), rather
// than a reversal. Every other statement passes through unchanged.
func (s *Service) RefundAware(inner PaymentSettler) PaymentSettler {
	return refundAware{s: s, inner: inner}
}

type refundAware struct {
	s     *Service
	inner PaymentSettler
}

func (r refundAware) Apply(ctx context.Context, st settle.Statement) (state.StatusResult, error) {
	if st.Status.Status != providers.StatusReversed || st.Status.Reference == "" {
		return r.inner.Apply(ctx, st)
	}
	if _, ok := r.s.runtime().refunder(st.ProviderID); !ok {
		return r.inner.Apply(ctx, st)
	}
	pay, err := r.s.store.PaymentByReference(ctx, st.ProviderID, st.Status.Reference)
	if err != nil {
		return r.inner.Apply(ctx, st)
	}
	list, err := r.s.store.ListPayouts(ctx, state.PayoutFilter{PaymentID: pay.ID, Limit: 1000})
	if err != nil {
		return state.StatusResult{}, fmt.Errorf("list the refunds of payment %s: %w", pay.ID, err)
	}
	settled := false
	for _, rf := range list {
		if rf.Status != state.PayoutPending && rf.Status != state.PayoutUnknown {
			continue
		}
		if _, err := r.s.apply(ctx, state.PayoutChange{ID: rf.ID, Status: state.PayoutSucceeded, FromQuery: st.Source.ProviderQuery(),
			Message: "the provider reports the payment reversed: refund done", Raw: st.Status.Raw}); err != nil {
			return state.StatusResult{}, fmt.Errorf("settle refund %s: %w", rf.ID, err)
		}
		settled = true
	}
	if !settled {
		return r.inner.Apply(ctx, st)
	}
	// Record the statement (and its notification) as what the payment now is.
	now, err := r.s.store.Payment(ctx, pay.ID)
	if err != nil {
		return state.StatusResult{}, fmt.Errorf("read payment %s: %w", pay.ID, err)
	}
	st.Status.Status = providers.Status(now.Status)
	st.Status.Amount, st.Status.Currency = "", ""
	return r.inner.Apply(ctx, st)
}

// syncRefund asks the provider about refund p of a payment, through its
// Refunder, and records what it says.
func (s *Service) syncRefund(ctx context.Context, p state.Payout, rf *Refunder, reschedule func(error) (state.Payout, error)) (state.Payout, error) {
	pay, err := s.store.Payment(ctx, p.PaymentID)
	if err != nil {
		return reschedule(fmt.Errorf("read payment %s: %w", p.PaymentID, err))
	}
	qctx, cancel := context.WithTimeout(ctx, s.previewTimeout)
	out, err := rf.QueryRefund(qctx, pay)
	cancel()
	if err != nil {
		return reschedule(err)
	}
	if out.Status != state.PayoutSucceeded {
		return reschedule(nil)
	}
	res, err := s.apply(ctx, state.PayoutChange{ID: p.ID, Status: state.PayoutSucceeded, FromQuery: true,
		Message: "the provider reports the payment reversed: refund done", Raw: out.Raw, NextSyncAt: s.now().UTC().Add(time.Minute)})
	if err != nil {
		return p, fmt.Errorf("refund sync %s: %w", p.ID, err)
	}
	return res.Payout, nil
}
