package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// ClickPesa payouts (the Payout API): preview and create a mobile-money
// payout, query it by order reference, and the merchant's balance. Money
// leaves a balance the emulator keeps (Settings.ClickPesaBalance, in TZS):
// a payout whose amount plus fee is above it is refused with ClickPesa's
// 400 "Insufficient balance" message; a payout that ends REFUNDED or
// REVERSED gives the money back.
//
// The receiver's last digit picks what happens after the create call, as
// for payments:
//
//	0, 7-9  SUCCESS after the delay; webhook PAYOUT INITIATED
//	1       REFUNDED after the delay (failed, funds returned); webhook PAYOUT REFUNDED
//	2       SUCCESS, then REVERSED after another delay; both webhooks
//	3       SUCCESS, but no webhook (only a status query tells)
//	4       SUCCESS; webhook sent twice
//	5       500 on create; nothing is created
//	6       created, but the create answer is held back for slow-answer

// DefaultClickPesaBalance is a fresh emulator's TZS balance.
const DefaultClickPesaBalance = "10000000"

// cpFeeRate is the emulator's payout fee: 4.71% (ClickPesa's own example
// charges 47.10 on 1000).
var cpFeeRate = big.NewRat(471, 10000)

type cpPayoutState struct {
	payouts map[string]*cpPayout // by orderReference
	balance *big.Rat             // TZS
	// dropNotify: these payouts send no webhook (payout_drop_notification).
	dropNotify map[string]bool
}

func (s *cpPayoutState) init(balance string) {
	s.payouts = make(map[string]*cpPayout)
	s.dropNotify = make(map[string]bool)
	s.reset(balance)
}

func (s *cpPayoutState) reset(balance string) {
	s.balance = new(big.Rat)
	if b, ok := new(big.Rat).SetString(balance); ok && b.Sign() >= 0 {
		s.balance = b
	}
}

type cpPayout struct {
	id           string
	orderRef     string
	amount       *big.Rat // what the receiver gets
	fee          *big.Rat
	currency     string
	channel      string // MOBILE MONEY | BANK TRANSFER
	provider     string // channelProvider
	account      string // phone or bank account
	accountName  string
	clientID     string
	status       string // AUTHORIZED, SUCCESS, REFUNDED, REVERSED
	notes        string
	created      time.Time
	updated      time.Time
	outcome      outcome
	transferType string // bank payouts
	bic          string
}

func (p *cpPayout) total() *big.Rat { return new(big.Rat).Add(p.amount, p.fee) }

func money2(r *big.Rat) string { return r.FloatString(2) }

// jsNumber writes r as JavaScript would print the number (1047.1, 1000).
func jsNumber(r *big.Rat) json.Number {
	s := r.FloatString(2)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		s = "0"
	}
	return json.Number(s)
}

func (e *Emulator) routesClickPesaPayouts(mux *http.ServeMux) {
	mux.HandleFunc("POST /clickpesa/third-parties/payouts/preview-mobile-money-payout", e.cpAuth(e.cpPayoutPreview))
	mux.HandleFunc("POST /clickpesa/third-parties/payouts/create-mobile-money-payout", e.cpAuth(e.cpPayoutCreate))
	mux.HandleFunc("GET /clickpesa/third-parties/payouts/{orderReference}", e.cpAuth(e.cpPayoutQuery))
	mux.HandleFunc("GET /clickpesa/third-parties/payouts/all", e.cpAuth(e.cpPayoutsAll))
	mux.HandleFunc("GET /clickpesa/third-parties/account/balance", e.cpAuth(e.cpBalance))
	e.routesClickPesaBank(mux)
}

// cpPayoutRequest is the body of preview and create (mobile money).
type cpPayoutRequest struct {
	Amount         json.RawMessage `json:"amount"`
	PhoneNumber    string          `json:"phoneNumber"`
	Currency       string          `json:"currency"`
	OrderReference string          `json:"orderReference"`
}

