package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
)

// ClickPesa (docs/providers/clickpesa.md). Errors are {"message": "..."} with the HTTP
// status of the OpenAPI tables; a request without a valid checksum (when a
// checksum key is set) is 400 {"message":"Invalid checksum"}.

const (
	checksumCanonical = clickpesa.MethodCanonical
	checksumLegacy    = clickpesa.MethodLegacy
)

const clickpesaTokenLifetime = time.Hour

var (
	cpReference = regexp.MustCompile(`^[A-Za-z0-9]{1,50}$`)
	cpPhone     = regexp.MustCompile(`^255[67]\d{8}$`)
)

type clickpesaState struct {
	payments map[string]*cpPayment // by orderReference
	rec      cpRecords             // lists, duplicates, divergences (clickpesa_recon.go)
}

func (s *clickpesaState) init() {
	s.payments = make(map[string]*cpPayment)
	s.rec.init()
}

type cpPayment struct {
	id         string
	orderRef   string
	amount     string
	currency   string
	phone      string
	channel    string
	clientID   string
	status     string // PROCESSING, SUCCESS, FAILED
	message    string
	paymentRef string
	created    time.Time
	updated    time.Time
	outcome    outcome
}

func cpTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func cpMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func (e *Emulator) routesClickPesa(mux *http.ServeMux) {
	mux.HandleFunc("POST /clickpesa/third-parties/generate-token", e.cpToken)
	mux.HandleFunc("POST /clickpesa/third-parties/payments/preview-ussd-push-request", e.cpAuth(e.cpPreview))
	mux.HandleFunc("POST /clickpesa/third-parties/payments/initiate-ussd-push-request", e.cpAuth(e.cpInitiate))
	mux.HandleFunc("GET /clickpesa/third-parties/payments/{orderReference}", e.cpAuth(e.cpQuery))
	mux.HandleFunc("GET /clickpesa/third-parties/payments/all", e.cpAuth(e.cpPaymentsAll))
	mux.HandleFunc("GET /clickpesa/third-parties/account/statement", e.cpAuth(e.cpStatement))
	e.routesClickPesaPayouts(mux)
}

type cpAuthed func(w http.ResponseWriter, r *http.Request, tok tokenInfo)

func (e *Emulator) cpAuth(next cpAuthed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info, ok := e.checkBearer(r, providerClickPesa)
		if !ok {
			cpMessage(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		next(w, r, info)
	}
}

func (e *Emulator) cpToken(w http.ResponseWriter, r *http.Request) {
	id, key := r.Header.Get("client-id"), r.Header.Get("api-key")
	switch {
	case id == "" || key == "":
		cpMessage(w, http.StatusUnauthorized, "Unauthorized")
		return
	case id == "invalid" || key == "invalid":
		cpMessage(w, http.StatusForbidden, "Invalid client details")
		return
	}
	tok, _ := e.issueToken(providerClickPesa, clickpesaTokenLifetime, id)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "token": "Bearer " + tok})
}

type cpPushRequest struct {
	Amount             json.RawMessage `json:"amount"`
	Currency           string          `json:"currency"`
	OrderReference     string          `json:"orderReference"`
	PhoneNumber        string          `json:"phoneNumber"`
	FetchSenderDetails bool            `json:"fetchSenderDetails"`
}

