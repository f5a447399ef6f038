package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/finconnectd/finconnectd/internal/state"
)

// MaskAccount keeps the last four characters of a bank account number.
func MaskAccount(a string) string {
	if len(a) <= 4 {
		return strings.Repeat("•", len(a))
	}
	return strings.Repeat("•", len(a)-4) + a[len(a)-4:]
}

// PayoutQuery is the search form of the payouts page.
type PayoutQuery struct {
	Reference, Provider, Status string
}

type payoutsData struct {
	Q         PayoutQuery
	Providers []string
	Statuses  []string
	Payouts   []state.Payout
	Error     string
}

var payoutStatuses = []string{state.PayoutPending, state.PayoutSucceeded, state.PayoutFailed, state.PayoutReversed, state.PayoutUnknown}

// payouts lists payouts, newest first; read only: the console sends no
// money.
func (c *Console) payouts(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	d := payoutsData{Q: PayoutQuery{Reference: strings.TrimSpace(qs.Get("reference")), Provider: qs.Get("provider"), Status: qs.Get("status")},
		Statuses: payoutStatuses}
	if cfg := c.o.Config(); cfg != nil {
		for _, p := range cfg.Providers {
			d.Providers = append(d.Providers, p.ID())
		}
	}
	if d.Q.Status != "" && !contains(d.Statuses, d.Q.Status) {
		d.Error = "Unknown status."
	} else {
		list, err := c.o.Store.ListPayouts(r.Context(), state.PayoutFilter{Reference: d.Q.Reference, Provider: d.Q.Provider, Status: d.Q.Status, Limit: pageSize})
		if err != nil {
			return fmt.Errorf("list payouts: %w", err)
		}
		d.Payouts = list
	}
	c.render(w, r, http.StatusOK, "payouts", sessionFrom(r), view{Title: "Payouts", Nav: "payouts", Data: d})
	return nil
}

type payoutData struct {
	P      state.Payout
	Audit  []state.AuditEntry
	Events []eventDetail
}

func (c *Console) payout(w http.ResponseWriter, r *http.Request) error {
	p, err := c.o.Store.Payout(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := payoutData{P: p}
	if d.Audit, err = c.o.Store.ListAudit(r.Context(), state.AuditFilter{Subject: p.ID, Limit: pageSize}); err != nil {
		return fmt.Errorf("read the audit trail: %w", err)
	}
	if d.Events, err = c.eventsOf(r.Context(), p.ID); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "payout", sessionFrom(r), view{Title: "Payout " + p.Reference, Nav: "payouts", Data: d})
	return nil
}
