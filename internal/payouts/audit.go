package payouts

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/state"
)

// tokenName is the name of the API token that made r, or "".
func tokenName(r *http.Request) string {
	p, _ := httpapi.PrincipalFrom(r.Context())
	return p.Name
}

// audit appends one money-out request and its answer to the audit trail.
// A failure to write it is logged: the answer already stands.
func (s *Service) audit(r *http.Request, action string, req json.RawMessage, a answer) {
	subject := a.payoutID
	if subject == "" {
		subject = a.subject
	}
	e := state.AuditEntry{
		At: s.now().UTC(), Token: tokenName(r), Action: action, Subject: subject, Request: req,
		Result: a.result, Status: a.status, Detail: a.detail,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("append audit entry", "action", action, "payout_id", a.payoutID, "error", err)
	}
}
