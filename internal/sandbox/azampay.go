package sandbox

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/azampay"
)

// AzamPay (docs/providers/azampay.md). Token failures answer HTTP 423 with the
// documented body; a missing, unknown or expired bearer token answers 401 with
// an empty body and WWW-Authenticate (as ASP.NET does); a missing X-API-Key on
// checkout answers 401 {"success":false,"message":...}; field validation
// answers 400 problem-details with `errors`.

const azampayTokenLifetime = time.Hour

var (
	azPhone     = regexp.MustCompile(`^(0|255)[67]\d{8}$`)
	azProviders = map[string]bool{"Airtel": true, "Tigo": true, "Halopesa": true, "Azampesa": true, "Mpesa": true}
)

type azampayState struct {
	txns       map[string]*azTxn // by transactionId
	byExternal map[string]string // externalId -> transactionId
	div        slowDivergences   // by externalId (recon_divergence.go)
}

func (s *azampayState) init() {
	s.txns = make(map[string]*azTxn)
	s.byExternal = make(map[string]string)
	s.div.init()
}

type azTxn struct {
	id           string
	externalID   string
	msisdn       string
	amount       string
	currency     string
	operator     string
	clientID     string
	additional   json.RawMessage
	status       string // pending, success, failure
	message      string
	mnoReference string
	created      time.Time
	updated      time.Time
	outcome      outcome
}

func (e *Emulator) routesAzamPay(mux *http.ServeMux) {
	mux.HandleFunc("POST /azampay-auth/AppRegistration/GenerateToken", e.azToken)
	mux.HandleFunc("GET /azampay-auth/api/Token/PublicKey", e.azAuth(false, e.azPublicKey))
	mux.HandleFunc("GET /azampay/azampay/v1/public-key", e.azAuth(false, e.azPublicKey))
	mux.HandleFunc("POST /azampay/azampay/mno/checkout", e.azAuth(true, func(w http.ResponseWriter, r *http.Request, tok tokenInfo) {
		e.azCheckout(w, r, tok, true)
	}))
	// The newer swagger path: same body without provider (inferred from the number).
	mux.HandleFunc("POST /azampay/api/v1/checkout/checkoutmno", e.azAuth(true, func(w http.ResponseWriter, r *http.Request, tok tokenInfo) {
		e.azCheckout(w, r, tok, false)
	}))
	mux.HandleFunc("GET /azampay/api/v1/Partner/GetPaymentPartners", e.azAuth(false, e.azPartners))
	mux.HandleFunc("GET /azampay/api/v1/partner/gettransactionstatus", e.azAuth(false, e.azStatusByID))
	mux.HandleFunc("GET /azampay/azampay/transaction/query", e.azAuth(false, e.azStatusByExternalID))
}

type azAuthed func(w http.ResponseWriter, r *http.Request, tok tokenInfo)

// azAuth requires a live AzamPay bearer token and, with apiKey, an X-API-Key.
func (e *Emulator) azAuth(apiKey bool, next azAuthed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info, ok := e.checkBearer(r, providerAzamPay)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if k := r.Header.Get("X-API-Key"); k == "invalid" || (apiKey && k == "") {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"success": false, "message": "Invalid or missing X-API-Key"})
			return
		}
		next(w, r, info)
	}
}

func azProblem(w http.ResponseWriter, errs map[string][]string) {
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := compactJSON(map[string]any{
		"type":    "https://tools.ietf.org/html/rfc7231#section-6.5.1",
		"title":   "One or more validation errors occurred.",
		"status":  400,
		"traceId": "00-" + randomHex(32) + "-" + randomHex(16) + "-00",
		"errors":  errs,
	})
	_, _ = w.Write(b)
}

func (e *Emulator) azToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppName      string `json:"appName"`
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		azProblem(w, map[string][]string{"$": {"The request body is not valid JSON."}})
		return
	}
	errs := map[string][]string{}
	for name, v := range map[string]string{"AppName": req.AppName, "ClientId": req.ClientID, "ClientSecret": req.ClientSecret} {
		if v == "" {
			errs[name] = []string{"The " + name + " field is required."}
		}
	}
	if len(errs) > 0 {
		azProblem(w, errs)
		return
	}
	if req.AppName == "invalid" || req.ClientID == "invalid" || req.ClientSecret == "invalid" || r.Header.Get("X-API-Key") == "invalid" {
		writeJSON(w, http.StatusLocked, map[string]any{
			"data":       nil,
			"message":    "Provided detail is not valid for this app or secret key has been expired",
			"success":    false,
			"statusCode": http.StatusLocked,
		})
		return
	}
	tok, exp := e.issueToken(providerAzamPay, azampayTokenLifetime, req.ClientID)
	writeJSON(w, http.StatusOK, map[string]any{
		"data":       map[string]any{"accessToken": tok, "expire": exp.UTC().Format(time.RFC3339)},
		"message":    "Token generated successfully",
		"success":    true,
		"statusCode": http.StatusOK,
	})
}

