package sandbox

import (
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Payout divergences: the /_sandbox/clickpesa/divergence kinds that make
// the emulator's payouts (GET /payouts/all and the payout query) differ
// from what finconnectd was told. See Divergence.

// cpPayoutStatuses are the payout statuses a payout_foreign may take.
var cpPayoutStatuses = []string{"AUTHORIZED", "SUCCESS", "FAILED", "REFUNDED", "REVERSED"}

// cpDivergePayoutLocked applies a payout_* divergence; mu is held.
func (e *Emulator) cpDivergePayoutLocked(d Divergence, now time.Time) (map[string]any, error) {
	p := e.cpo.payouts[d.Reference]
	need := func() error {
		if p == nil {
			return fmt.Errorf("%s: no clickpesa payout with orderReference %q: %w", d.Kind, d.Reference, ErrUnknownPayment)
		}
		return nil
	}
	switch d.Kind {
	case "payout_drop_notification":
		if p != nil && p.status != "AUTHORIZED" {
			return nil, fmt.Errorf("payout_drop_notification: %q has settled already (%s)", d.Reference, p.status)
		}
		e.cpo.dropNotify[d.Reference] = true
		if p == nil {
			return map[string]any{"orderReference": d.Reference, "dropNotification": true}, nil
		}
	case "payout_reverse":
		if err := need(); err != nil {
			return nil, err
		}
		if p.status != "SUCCESS" {
			return nil, fmt.Errorf("payout_reverse: %q is %s, not SUCCESS", d.Reference, p.status)
		}
		p.status, p.notes, p.updated = "REVERSED", "Reversed by the network", now
		e.cpBalanceLocked(p.currency).Add(e.cpBalanceLocked(p.currency), p.total())
	case "payout_foreign":
		if p != nil {
			return nil, fmt.Errorf("payout_foreign: orderReference %q is used", d.Reference)
		}
		amount, ok := new(big.Rat).SetString(d.Amount)
		if !cpReference.MatchString(d.Reference) || !positiveDecimal(d.Amount) || !ok {
			return nil, fmt.Errorf("payout_foreign: needs an alphanumeric reference and an amount > 0")
		}
		status := strings.ToUpper(d.Status)
		if status == "" {
			status = "SUCCESS"
		}
		known := false
		for _, s := range cpPayoutStatuses {
			known = known || s == status
		}
		if !known {
			return nil, fmt.Errorf("payout_foreign: status %q is not one of %s", d.Status, strings.Join(cpPayoutStatuses, ", "))
		}
		phone, at := d.Phone, d.At
		if phone == "" {
			phone = "255712345670"
		}
		if at.IsZero() {
			at = now
		}
		p = &cpPayout{id: "PAY" + strings.ToUpper(randomHex(7)), orderRef: d.Reference, amount: amount, fee: cpFee(amount),
			currency: "TZS", channel: "MOBILE MONEY", provider: cpMNOProvider(phone), account: phone, accountName: cpReceiverName(phone),
			clientID: "sandbox", status: status, created: at, updated: at}
		if status == "AUTHORIZED" || status == "SUCCESS" {
			b := e.cpBalanceLocked(p.currency)
			b.Sub(b, p.total())
		}
		e.cpo.payouts[d.Reference] = p
	case "payout_forget":
		if err := need(); err != nil {
			return nil, err
		}
		delete(e.cpo.payouts, d.Reference)
		return map[string]any{"orderReference": d.Reference, "forgotten": true}, nil
	default:
		return nil, fmt.Errorf("unknown payout divergence kind %q (payout_drop_notification, payout_reverse, payout_foreign, payout_forget)", d.Kind)
	}
	return cpPayoutJSON(*p, true), nil
}