// cpVerifyChecksum enforces the request checksum when a key is set. The
// method is the body's checksumMethod, else the configured method.
func (e *Emulator) cpVerifyChecksum(body []byte) bool {
	s := e.Settings()
	if s.ClickPesaChecksumKey == "" {
		return true
	}
	var head struct {
		Checksum       string `json:"checksum"`
		ChecksumMethod string `json:"checksumMethod"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.Checksum == "" {
		return false
	}
	method := strings.ToLower(head.ChecksumMethod)
	if method == "" {
		method = s.ClickPesaChecksumMethod
	}
	want, err := clickpesa.Checksum(method, []byte(s.ClickPesaChecksumKey), body)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(want), []byte(strings.ToLower(head.Checksum)))
}

// cpValidate decodes and checks a push request; it writes the error answer
// and returns false when the request is refused.
func (e *Emulator) cpValidate(w http.ResponseWriter, r *http.Request, initiate bool) (cpPushRequest, string, bool) {
	var req cpPushRequest
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	dec := json.NewDecoder(bytes.NewReader(body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		cpMessage(w, http.StatusBadRequest, "Invalid request body")
		return req, "", false
	}
	if !e.cpVerifyChecksum(body.Bytes()) {
		cpMessage(w, http.StatusBadRequest, "Invalid checksum")
		return req, "", false
	}
	amount, amountOK := stringAmount(req.Amount)
	switch {
	case !cpReference.MatchString(req.OrderReference):
		cpMessage(w, http.StatusBadRequest, "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank")
		return req, "", false
	case !amountOK:
		cpMessage(w, http.StatusBadRequest, "Invalid amount, should be a numeric string greater than 0")
		return req, "", false
	case req.Currency != "TZS":
		cpMessage(w, http.StatusBadRequest, "Invalid currency, only TZS is supported")
		return req, "", false
	case (initiate || req.PhoneNumber != "") && !cpPhone.MatchString(req.PhoneNumber):
		cpMessage(w, http.StatusBadRequest, "Invalid / unsupported phone number")
		return req, "", false
	}
	e.mu.Lock()
	_, used := e.cp.payments[req.OrderReference]
	e.mu.Unlock()
	if used {
		cpMessage(w, http.StatusConflict, fmt.Sprintf("Order reference %s already used: Create a different reference", req.OrderReference))
		return req, "", false
	}
	return req, amount, true
}

// stringAmount accepts a JSON string holding a decimal number > 0.
func stringAmount(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, positiveDecimal(s)
}

// cpChannel guesses the mobile network from a 2557… / 2556… number.
func cpChannel(phone string) string {
	if len(phone) < 5 {
		return "TIGO-PESA"
	}
	switch phone[3:5] {
	case "74", "75", "76":
		return "M-PESA"
	case "68", "69", "78":
		return "AIRTEL-MONEY"
	case "61", "62":
		return "HALOPESA"
	}
	return "TIGO-PESA"
}

func (e *Emulator) cpPreview(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	req, amount, ok := e.cpValidate(w, r, false)
	if !ok {
		return
	}
	fee := int64(0)
	if v, ok := new(big.Rat).SetString(amount); ok {
		f, _ := new(big.Rat).Mul(v, big.NewRat(15, 1000)).Float64()
		fee = int64(f + 0.5)
	}
	methods := []map[string]any{}
	for _, name := range []string{"TIGO-PESA", "M-PESA", "AIRTEL-MONEY", "HALOPESA"} {
		methods = append(methods, map[string]any{"name": name, "status": "AVAILABLE", "fee": fee})
	}
	resp := map[string]any{"activeMethods": methods}
	if req.FetchSenderDetails && req.PhoneNumber != "" {
		resp["sender"] = map[string]any{"accountName": "Sandbox Customer", "accountNumber": req.PhoneNumber,
			"accountProvider": cpChannel(req.PhoneNumber)}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) cpInitiate(w http.ResponseWriter, r *http.Request, tok tokenInfo) {
	req, amount, ok := e.cpValidate(w, r, true)
	if !ok {
		return
	}
	oc := outcomeFor(req.PhoneNumber)
	if oc == outcomeServerError {
		cpMessage(w, http.StatusInternalServerError, "Error validating fee, try again later")
		return
	}
	now := e.now()
	p := &cpPayment{
		id:       req.OrderReference + "LCP" + strings.ToUpper(randomHex(4)),
		orderRef: req.OrderReference,
		amount:   amount,
		currency: req.Currency,
		phone:    req.PhoneNumber,
		channel:  cpChannel(req.PhoneNumber),
		clientID: tok.clientID,
		status:   "PROCESSING",
		created:  now,
		updated:  now,
		outcome:  oc,
	}
	e.mu.Lock()
	if _, used := e.cp.payments[p.orderRef]; used {
		e.mu.Unlock()
		cpMessage(w, http.StatusConflict, fmt.Sprintf("Order reference %s already used: Create a different reference", p.orderRef))
		return
	}
	e.cp.payments[p.orderRef] = p
	e.cp.rec.addLocked(p)
	delay := time.Duration(e.settings.Delay)
	slow := time.Duration(e.settings.SlowAnswer)
	e.mu.Unlock()
	e.after(delay, func(context.Context) { e.cpCustomerAnswers(p.orderRef) })
	if oc == outcomeSlow && !e.slowAnswer(w, r, slow) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                p.id,
		"status":            "PROCESSING",
		"channel":           p.channel,
		"orderReference":    p.orderRef,
		"collectedAmount":   p.amount,
		"collectedCurrency": p.currency,
		"createdAt":         cpTime(p.created),
		"clientId":          p.clientID,
	})
}

func (e *Emulator) cpCustomerAnswers(ref string) {
	e.mu.Lock()
	p := e.cp.payments[ref]
	if p == nil || p.status != "PROCESSING" {
		e.mu.Unlock()
		return
	}
	if e.cp.rec.late[ref] {
		e.mu.Unlock() // settles when a settle_late divergence says so
		return
	}
	switch p.outcome {
	case outcomeInsufficent:
		e.cpSettleLocked(p, "FAILED")
		p.message = "Insufficient balance"
	case outcomeCancelled:
		e.cpSettleLocked(p, "FAILED")
	default:
		e.cpSettleLocked(p, "SUCCESS")
	}
	n := p.outcome.notifications()
	if e.cp.rec.dropNotify[ref] {
		delete(e.cp.rec.dropNotify, ref)
		n = 0
	}
	e.cpQueueWebhookLocked(p, n)
	e.mu.Unlock()
}

// cpQueueWebhookLocked queues p's webhook n times; mu is held.
func (e *Emulator) cpQueueWebhookLocked(p *cpPayment, n int) {
	if n == 0 {
		return
	}
	body, err := cpWebhookBody(*p, e.settings)
	if err != nil {
		e.log.Error("sandbox clickpesa webhook not built", "order_reference", p.orderRef, "err", err)
		return
	}
	nt := notification{provider: providerClickPesa, method: http.MethodPost, url: e.settings.ClickPesaWebhook, body: body,
		contentType: "application/json", ack: ack2xx, what: "webhook " + p.orderRef}
	for range n {
		e.deliver(nt)
	}
}

// cpWebhookBody builds {"event","data"} and, when a checksum key is set, the
// top-level checksum and checksumMethod computed over {"event","data"}.
func cpWebhookBody(p cpPayment, s Settings) ([]byte, error) {
	data := map[string]any{
		"id":             p.id,
		"status":         p.status,
		"orderReference": p.orderRef,
		"message":        p.message,
		"channel":        p.channel,
		"createdAt":      cpTime(p.created),
		"updatedAt":      cpTime(p.updated),
	}
	event := "PAYMENT FAILED"
	if p.status == "SUCCESS" {
		event = "PAYMENT RECEIVED"
		data["paymentReference"] = p.paymentRef
		data["collectedAmount"] = p.amount
		data["collectedCurrency"] = p.currency
		data["customer"] = map[string]any{"customerName": "Sandbox Customer", "customerEmail": nil, "customerPhoneNumber": p.phone}
	} else {
		data["clientId"] = p.clientID
	}
	return cpSignedBody(map[string]any{"event": event, "data": data}, s)
}

// cpSignedBody encodes a webhook body and, when a checksum key is set, adds
// the top-level checksum and checksumMethod computed over the rest.
func cpSignedBody(body map[string]any, s Settings) ([]byte, error) {
	if s.ClickPesaChecksumKey != "" {
		payload, err := compactJSON(body)
		if err != nil {
			return nil, err
		}
		method := s.ClickPesaChecksumMethod
		if method == "" {
			method = checksumCanonical
		}
		sum, err := clickpesa.Checksum(method, []byte(s.ClickPesaChecksumKey), payload)
		if err != nil {
			return nil, fmt.Errorf("checksum webhook: %w", err)
		}
		body["checksum"] = sum
		body["checksumMethod"] = method
	}
	return compactJSON(body)
}

func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (e *Emulator) cpQuery(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	ref := r.PathValue("orderReference")
	e.mu.Lock()
	var items []map[string]any
	if p := e.cp.payments[ref]; p != nil {
		items = append(items, cpItem(*p))
		for _, x := range e.cp.rec.extra[ref] {
			items = append(items, cpItem(*x))
		}
	}
	e.mu.Unlock()
	if len(items) == 0 {
		cpMessage(w, http.StatusNotFound, "Invalid or missing payment: "+ref)
		return
	}
	writeJSON(w, http.StatusOK, items)
}
