package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClickPesa's records as reconciliation reads them: the paginated list of
// payments (GET /payments/all), the account statement (GET
// /account/statement), and the /_sandbox controls that make the
// emulator's records differ from what it told finconnectd.

// cpMaxPageLimit is the emulator's largest page: ClickPesa documents no
// maximum for limit; a client must follow the items it gets, not the
// limit it asked for.
const cpMaxPageLimit = 100

// cpEAT is East Africa Time, in which ClickPesa's dates are read.
var cpEAT = time.FixedZone("EAT", 3*60*60)

// cpRecords are every provider transaction in creation order: the
// payments by reference plus the duplicates of a reference.
type cpRecords struct {
	all    []*cpPayment
	sorted bool
	extra  map[string][]*cpPayment // further transactions of a reference
	// dropNotify: the next settlement of these references sends no webhook.
	dropNotify map[string]bool
	// late: these references do not settle when the customer answers;
	// a settle_late control settles them.
	late map[string]bool
	// settleAmount: these references settle with another amount.
	settleAmount map[string]string
}

func (r *cpRecords) init() {
	r.all, r.sorted = nil, true
	r.extra = map[string][]*cpPayment{}
	r.dropNotify = map[string]bool{}
	r.late = map[string]bool{}
	r.settleAmount = map[string]string{}
}

// addLocked records a new provider transaction; mu is held.
func (r *cpRecords) addLocked(p *cpPayment) {
	if n := len(r.all); n > 0 && p.created.Before(r.all[n-1].created) {
		r.sorted = false
	}
	r.all = append(r.all, p)
}

// sortedLocked returns every transaction by creation time; mu is held.
func (r *cpRecords) sortedLocked() []*cpPayment {
	if !r.sorted {
		slices.SortStableFunc(r.all, func(a, b *cpPayment) int { return a.created.Compare(b.created) })
		r.sorted = true
	}
	return r.all
}

// cpItem is a payment as the query and list endpoints show it.
func cpItem(c cpPayment) map[string]any {
	var paymentRef any
	if c.paymentRef != "" {
		paymentRef = c.paymentRef
	}
	return map[string]any{
		"id":                 c.id,
		"status":             c.status,
		"paymentReference":   paymentRef,
		"paymentPhoneNumber": c.phone,
		"orderReference":     c.orderRef,
		"collectedAmount":    json.Number(c.amount), // a number here, as documented
		"collectedCurrency":  c.currency,
		"message":            c.message,
		"updatedAt":          cpTime(c.updated),
		"createdAt":          cpTime(c.created),
		"customer":           map[string]any{"customerName": "Sandbox Customer", "customerPhoneNumber": c.phone, "customerEmail": nil},
		"clientId":           c.clientID,
	}
}

// cpDate reads a startDate/endDate (YYYY-MM-DD or DD-MM-YYYY) as the
// start of that day in EAT.
func cpDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "02-01-2006"} {
		if t, err := time.ParseInLocation(layout, s, cpEAT); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %q: use YYYY-MM-DD or DD-MM-YYYY", s)
}

// cpListWindow reads startDate and endDate: whole days in EAT, both
// included. Missing bounds are open.
func cpListWindow(q map[string][]string) (from, to time.Time, err error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if s := get("startDate"); s != "" {
		if from, err = cpDate(s); err != nil {
			return from, to, err
		}
	}
	if s := get("endDate"); s != "" {
		if to, err = cpDate(s); err != nil {
			return from, to, err
		}
		to = to.AddDate(0, 0, 1)
	}
	return from, to, nil
}

