package cancel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/payments"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// storeTimeout bounds the store writes made after the provider answered;
// they run detached from the client's request.
const storeTimeout = 10 * time.Second

// Store is what refunds need from the store; state.Store satisfies it.
type Store interface {
	Payment(ctx context.Context, id string) (state.Payment, error)
	AppendAudit(ctx context.Context, e state.AuditEntry) error
}

// Options wire a Service.
type Options struct {
	Store Store
	// Settler applies the provider's statement about the cancelled
	// payment through the store's transition rule.
	Settler *settle.Settler
	// Cancellers returns the PesaPal client that cancels orders of a
	// provider ID, or false when that provider has no cancellation.
	Cancellers func(providerID string) (*pesapal.Client, bool)
	Logger     *slog.Logger
	Now        func() time.Time
	// CallTimeout bounds one provider call (default 30 s).
	CallTimeout time.Duration
}

// Service serves cancellations.
type Service struct {
	store       Store
	settler     *settle.Settler
	cancellers  func(string) (*pesapal.Client, bool)
	log         *slog.Logger
	now         func() time.Time
	callTimeout time.Duration
}

// New checks o and returns a Service; it starts nothing.
func New(o Options) (*Service, error) {
	var missing []string
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if o.Settler == nil {
		missing = append(missing, "Settler")
	}
	if o.Cancellers == nil {
		missing = append(missing, "Cancellers")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cancel: missing options: %s", strings.Join(missing, ", "))
	}
	s := &Service{store: o.Store, settler: o.Settler, cancellers: o.Cancellers, log: o.Logger, now: o.Now, callTimeout: o.CallTimeout}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.callTimeout <= 0 {
		s.callTimeout = 30 * time.Second
	}
	return s, nil
}

// RegisterAPI mounts the cancellation route (scope refunds) on mux.
// Authentication is the caller's; a request refused for its token's
// scopes is audited.
func (s *Service) RegisterAPI(mux httpapi.Router) {
	mux.Handle("POST /v1/payments/{id}/cancel", s.guard(config.ScopeRefunds, "payment.cancel", s.handleCancel))
}

// result is one answer, kept to audit.
type result struct {
	status  int
	body    any
	subject string
	result  string // audit result
	detail  string
}

func problemResult(p *httpapi.Problem, subject, res string) result {
	return result{status: p.Status, body: p, subject: subject, result: res, detail: p.Detail}
}

func (r result) write(w http.ResponseWriter) {
	if r.status >= 400 {
		if p, ok := r.body.(*httpapi.Problem); ok {
			httpapi.WriteProblem(w, p)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(r.status)
		_ = json.NewEncoder(w).Encode(r.body)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, r.status, r.body)
}

// guard is h behind scope; a token without it gets RequireScope's 403
// and the refusal is audited as action.
func (s *Service) guard(scope, action string, h func(r *http.Request) (result, json.RawMessage)) http.Handler {
	run := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, req := h(r)
		s.audit(r, action, req, res)
		res.write(w)
	})
	inner := httpapi.RequireScope(scope, run)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := httpapi.PrincipalFrom(r.Context()); ok && !p.Has(scope) {
			s.audit(r, action, nil, result{status: http.StatusForbidden, result: "refused", subject: r.PathValue("id"),
				detail: fmt.Sprintf("the token lacks the scope %q", scope)})
		}
		inner.ServeHTTP(w, r)
	})
}

// audit appends one request and its answer to the audit trail; a failure
// to write it is logged (the answer already stands).
func (s *Service) audit(r *http.Request, action string, req json.RawMessage, res result) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	e := state.AuditEntry{At: s.now().UTC(), Token: p.Name, Action: action, Subject: res.subject, Request: req,
		Result: res.result, Status: res.status, Detail: res.detail}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("append audit entry", "action", action, "subject", res.subject, "error", err)
	}
}

// providerMessage is the provider's own words when it gave some.
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
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return "error"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// paymentView is the payment as the pay API shows it.
func paymentView(p state.Payment) payments.Payment { return payments.View(p) }
