package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Divergences of PesaPal and AzamPay, which reconciliation reads one
// status query at a time (neither has a list): the emulator's answer to
// the status query differs from what it told finconnectd.
//
//	kind               PesaPal (Reference = merchant reference)   AzamPay (Reference = externalId)
//	drop_notification  the settlement sends no IPN                 the settlement sends no callback
//	settle_amount      settles (or, settled, is changed) with      the same; no callback
//	                   Amount; no IPN
//	reverse            a COMPLETED order becomes REVERSED          refused: AzamPay documents no
//	                   (status_code 3); no IPN                     reversal state for a collection
//	forget             the order is gone: GetTransactionStatus     the transaction is gone: the status
//	                   says the tracking id is unknown             query answers 404 Transaction not found

// slowDivergences are divergences sent before a payment exists, applied
// when it settles.
type slowDivergences struct {
	dropNotify   map[string]bool
	settleAmount map[string]string
}

func (s *slowDivergences) init() {
	s.dropNotify = map[string]bool{}
	s.settleAmount = map[string]string{}
}

// settle says, for a payment of ref settling now, the amount it settles
// with (amount unless a settle_amount divergence says otherwise) and
// whether its notification is dropped; it forgets both.
func (s *slowDivergences) settle(ref, amount string) (string, bool) {
	drop := s.dropNotify[ref]
	if a, ok := s.settleAmount[ref]; ok {
		amount = a
	}
	delete(s.dropNotify, ref)
	delete(s.settleAmount, ref)
	return amount, drop
}

// DivergePesaPal applies d to PesaPal's records (see above) and returns
// what GetTransactionStatus will say, as a summary.
func (e *Emulator) DivergePesaPal(d Divergence) (map[string]any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var o *ppOrder
	if id, ok := e.pp.byRef[d.Reference]; ok {
		o = e.pp.orders[id]
	}
	settled := o != nil && (o.statusCode != ppPending || o.cancelled)
	switch d.Kind {
	case "drop_notification":
		if settled {
			return nil, fmt.Errorf("drop_notification: %q has settled already", d.Reference)
		}
		e.pp.div.dropNotify[d.Reference] = true
	case "settle_amount":
		if !positiveDecimal(d.Amount) {
			return nil, fmt.Errorf("settle_amount: amount %q must be a decimal > 0", d.Amount)
		}
		if settled {
			o.amount = json.Number(d.Amount)
			break
		}
		e.pp.div.settleAmount[d.Reference] = d.Amount
		e.pp.div.dropNotify[d.Reference] = true
	case "reverse":
		if o == nil || o.statusCode != ppCompleted {
			return nil, fmt.Errorf("reverse: %q is not a COMPLETED pesapal order", d.Reference)
		}
		o.statusCode, o.statusDescription, o.paymentStatusCode = ppReversed, "Reversed by the network", "reversed"
	case "forget":
		if o == nil {
			return nil, fmt.Errorf("forget: no pesapal order with merchant reference %q: %w", d.Reference, ErrUnknownPayment)
		}
		delete(e.pp.orders, o.trackingID)
		delete(e.pp.byRef, o.ref)
		delete(e.pp.byCode, o.confirmationCode)
		return map[string]any{"merchant_reference": d.Reference, "order_tracking_id": o.trackingID, "forgotten": true}, nil
	default:
		return nil, fmt.Errorf("unknown pesapal divergence kind %q (drop_notification, settle_amount, reverse, forget)", d.Kind)
	}
	if o == nil {
		return map[string]any{"merchant_reference": d.Reference, "kind": d.Kind, "pending": true}, nil
	}
	return map[string]any{"merchant_reference": o.ref, "order_tracking_id": o.trackingID, "status_code": o.statusCode,
		"amount": o.amount, "currency": o.currency}, nil
}

// DivergeAzamPay applies d to AzamPay's records (see above) and returns
// what the status query will say, as a summary.
func (e *Emulator) DivergeAzamPay(d Divergence) (map[string]any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var t *azTxn
	if id, ok := e.az.byExternal[d.Reference]; ok {
		t = e.az.txns[id]
	}
	settled := t != nil && t.status != "pending"
	switch d.Kind {
	case "drop_notification":
		if settled {
			return nil, fmt.Errorf("drop_notification: %q has settled already", d.Reference)
		}
		e.az.div.dropNotify[d.Reference] = true
	case "settle_amount":
		if !positiveDecimal(d.Amount) {
			return nil, fmt.Errorf("settle_amount: amount %q must be a decimal > 0", d.Amount)
		}
		if settled {
			t.amount, t.updated = d.Amount, e.now()
			break
		}
		e.az.div.settleAmount[d.Reference] = d.Amount
		e.az.div.dropNotify[d.Reference] = true
	case "reverse":
		return nil, fmt.Errorf("reverse: AzamPay documents no reversal state for a collection; the emulator has none")
	case "forget":
		if t == nil {
			return nil, fmt.Errorf("forget: no azampay transaction with externalId %q: %w", d.Reference, ErrUnknownPayment)
		}
		delete(e.az.txns, t.id)
		delete(e.az.byExternal, t.externalID)
		return map[string]any{"externalId": d.Reference, "transactionId": t.id, "forgotten": true}, nil
	default:
		return nil, fmt.Errorf("unknown azampay divergence kind %q (drop_notification, settle_amount, forget)", d.Kind)
	}
	if t == nil {
		return map[string]any{"externalId": d.Reference, "kind": d.Kind, "pending": true}, nil
	}
	return map[string]any{"externalId": t.externalID, "transactionId": t.id, "transactionstatus": t.status,
		"amount": t.amount, "currency": t.currency}, nil
}

func (e *Emulator) handleDivergencePesaPal(w http.ResponseWriter, r *http.Request) {
	e.serveDivergence(w, r, "pesapal", e.DivergePesaPal)
}

func (e *Emulator) handleDivergenceAzamPay(w http.ResponseWriter, r *http.Request) {
	e.serveDivergence(w, r, "azampay", e.DivergeAzamPay)
}

func (e *Emulator) serveDivergence(w http.ResponseWriter, r *http.Request, provider string, apply func(Divergence) (map[string]any, error)) {
	var d Divergence
	if !decodeControl(w, r, &d) {
		return
	}
	item, err := apply(d)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	e.log.Info("sandbox "+provider+" divergence", "kind", d.Kind, "reference", d.Reference)
	writeJSON(w, http.StatusOK, item)
}