func (e *Emulator) azPublicKey(w http.ResponseWriter, _ *http.Request, _ tokenInfo) {
	writeJSON(w, http.StatusOK, map[string]any{"publicKey": string(e.pubPEM), "success": true})
}

func (e *Emulator) azPartners(w http.ResponseWriter, _ *http.Request, _ tokenInfo) {
	partners := []struct {
		name, vendor string
		provider     int
		vendorID     string
		partnerID    string
	}{
		{"Azampesa", "AzamPesa", 5, "2b6d9fb0-6c0f-4f0c-9d4e-0a7f5a1c0e01", "8f2a3c1e-1b1d-4c55-9a0e-0a7f5a1c0e01"},
		{"Airtel", "Airtel Money", 2, "2b6d9fb0-6c0f-4f0c-9d4e-0a7f5a1c0e02", "8f2a3c1e-1b1d-4c55-9a0e-0a7f5a1c0e02"},
		{"Halopesa", "HaloPesa", 4, "2b6d9fb0-6c0f-4f0c-9d4e-0a7f5a1c0e03", "8f2a3c1e-1b1d-4c55-9a0e-0a7f5a1c0e03"},
		{"Tigopesa", "Mixx by Yas", 3, "2b6d9fb0-6c0f-4f0c-9d4e-0a7f5a1c0e04", "8f2a3c1e-1b1d-4c55-9a0e-0a7f5a1c0e04"},
		{"vodacom", "M-Pesa", 10, "2b6d9fb0-6c0f-4f0c-9d4e-0a7f5a1c0e05", "8f2a3c1e-1b1d-4c55-9a0e-0a7f5a1c0e05"},
	}
	out := make([]map[string]any, 0, len(partners))
	for i, p := range partners {
		out = append(out, map[string]any{
			"id":                          i + 1,
			"logoUrl":                     "https://sandbox.azampay.co.tz/logos/" + p.name + ".png",
			"partnerName":                 p.name,
			"provider":                    p.provider,
			"vendorName":                  p.vendor,
			"paymentVendorId":             p.vendorID,
			"paymentPartnerId":            p.partnerID,
			"paymentAcknowledgementRoute": "",
			"currency":                    "TZS",
			"status":                      "1",
			"vendorType":                  "MNO",
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// azOperator infers the network from a 07…/2557… number (newer checkout
// path) with the client's own table; a number of no known network is
// Azampesa.
func azOperator(phone string) string {
	if m := azampay.InferMNO(phone); m != "" {
		return m
	}
	return azampay.MNOAzampesa
}

func (e *Emulator) azCheckout(w http.ResponseWriter, r *http.Request, tok tokenInfo, needProvider bool) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		azProblem(w, map[string][]string{"$": {"The request body is not valid JSON."}})
		return
	}
	str := func(k string) (string, bool) {
		v, ok := raw[k]
		if !ok {
			return "", false
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false
		}
		return s, true
	}
	errs := map[string][]string{}
	account, ok := str("accountNumber")
	if !ok || !azPhone.MatchString(account) {
		errs["AccountNumber"] = []string{"The AccountNumber field must be a mobile number such as 0713123456 or 255713123456."}
	}
	amount, ok := str("amount")
	if !ok || !positiveDecimal(amount) {
		errs["Amount"] = []string{"The Amount field must be a string holding a number greater than 0."}
	}
	currency, ok := str("currency")
	if !ok || currency != "TZS" {
		errs["Currency"] = []string{"The Currency field must be TZS."}
	}
	externalID, ok := str("externalId")
	if !ok || externalID == "" || len(externalID) > 128 || !isASCII(externalID) {
		errs["ExternalId"] = []string{"The ExternalId field is required: at most 128 ASCII characters."}
	}
	provider, ok := str("provider")
	if !needProvider && !ok {
		provider, ok = azOperator(account), true
	}
	if !ok || !azProviders[provider] {
		errs["Provider"] = []string{"The Provider field must be one of Airtel, Tigo, Halopesa, Azampesa, Mpesa."}
	}
	additional := raw["additionalProperties"]
	if len(additional) > 0 && additional[0] != '{' && string(additional) != "null" {
		errs["AdditionalProperties"] = []string{"The AdditionalProperties field must be an object."}
	}
	if len(errs) > 0 {
		azProblem(w, errs)
		return
	}
	oc := outcomeFor(account)
	if oc == outcomeServerError {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"success": false, "message": "Internal server error"})
		return
	}
	now := e.now()
	t := &azTxn{
		id: randomHex(32), externalID: externalID, msisdn: account, amount: amount, currency: currency,
		operator: provider, clientID: tok.clientID, additional: additional, status: "pending",
		created: now, updated: now, outcome: oc,
	}
	e.mu.Lock()
	if _, dup := e.az.byExternal[externalID]; dup {
		e.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "transactionId": nil, "message": "Duplicate externalId"})
		return
	}
	e.az.txns[t.id] = t
	e.az.byExternal[externalID] = t.id
	delay := time.Duration(e.settings.Delay)
	slow := time.Duration(e.settings.SlowAnswer)
	e.mu.Unlock()
	e.after(delay, func(context.Context) { e.azCustomerAnswers(t.id) })
	if oc == outcomeSlow && !e.slowAnswer(w, r, slow) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":       true,
		"transactionId": t.id,
		"message":       "Your request has been received and is being processed.",
	})
}

