package payouts

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/state"
)

// limitWindow is the rolling window of max_per_24h.
const limitWindow = 24 * time.Hour

// rollingLimit is the rolling limit CreatePayout enforces for currency:
// the payouts block's max_per_24h, or none.
func rollingLimit(cfg *config.Config, currency string) state.PayoutLimit {
	if l := cfg.Payouts.Limit(currency); l != nil && l.MaxPer24h != "" {
		return state.PayoutLimit{MaxPerWindow: l.MaxPer24h, Window: limitWindow}
	}
	return state.PayoutLimit{}
}

// guardrails checks a validated payout against the payouts block: the
// destination allowed, the amount within max_per_payout. A non-nil
// problem is a 422 naming the field; nothing has been stored or sent.
// refund is set for a refund paid as a payout: it goes back to the
// payer's number, which the destination allow-list does not restrict.
func guardrails(pc config.PayoutsConfig, o Order, refund bool) *httpapi.Problem {
	if !refund {
		switch {
		case o.Type == state.DestinationMobileMoney && !pc.PhoneAllowed(o.Phone):
			p := httpapi.ValidationProblem([]httpapi.FieldError{{Field: "destination.phone",
				Message: fmt.Sprintf("%s is not an allowed destination: payouts may go only to numbers starting with %s", o.Phone, strings.Join(pc.AllowedPhonePrefixes, ", "))}})
			p.Type, p.Title = "urn:finconnectd:problem:destination-not-allowed", "Destination not allowed"
			p.Detail = "The payouts block of the configuration does not allow this destination; nothing was sent."
			return p
		case o.Type == state.DestinationBank && !pc.BankAllowed(o.Bank):
			p := httpapi.ValidationProblem([]httpapi.FieldError{{Field: "destination.bank",
				Message: fmt.Sprintf("%s is not an allowed bank: payouts may go only to %s", o.Bank, strings.Join(pc.AllowedBanks, ", "))}})
			p.Type, p.Title = "urn:finconnectd:problem:destination-not-allowed", "Destination not allowed"
			p.Detail = "The payouts block of the configuration does not allow this destination; nothing was sent."
			return p
		}
	}
	l := pc.Limit(o.Currency)
	if l == nil || l.MaxPerPayout == "" {
		return nil
	}
	maxR, ok1 := parseAmount(l.MaxPerPayout)
	amt, ok2 := parseAmount(o.Amount)
	if !ok1 || !ok2 || amt.Cmp(maxR) <= 0 {
		return nil
	}
	p := httpapi.ValidationProblem([]httpapi.FieldError{{Field: "amount",
		Message: fmt.Sprintf("is over the %s limit of %s per payout: at most %s may be sent in one payout", o.Currency, l.MaxPerPayout, l.MaxPerPayout)}})
	p.Type, p.Title = "urn:finconnectd:problem:payout-limit", "Payout limit reached"
	p.Detail = fmt.Sprintf("One payout in %s may send at most %s (max_per_payout); %s was asked. Nothing was sent.", o.Currency, l.MaxPerPayout, o.Amount)
	return p
}

// precheckLimit refuses early a payout the rolling limit would refuse, so
// that the provider is not asked to preview it. CreatePayout's atomic
// check is what counts; this one only saves a provider call.
func (s *Service) precheckLimit(ctx context.Context, v validated) *httpapi.Problem {
	o, lim := v.Order, v.limit
	if lim.MaxPerWindow == "" {
		return nil
	}
	used, err := s.store.PayoutTotal(ctx, o.Currency, s.now().UTC().Add(-lim.Window))
	if err != nil {
		return nil // CreatePayout decides
	}
	maxR, ok1 := parseAmount(lim.MaxPerWindow)
	usedR, ok2 := parseAmount(used)
	amt, ok3 := parseAmount(o.Amount)
	if !ok1 || !ok2 || !ok3 || new(big.Rat).Add(usedR, amt).Cmp(maxR) <= 0 {
		return nil
	}
	left := new(big.Rat).Sub(maxR, usedR)
	if left.Sign() < 0 {
		left.SetInt64(0)
	}
	dec := max(decimals(lim.MaxPerWindow), decimals(used), decimals(o.Amount))
	return limitProblem(&state.LimitError{Currency: o.Currency, Max: lim.MaxPerWindow, Used: usedR.FloatString(dec),
		Allowance: left.FloatString(dec), Window: lim.Window})
}

func decimals(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// guard is h behind scope: a token without it gets 403 (RequireScope's
// answer), and the refusal is appended to the audit trail as action.
func (s *Service) guard(scope, action string, h http.Handler) http.Handler {
	inner := httpapi.RequireScope(scope, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := httpapi.PrincipalFrom(r.Context()); ok && !p.Has(scope) && action != "" {
			s.audit(r, action, nil, answer{status: http.StatusForbidden, result: "refused",
				detail: fmt.Sprintf("the token lacks the scope %q", scope)})
		}
		inner.ServeHTTP(w, r)
	})
}

// AuditEntry is an audit entry as the API shows it.
type AuditEntry struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Token   string    `json:"token"`
	Action  string    `json:"action"`
	Subject string    `json:"subject,omitempty"`
	Request any       `json:"request,omitempty"`
	Result  string    `json:"result"`
	Status  int       `json:"status"`
	Detail  string    `json:"detail,omitempty"`
}

// AuditView converts a stored entry to its API form.
func AuditView(e state.AuditEntry) AuditEntry {
	v := AuditEntry{ID: e.ID, At: e.At.UTC(), Token: e.Token, Action: e.Action, Subject: e.Subject,
		Result: e.Result, Status: e.Status, Detail: e.Detail}
	if len(e.Request) > 0 {
		v.Request = e.Request
	}
	return v
}

// AuditActions are the actions the audit trail records.
func AuditActions() []string { return []string{"payout.create", "refund.create", "payment.cancel"} }

func (s *Service) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := state.AuditFilter{Token: q.Get("token"), Action: q.Get("action"), Subject: q.Get("subject")}
	var errs fieldErrors
	if f.Action != "" && !contains(AuditActions(), f.Action) {
		errs.add("action", "must be one of %s", strings.Join(AuditActions(), ", "))
	}
	f.Limit = errs.limit(q)
	if len(errs) > 0 {
		return httpapi.QueryProblem(errs)
	}
	list, err := s.store.ListAudit(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list audit entries: %w", err)
	}
	out := struct {
		Entries []AuditEntry `json:"entries"`
	}{Entries: make([]AuditEntry, 0, len(list))}
	for _, e := range list {
		out.Entries = append(out.Entries, AuditView(e))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}