// cpListPage reads what both lists (payments and payouts) take: the
// window (cpListWindow), skip, limit (default 20, at most cpMaxPageLimit),
// sortBy (createdAt only) and orderBy (DESC unless ASC).
func cpListPage(q url.Values) (from, to time.Time, skip, limit int, desc bool, err error) {
	if from, to, err = cpListWindow(q); err != nil {
		return
	}
	skip, limit = 0, 20
	if s := q.Get("skip"); s != "" {
		if skip, err = strconv.Atoi(s); err != nil || skip < 0 {
			return from, to, 0, 0, false, errors.New("skip must be an integer >= 0")
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			return from, to, 0, 0, false, errors.New("limit must be an integer >= 1")
		}
	}
	if sb := q.Get("sortBy"); sb != "" && sb != "createdAt" {
		return from, to, 0, 0, false, errors.New("the emulator sorts by createdAt only")
	}
	return from, to, skip, min(limit, cpMaxPageLimit), !strings.EqualFold(q.Get("orderBy"), "ASC"), nil
}

// cpPaymentsAll is GET /payments/all: filters startDate, endDate, status,
// orderReference, collectedCurrency; sortBy createdAt only; orderBy ASC or
// DESC (default); skip and limit (default 20, at most cpMaxPageLimit).
func (e *Emulator) cpPaymentsAll(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	q := r.URL.Query()
	from, to, skip, limit, desc, err := cpListPage(q)
	if err != nil {
		cpMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	status, ref, cur := strings.ToUpper(q.Get("status")), q.Get("orderReference"), strings.ToUpper(q.Get("collectedCurrency"))

	e.mu.Lock()
	all := e.cp.rec.sortedLocked()
	lo, hi := 0, len(all)
	if !from.IsZero() {
		lo, _ = slices.BinarySearchFunc(all, from, func(p *cpPayment, t time.Time) int { return p.created.Compare(t) })
	}
	if !to.IsZero() {
		hi, _ = slices.BinarySearchFunc(all, to, func(p *cpPayment, t time.Time) int { return p.created.Compare(t) })
	}
	match := func(p *cpPayment) bool {
		return (status == "" || p.status == status) && (ref == "" || p.orderRef == ref) && (cur == "" || p.currency == cur)
	}
	window := all[lo:max(lo, hi)]
	total := len(window)
	filtered := status != "" || ref != "" || cur != ""
	if filtered {
		total = 0
		for _, p := range window {
			if match(p) {
				total++
			}
		}
	}
	page := make([]map[string]any, 0, min(limit, max(total-skip, 0)))
	n := 0
	for i := range window {
		p := window[i]
		if desc {
			p = window[len(window)-1-i]
		}
		if filtered && !match(p) {
			continue
		}
		if n >= skip {
			page = append(page, cpItem(*p))
			if len(page) == limit {
				break
			}
		}
		n++
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": page, "totalCount": total})
}

// cpStatement is GET /account/statement?currency=TZS&startDate&endDate:
// one Credit entry of type Payment per successful collection in the
// window, with the running balance (the emulator's collections only).
func (e *Emulator) cpStatement(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	q := r.URL.Query()
	cur := q.Get("currency")
	if cur != "TZS" && cur != "USD" {
		cpMessage(w, http.StatusBadRequest, "Invalid currency: currency must be either TZS or USD")
		return
	}
	from, to, err := cpListWindow(q)
	if err != nil {
		cpMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	opening, balance, credits := new(big.Rat), new(big.Rat), new(big.Rat)
	var txns []map[string]any
	e.mu.Lock()
	for _, p := range e.cp.rec.sortedLocked() {
		if p.currency != cur || (p.status != "SUCCESS" && p.status != "SETTLED") {
			continue
		}
		amt, ok := new(big.Rat).SetString(p.amount)
		if !ok {
			continue
		}
		switch {
		case !from.IsZero() && p.created.Before(from):
			opening.Add(opening, amt)
			continue
		case !to.IsZero() && !p.created.Before(to):
			continue
		}
		if balance.Sign() == 0 {
			balance.Set(opening)
		}
		balance.Add(balance, amt)
		credits.Add(credits, amt)
		txns = append(txns, map[string]any{
			"id": p.id, "orderReference": p.orderRef, "date": cpTime(p.created), "description": "Payment from " + p.phone,
			"entry": "Credit", "type": "Payment", "amount": json.Number(p.amount), "currency": cur, "balance": jsNumber(balance),
		})
	}
	e.mu.Unlock()
	closing := new(big.Rat).Add(opening, credits)
	writeJSON(w, http.StatusOK, map[string]any{
		"accountDetails": map[string]any{"currency": cur, "openingBalance": jsNumber(opening),
			"closingBalance": jsNumber(closing), "totalCredits": jsNumber(credits), "totalDebits": 0},
		"transactions": txns,
	})
}

// Divergence is a /_sandbox/clickpesa/divergence request: make the
// emulator's records differ from what finconnectd was told.
//
//	kind               what happens
//	drop_notification  Reference's settlement sends no webhook
//	settle_amount      Reference settles (or, settled, is changed) with Amount, no webhook
//	settle_late        Reference does not settle when the customer answers (sent
//	                   before or while it is PROCESSING); sent again after that, it
//	                   settles now with Status (SUCCESS), no webhook
//	reverse            the successful payment Reference becomes REVERSED, no webhook
//	foreign            a payment finconnectd never started: Reference, Amount, Status
//	                   (SUCCESS), Phone, At (now)
//	duplicate          another SUCCESS transaction of the existing Reference
//	forget             ClickPesa has no record of Reference any more (its query
//	                   and its list do not show it)
//
// and for payouts (Reference is the payout's orderReference):
//
//	payout_drop_notification  Reference's payout webhooks are not sent (sent
//	                          before the payout or while it is AUTHORIZED)
//	payout_reverse            the SUCCESS payout Reference becomes REVERSED, its
//	                          money back in the balance, no webhook
//	payout_foreign            a payout finconnectd never sent (from the dashboard):
//	                          Reference, Amount (what the receiver gets), Status
//	                          (SUCCESS), Phone, At (now)
//	payout_forget             ClickPesa has no record of the payout Reference any
//	                          more (its query and its list do not show it)
type Divergence struct {
	Kind      string    `json:"kind"`
	Reference string    `json:"reference"`
	Amount    string    `json:"amount,omitempty"`
	Status    string    `json:"status,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Diverge applies d (see Divergence) and returns the transaction concerned
// as the list endpoint shows it.
func (e *Emulator) Diverge(d Divergence) (map[string]any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if strings.HasPrefix(d.Kind, "payout_") {
		return e.cpDivergePayoutLocked(d, now)
	}
	p := e.cp.payments[d.Reference]
	need := func() error {
		if p == nil {
			return fmt.Errorf("%s: no clickpesa payment with orderReference %q: %w", d.Kind, d.Reference, ErrUnknownPayment)
		}
		return nil
	}
	status := strings.ToUpper(d.Status)
	if status == "" {
		status = "SUCCESS"
	}
	switch d.Kind {
	case "drop_notification":
		if p != nil && p.status != "PROCESSING" {
			return nil, fmt.Errorf("drop_notification: %q has settled already (%s)", d.Reference, p.status)
		}
		e.cp.rec.dropNotify[d.Reference] = true
		if p == nil {
			return map[string]any{"orderReference": d.Reference, "dropNotification": true}, nil
		}
	case "settle_amount":
		if !positiveDecimal(d.Amount) {
			return nil, fmt.Errorf("settle_amount: amount %q must be a decimal > 0", d.Amount)
		}
		if p == nil || p.status == "PROCESSING" {
			e.cp.rec.settleAmount[d.Reference] = d.Amount
			e.cp.rec.dropNotify[d.Reference] = true
			if p == nil {
				return map[string]any{"orderReference": d.Reference, "settleAmount": d.Amount}, nil
			}
			break
		}
		p.amount, p.updated = d.Amount, now
	case "settle_late":
		if p == nil { // before the payment: it will not settle by itself
			e.cp.rec.late[d.Reference] = true
			return map[string]any{"orderReference": d.Reference, "late": true}, nil
		}
		if p.status != "PROCESSING" {
			return nil, fmt.Errorf("settle_late: %q has settled already (%s)", d.Reference, p.status)
		}
		if !e.cp.rec.late[d.Reference] {
			e.cp.rec.late[d.Reference] = true
			break
		}
		delete(e.cp.rec.late, d.Reference)
		e.cp.rec.dropNotify[d.Reference] = true
		e.cpSettleLocked(p, status)
	case "reverse":
		if err := need(); err != nil {
			return nil, err
		}
		if p.status != "SUCCESS" && p.status != "SETTLED" {
			return nil, fmt.Errorf("reverse: %q is %s, not SUCCESS", d.Reference, p.status)
		}
		p.status, p.message, p.updated = "REVERSED", "Reversed by the network", now
	case "foreign", "duplicate":
		amount, phone, at := d.Amount, d.Phone, d.At
		if d.Kind == "duplicate" {
			if err := need(); err != nil {
				return nil, err
			}
			amount, phone = p.amount, p.phone
		} else if p != nil {
			return nil, fmt.Errorf("foreign: orderReference %q is used", d.Reference)
		}
		if !cpReference.MatchString(d.Reference) || !positiveDecimal(amount) {
			return nil, fmt.Errorf("%s: needs an alphanumeric reference and an amount > 0", d.Kind)
		}
		if phone == "" {
			phone = "255712345670"
		}
		if at.IsZero() {
			at = now
		}
		np := &cpPayment{id: d.Reference + "LCP" + strings.ToUpper(randomHex(4)), orderRef: d.Reference, amount: amount,
			currency: "TZS", phone: phone, channel: cpChannel(phone), clientID: "sandbox", status: status, created: at, updated: at}
		if status == "SUCCESS" {
			np.message, np.paymentRef = "success", strings.ToLower(randomCode(10))
		}
		if d.Kind == "duplicate" {
			e.cp.rec.extra[d.Reference] = append(e.cp.rec.extra[d.Reference], np)
		} else {
			e.cp.payments[d.Reference] = np
		}
		e.cp.rec.addLocked(np)
		p = np
	case "forget":
		if err := need(); err != nil {
			return nil, err
		}
		delete(e.cp.payments, d.Reference)
		delete(e.cp.rec.extra, d.Reference)
		e.cp.rec.all = slices.DeleteFunc(e.cp.rec.all, func(x *cpPayment) bool { return x.orderRef == d.Reference })
		return map[string]any{"orderReference": d.Reference, "forgotten": true}, nil
	default:
		return nil, fmt.Errorf("unknown divergence kind %q (drop_notification, settle_amount, settle_late, reverse, foreign, duplicate, forget, payout_*)", d.Kind)
	}
	return cpItem(*p), nil
}

// cpSettleLocked settles p with status (SUCCESS or FAILED) now, with the
// amount a settle_amount divergence set; mu is held.
func (e *Emulator) cpSettleLocked(p *cpPayment, status string) {
	p.updated = e.now()
	if amt, ok := e.cp.rec.settleAmount[p.orderRef]; ok {
		p.amount = amt
		delete(e.cp.rec.settleAmount, p.orderRef)
	}
	if status == "FAILED" {
		p.status, p.message = "FAILED", "Cancelled by user"
		return
	}
	p.status, p.message = "SUCCESS", "success"
	p.paymentRef = strings.ToLower(randomCode(10))
}

// BulkPayments is a /_sandbox/clickpesa/bulk request: Count payments
// PrefixN (N from 1), of Amount TZS, in Status (SUCCESS), created evenly
// over [From, To). They are the provider's records only: no webhook is sent.
type BulkPayments struct {
	Count  int       `json:"count"`
	Prefix string    `json:"prefix"`
	Amount string    `json:"amount"`
	Status string    `json:"status,omitempty"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
}

// maxBulk bounds one bulk request.
const maxBulk = 1_000_000

// Bulk creates b's payments (see BulkPayments).
func (e *Emulator) Bulk(b BulkPayments) error {
	status := strings.ToUpper(b.Status)
	if status == "" {
		status = "SUCCESS"
	}
	switch {
	case b.Count < 1 || b.Count > maxBulk:
		return fmt.Errorf("count must be from 1 to %d", maxBulk)
	case !cpReference.MatchString(b.Prefix + "1"):
		return fmt.Errorf("prefix %q must be letters and digits", b.Prefix)
	case !positiveDecimal(b.Amount):
		return fmt.Errorf("amount %q must be a decimal > 0", b.Amount)
	case !b.To.After(b.From):
		return fmt.Errorf("to must be after from")
	}
	step := b.To.Sub(b.From) / time.Duration(b.Count)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 1; i <= b.Count; i++ {
		if _, used := e.cp.payments[b.Prefix+strconv.Itoa(i)]; used {
			return fmt.Errorf("orderReference %s%d is used", b.Prefix, i)
		}
	}
	for i := 1; i <= b.Count; i++ {
		ref := b.Prefix + strconv.Itoa(i)
		at := b.From.Add(time.Duration(i-1) * step).UTC()
		p := &cpPayment{id: ref + "LCP" + strconv.FormatInt(int64(i), 36), orderRef: ref, amount: b.Amount, currency: "TZS",
			phone: "255712345670", channel: "TIGO-PESA", clientID: "sandbox", status: status, created: at, updated: at}
		if status == "SUCCESS" {
			p.message, p.paymentRef = "success", "bulk"+strconv.Itoa(i)
		}
		e.cp.payments[ref] = p
		e.cp.rec.addLocked(p)
	}
	return nil
}

func (e *Emulator) handleDivergence(w http.ResponseWriter, r *http.Request) {
	var d Divergence
	if !decodeControl(w, r, &d) {
		return
	}
	item, err := e.Diverge(d)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	e.log.Info("sandbox clickpesa divergence", "kind", d.Kind, "order_reference", d.Reference)
	writeJSON(w, http.StatusOK, item)
}

func (e *Emulator) handleBulk(w http.ResponseWriter, r *http.Request) {
	var b BulkPayments
	if !decodeControl(w, r, &b) {
		return
	}
	if err := e.Bulk(b); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bulk: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"created": b.Count})
}

// decodeControl reads a control request's JSON body (bounded, no unknown
// fields) into v, or answers 400 and returns false.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid request: " + err.Error()})
		return false
	}
	return true
}