// numberAmount accepts a JSON number (as documented) or a numeric string
// holding a positive decimal.
func numberAmount(raw json.RawMessage) (*big.Rat, bool) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false
		}
	}
	if !positiveDecimal(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// cpFee is the payout fee on amount, rounded half up to cents.
func cpFee(amount *big.Rat) *big.Rat {
	f := new(big.Rat).Mul(amount, cpFeeRate)
	cents := new(big.Rat).Mul(f, big.NewRat(100, 1))
	n := new(big.Int).Quo(cents.Num(), cents.Denom())
	rem := new(big.Rat).Sub(cents, new(big.Rat).SetInt(n))
	if rem.Cmp(big.NewRat(1, 2)) >= 0 {
		n.Add(n, big.NewInt(1))
	}
	return new(big.Rat).SetFrac(n, big.NewInt(100))
}

// cpMNOProvider is the channelProvider of a 2557…/2556… number.
func cpMNOProvider(phone string) string {
	switch cpChannel(phone) {
	case "M-PESA":
		return "MPESA TANZANIA"
	case "AIRTEL-MONEY":
		return "AIRTEL MONEY"
	case "HALOPESA":
		return "HALOPESA"
	}
	return "TIGO PESA"
}

// cpReceiverName is the name the emulated network gives a number.
func cpReceiverName(phone string) string {
	if len(phone) < 4 {
		return "SANDBOX RECEIVER"
	}
	return "SANDBOX RECEIVER " + phone[len(phone)-4:]
}

// cpPayoutValidate decodes and checks a mobile-money payout request
// (preview and create share it); it writes the refusal and returns false
// when the request is refused. The balance check is the caller's.
func (e *Emulator) cpPayoutValidate(w http.ResponseWriter, r *http.Request) (cpPayoutRequest, *big.Rat, bool) {
	var req cpPayoutRequest
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	if err := json.Unmarshal(body.Bytes(), &req); err != nil {
		cpMessage(w, http.StatusBadRequest, "Invalid request body")
		return req, nil, false
	}
	if !e.cpVerifyChecksum(body.Bytes()) {
		cpMessage(w, http.StatusBadRequest, "Invalid checksum")
		return req, nil, false
	}
	amount, amountOK := numberAmount(req.Amount)
	switch {
	case !cpReference.MatchString(req.OrderReference):
		cpMessage(w, http.StatusBadRequest, "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank")
		return req, nil, false
	case !amountOK:
		cpMessage(w, http.StatusBadRequest, "Invalid amount, should be a number greater than 0")
		return req, nil, false
	case req.Currency != "TZS" && req.Currency != "USD":
		cpMessage(w, http.StatusBadRequest, "Invalid currency: currency must be either TZS or USD")
		return req, nil, false
	case !cpPhone.MatchString(req.PhoneNumber):
		cpMessage(w, http.StatusBadRequest, "Invalid phone number, should be a Tanzanian mobile number starting with 255")
		return req, nil, false
	}
	e.mu.Lock()
	_, used := e.cpo.payouts[req.OrderReference]
	e.mu.Unlock()
	if used {
		cpMessage(w, http.StatusConflict, fmt.Sprintf("Order reference %s already used: Create a different reference", req.OrderReference))
		return req, nil, false
	}
	return req, amount, true
}

// cpBalanceLocked is the balance a payout in currency draws on; mu is held.
func (e *Emulator) cpBalanceLocked(currency string) *big.Rat {
	if currency == "TZS" {
		return e.cpo.balance
	}
	return new(big.Rat) // no USD balance in the emulator
}

func cpInsufficient(w http.ResponseWriter, balance *big.Rat, currency string) {
	cpMessage(w, http.StatusBadRequest, fmt.Sprintf("Insufficient balance: available balance is %s %s", jsNumber(balance), currency))
}

func (e *Emulator) cpPayoutPreview(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	req, amount, ok := e.cpPayoutValidate(w, r)
	if !ok {
		return
	}
	fee := cpFee(amount)
	total := new(big.Rat).Add(amount, fee)
	e.mu.Lock()
	balance := new(big.Rat).Set(e.cpBalanceLocked(req.Currency))
	e.mu.Unlock()
	if total.Cmp(balance) > 0 {
		cpInsufficient(w, balance, req.Currency)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"amount":          jsNumber(total),
		"balance":         jsNumber(balance),
		"channelProvider": cpMNOProvider(req.PhoneNumber),
		"fee":             jsNumber(fee),
		"exchanged":       false,
		"order":           map[string]any{"amount": jsNumber(amount), "currency": req.Currency, "id": req.OrderReference},
		"payoutFeeBearer": "merchant",
		"receiver": map[string]any{
			"accountName": cpReceiverName(req.PhoneNumber), "accountNumber": req.PhoneNumber,
			"accountCurrency": "TZS", "amount": jsNumber(amount),
		},
	})
}

