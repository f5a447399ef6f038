package config

import "strings"

// API token scopes: what a token declared in the api block may do.
const (
	// ScopePayments: create, read and list payments.
	ScopePayments = "payments"
	// ScopeEvents: read events and their deliveries, replay them.
	ScopeEvents = "events"
	// ScopeRefunds: refund and cancel payments.
	ScopeRefunds = "refunds"
	// ScopePayouts: send and read payouts.
	ScopePayouts = "payouts"
	// ScopeAudit: read the audit trail of money-out requests.
	ScopeAudit = "audit"
	// ScopeReconciliation: read reconciliation runs and resolve differences.
	ScopeReconciliation = "reconciliation"
	// ScopeConsoleRead: sign in to the web console and look.
	ScopeConsoleRead = "console:read"
	// ScopeConsoleOperate: sign in to the web console and act (replay,
	// resolve); includes console:read.
	ScopeConsoleOperate = "console:operate"
)

// Scopes returns every scope a token may be granted, in a stable order.
func Scopes() []string {
	return []string{ScopePayments, ScopeEvents, ScopeRefunds, ScopePayouts, ScopeAudit, ScopeReconciliation, ScopeConsoleRead, ScopeConsoleOperate}
}

// ListTokenScopes are the scopes of the tokens of the `tokens = [...]` list:
// what any token could do before tokens had scopes.
func ListTokenScopes() []string { return []string{ScopePayments, ScopeEvents} }

// scopesDoc documents the scopes in the configuration reference.
func scopesDoc() string {
	docs := map[string]string{
		ScopePayments:       "create, read and list payments",
		ScopeEvents:         "read events and deliveries, replay events",
		ScopeRefunds:        "refund and cancel payments",
		ScopePayouts:        "send and read payouts",
		ScopeAudit:          "read the audit trail of payouts, refunds and cancellations",
		ScopeReconciliation: "read reconciliation runs, resolve differences",
		ScopeConsoleRead:    "sign in to the console, read only",
		ScopeConsoleOperate: "sign in to the console, read, replay and resolve",
	}
	parts := make([]string, 0, len(docs))
	for _, s := range Scopes() {
		parts = append(parts, "`"+s+"` ("+docs[s]+")")
	}
	return "What the token may do, at least one of: " + strings.Join(parts, ", ") + "."
}