// cpPayoutsAll is GET /payouts/all: ClickPesa's list of payouts, with the
// same window, order and paging as cpPaymentsAll (startDate, endDate as
// whole EAT days, orderBy, skip, limit of at most cpMaxPageLimit) and the
// filters status, orderReference, currency and channel. Items are shaped
// as the payout query answers them.
func (e *Emulator) cpPayoutsAll(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	q := r.URL.Query()
	from, to, skip, limit, desc, err := cpListPage(q)
	if err != nil {
		cpMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	status, ref := strings.ToUpper(q.Get("status")), q.Get("orderReference")
	cur, channel := strings.ToUpper(q.Get("currency")), strings.ToUpper(q.Get("channel"))

	e.mu.Lock()
	window := make([]cpPayout, 0, len(e.cpo.payouts))
	for _, p := range e.cpo.payouts {
		if (!from.IsZero() && p.created.Before(from)) || (!to.IsZero() && !p.created.Before(to)) {
			continue
		}
		if (status == "" || p.status == status) && (ref == "" || p.orderRef == ref) && (cur == "" || p.currency == cur) &&
			(channel == "" || p.channel == channel) {
			window = append(window, *p)
		}
	}
	e.mu.Unlock()
	slices.SortStableFunc(window, func(a, b cpPayout) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.orderRef, b.orderRef)
	})
	if desc {
		slices.Reverse(window)
	}
	page := make([]map[string]any, 0, min(limit, max(len(window)-skip, 0)))
	for i := skip; i < len(window) && len(page) < limit; i++ {
		page = append(page, cpPayoutJSON(window[i], true))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": page, "totalCount": len(window)})
}