func (e *Emulator) cpPayoutCreate(w http.ResponseWriter, r *http.Request, tok tokenInfo) {
	req, amount, ok := e.cpPayoutValidate(w, r)
	if !ok {
		return
	}
	oc := outcomeFor(req.PhoneNumber)
	if oc == outcomeServerError {
		cpMessage(w, http.StatusInternalServerError, "Internal server error")
		return
	}
	now := e.now()
	p := &cpPayout{
		id:          "PAY" + strings.ToUpper(randomHex(7)),
		orderRef:    req.OrderReference,
		amount:      amount,
		fee:         cpFee(amount),
		currency:    req.Currency,
		channel:     "MOBILE MONEY",
		provider:    cpMNOProvider(req.PhoneNumber),
		account:     req.PhoneNumber,
		accountName: cpReceiverName(req.PhoneNumber),
		clientID:    tok.clientID,
		status:      "AUTHORIZED",
		created:     now,
		updated:     now,
		outcome:     oc,
	}
	e.cpAcceptPayout(w, r, p)
}

// cpAcceptPayout takes a new payout (mobile money or bank) as ClickPesa
// does: a reused order reference is 409, one above the balance is refused,
// otherwise the balance is debited, the payout moves on after the delay
// and the answer is given (held back for outcome 6).
func (e *Emulator) cpAcceptPayout(w http.ResponseWriter, r *http.Request, p *cpPayout) {
	e.mu.Lock()
	if _, used := e.cpo.payouts[p.orderRef]; used {
		e.mu.Unlock()
		cpMessage(w, http.StatusConflict, fmt.Sprintf("Order reference %s already used: Create a different reference", p.orderRef))
		return
	}
	balance := e.cpBalanceLocked(p.currency)
	if p.total().Cmp(balance) > 0 {
		b := new(big.Rat).Set(balance)
		e.mu.Unlock()
		cpInsufficient(w, b, p.currency)
		return
	}
	balance.Sub(balance, p.total())
	e.cpo.payouts[p.orderRef] = p
	delay := time.Duration(e.settings.Delay)
	slow := time.Duration(e.settings.SlowAnswer)
	answer := cpPayoutJSON(*p, false)
	e.mu.Unlock()
	e.after(delay, func(context.Context) { e.cpPayoutProgress(p.orderRef) })
	if p.outcome == outcomeSlow && !e.slowAnswer(w, r, slow) {
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

// cpPayoutProgress moves a payout on after the delay, per its outcome.
func (e *Emulator) cpPayoutProgress(ref string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.cpo.payouts[ref]
	if p == nil {
		return
	}
	now := e.now()
	switch {
	case p.status == "AUTHORIZED" && p.outcome == outcomeInsufficent:
		p.status, p.updated, p.notes = "REFUNDED", now, "Recipient wallet not found"
		e.cpBalanceLocked(p.currency).Add(e.cpBalanceLocked(p.currency), p.total())
		e.cpQueuePayoutWebhookLocked(p, "PAYOUT REFUNDED", 1)
	case p.status == "AUTHORIZED":
		p.status, p.updated = "SUCCESS", now
		e.cpQueuePayoutWebhookLocked(p, "PAYOUT INITIATED", p.outcome.notifications())
		if p.outcome == outcomeCancelled {
			e.after(time.Duration(e.settings.Delay), func(context.Context) { e.cpPayoutProgress(ref) })
		}
	case p.status == "SUCCESS" && p.outcome == outcomeCancelled:
		p.status, p.updated, p.notes = "REVERSED", now, "Recipient wallet barred"
		e.cpBalanceLocked(p.currency).Add(e.cpBalanceLocked(p.currency), p.total())
		e.cpQueuePayoutWebhookLocked(p, "PAYOUT REVERSED", 1)
	}
}

// cpPayoutJSON is a payout as ClickPesa shows it: money as strings, amount
// the total debited (fee included), order.amount what the receiver gets.
func cpPayoutJSON(p cpPayout, query bool) map[string]any {
	m := map[string]any{
		"updatedAt":       cpTime(p.updated),
		"createdAt":       cpTime(p.created),
		"id":              p.id,
		"orderReference":  p.orderRef,
		"amount":          money2(p.total()),
		"currency":        p.currency,
		"fee":             money2(p.fee),
		"exchanged":       false,
		"status":          p.status,
		"channel":         p.channel,
		"channelProvider": p.provider,
		"order":           map[string]any{"amount": money2(p.amount), "currency": p.currency},
		"beneficiary":     map[string]any{"accountNumber": p.account, "accountName": p.accountName},
		"clientId":        p.clientID,
	}
	if p.channel == "MOBILE MONEY" {
		m["beneficiary"].(map[string]any)["beneficiaryMobileNumber"] = p.account
	}
	if p.transferType != "" {
		m["transferType"] = p.transferType
	} else if query {
		m["transferType"] = nil
	}
	if query {
		m["notes"] = p.notes
	}
	return m
}

// cpQueuePayoutWebhookLocked queues a payout webhook n times; mu is held.
func (e *Emulator) cpQueuePayoutWebhookLocked(p *cpPayout, event string, n int) {
	if n == 0 {
		return
	}
	if e.cpo.dropNotify[p.orderRef] {
		e.log.Info("sandbox clickpesa payout webhook dropped (divergence)", "order_reference", p.orderRef, "event", event)
		return
	}
	data := cpPayoutJSON(*p, false)
	delete(data, "order")
	delete(data, "exchanged")
	if p.notes != "" {
		data["notes"] = p.notes
	}
	switch event {
	case "PAYOUT REFUNDED":
		data["refund"] = map[string]any{"message": p.notes, "refundedAt": cpTime(p.updated)}
	case "PAYOUT REVERSED":
		data["reverse"] = map[string]any{"message": p.notes, "reversedAt": cpTime(p.updated), "reversedWithFee": true}
	}
	body, err := cpSignedBody(map[string]any{"event": event, "data": data}, e.settings)
	if err != nil {
		e.log.Error("sandbox clickpesa payout webhook not built", "order_reference", p.orderRef, "err", err)
		return
	}
	nt := notification{provider: providerClickPesa, method: http.MethodPost, url: e.settings.ClickPesaWebhook, body: body,
		contentType: "application/json", ack: ack2xx, what: "payout webhook " + p.orderRef}
	for range n {
		e.deliver(nt)
	}
}

func (e *Emulator) cpPayoutQuery(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	ref := r.PathValue("orderReference")
	e.mu.Lock()
	p := e.cpo.payouts[ref]
	var c cpPayout
	if p != nil {
		c = *p
	}
	e.mu.Unlock()
	if p == nil {
		cpMessage(w, http.StatusNotFound, "Invalid or missing payout: "+ref)
		return
	}
	writeJSON(w, http.StatusOK, []map[string]any{cpPayoutJSON(c, true)})
}

func (e *Emulator) cpBalance(w http.ResponseWriter, _ *http.Request, _ tokenInfo) {
	e.mu.Lock()
	tzs := new(big.Rat).Set(e.cpo.balance)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, []map[string]any{{"currency": "TZS", "balance": jsNumber(tzs)}, {"currency": "USD", "balance": 0}})
}