func (e *Emulator) azCustomerAnswers(id string) {
	e.mu.Lock()
	t := e.az.txns[id]
	if t == nil || t.status != "pending" {
		e.mu.Unlock()
		return
	}
	t.updated = e.now()
	switch t.outcome {
	case outcomeInsufficent:
		t.status, t.message = "failure", "Insufficient balance"
	case outcomeCancelled:
		t.status, t.message = "failure", "Cancelled by user"
	default:
		t.status, t.message = "success", "Transaction successful"
		t.mnoReference = "MP" + t.updated.UTC().Format("060102.1504") + "." + randomCode(6)
	}
	amount, drop := e.az.div.settle(t.externalID, t.amount)
	t.amount = amount
	if !drop {
		e.azQueueCallbackLocked(t, t.outcome.notifications())
	}
	e.mu.Unlock()
}

// azQueueCallbackLocked queues t's signed callback n times; mu is held.
func (e *Emulator) azQueueCallbackLocked(t *azTxn, n int) {
	if n == 0 {
		return
	}
	body, err := e.azCallbackBody(*t)
	if err != nil {
		e.log.Error("sandbox azampay callback not built", "external_id", t.externalID, "err", err)
		return
	}
	nt := notification{provider: providerAzamPay, method: http.MethodPost, url: e.settings.AzamPayCallback, body: body,
		contentType: "application/json", ack: func(status int, _ []byte) bool { return status == http.StatusOK },
		what: "callback " + t.externalID}
	for range n {
		e.deliver(nt)
	}
}

// azSignedMessage is what the callback signature covers: the plain
// concatenation utilityref + externalreference + transactionstatus + operator.
func azSignedMessage(utilityref, externalreference, transactionstatus, operator string) []byte {
	return []byte(utilityref + externalreference + transactionstatus + operator)
}

func (e *Emulator) azCallbackBody(t azTxn) ([]byte, error) {
	digest := sha256.Sum256(azSignedMessage(t.externalID, t.id, t.status, t.operator))
	sig, err := rsa.SignPKCS1v15(nil, e.key, crypto.SHA256, digest[:])
	if err != nil {
		return nil, err
	}
	var additional any
	if len(t.additional) > 0 {
		additional = t.additional
	}
	var mno any
	if t.mnoReference != "" {
		mno = t.mnoReference
	}
	body := map[string]any{
		"msisdn":               t.msisdn,
		"amount":               t.amount,
		"message":              t.message,
		"utilityref":           t.externalID,
		"operator":             t.operator,
		"reference":            t.id,
		"externalreference":    t.id,
		"transid":              t.id,
		"mnoreference":         mno,
		"transactionstatus":    t.status,
		"submerchantAcc":       nil,
		"fspReferenceId":       nil,
		"clientId":             t.clientID,
		"additionalProperties": additional,
		"signature":            base64.StdEncoding.EncodeToString(sig),
	}
	if e.settings.AzamPayUnsigned {
		delete(body, "signature")
	}
	return compactJSON(body)
}

// azStatusBody is the collection status answer: the callback's fields under
// data, in the {data, message, success, statusCode} envelope.
func azStatusBody(t azTxn) map[string]any {
	var mno any
	if t.mnoReference != "" {
		mno = t.mnoReference
	}
	return map[string]any{
		"data": map[string]any{
			"transactionId":     t.id,
			"externalId":        t.externalID,
			"utilityref":        t.externalID,
			"reference":         t.id,
			"msisdn":            t.msisdn,
			"amount":            t.amount,
			"currency":          t.currency,
			"operator":          t.operator,
			"mnoreference":      mno,
			"transactionstatus": t.status,
			"message":           t.message,
			"createdAt":         t.created.UTC().Format(time.RFC3339),
			"updatedAt":         t.updated.UTC().Format(time.RFC3339),
		},
		"message":    "Transaction status retrieved successfully",
		"success":    true,
		"statusCode": http.StatusOK,
	}
}

func (e *Emulator) azStatus(w http.ResponseWriter, id string) {
	e.mu.Lock()
	t := e.az.txns[id]
	var c azTxn
	if t != nil {
		c = *t
	}
	e.mu.Unlock()
	if t == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"data": nil, "message": "Transaction not found", "success": false, "statusCode": http.StatusNotFound})
		return
	}
	writeJSON(w, http.StatusOK, azStatusBody(c))
}

func (e *Emulator) azStatusByID(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	e.azStatus(w, r.URL.Query().Get("transactionId"))
}

func (e *Emulator) azStatusByExternalID(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	e.mu.Lock()
	id := e.az.byExternal[r.URL.Query().Get("externalId")]
	e.mu.Unlock()
	e.azStatus(w, id)
}
