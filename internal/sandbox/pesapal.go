package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// PesaPal API 3.0 (docs/providers/pesapal.md). Business rejections answer HTTP 200
// with the body's string `status` ≠ "200" (as observed); authentication
// failures answer HTTP 401; a pending GetTransactionStatus answers HTTP 500
// with status_code 0 and error.code payment_details_not_found (as observed).

const pesapalTokenLifetime = 5 * time.Minute

// PesaPalRedirectPath is the hosted payment page stub; redirect_url is
// URL() + this + the order tracking id.
const PesaPalRedirectPath = "/pesapal/pesapaliframe/PesapalIframe3/Index/?OrderTrackingId="

const (
	ppPending   = 0 // INVALID + payment_details_not_found
	ppCompleted = 1
	ppFailed    = 2
	ppReversed  = 3
)

var ppReference = regexp.MustCompile(`^[A-Za-z0-9\-_.:]{1,50}$`)
var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

type pesapalState struct {
	ipns     map[string]*ppIPN
	ipnOrder []string
	orders   map[string]*ppOrder // by order_tracking_id
	byRef    map[string]string   // merchant reference -> tracking id
	byCode   map[string]string   // confirmation code -> tracking id
	div      slowDivergences     // by merchant reference (recon_divergence.go)
}

func (s *pesapalState) init() {
	s.ipns = make(map[string]*ppIPN)
	s.orders = make(map[string]*ppOrder)
	s.byRef = make(map[string]string)
	s.byCode = make(map[string]string)
	s.div.init()
}

type ppIPN struct {
	id      string
	url     string
	method  string // GET | POST
	created time.Time
}

type ppOrder struct {
	trackingID     string
	ref            string
	currency       string
	amount         json.Number
	description    string
	callbackURL    string
	notificationID string
	phone          string
	created        time.Time
	outcome        outcome

	statusCode        int
	paymentMethod     string
	confirmationCode  string
	paymentAccount    string
	statusDescription string // human text ("Insufficient funds")
	paymentStatusCode string // e.g. request_terminated_by_user
	cancelled         bool
	refundRequested   bool
}

func ppTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func ppErr(code, msg string) map[string]any {
	return map[string]any{"error_type": "api_error", "code": code, "message": msg, "call_back_url": nil}
}

func (e *Emulator) routesPesaPal(mux *http.ServeMux) {
	mux.HandleFunc("POST /pesapal/api/Auth/RequestToken", e.ppRequestToken)
	mux.HandleFunc("POST /pesapal/api/URLSetup/RegisterIPN", e.ppAuth(e.ppRegisterIPN))
	mux.HandleFunc("GET /pesapal/api/URLSetup/GetIpnList", e.ppAuth(e.ppGetIpnList))
	mux.HandleFunc("POST /pesapal/api/Transactions/SubmitOrderRequest", e.ppAuth(e.ppSubmitOrder))
	mux.HandleFunc("GET /pesapal/api/Transactions/GetTransactionStatus", e.ppAuth(e.ppGetStatus))
	mux.HandleFunc("POST /pesapal/api/Transactions/RefundRequest", e.ppAuth(e.ppRefund))
	mux.HandleFunc("POST /pesapal/api/Transactions/CancelOrder", e.ppAuth(e.ppCancel))
	mux.HandleFunc("GET /pesapal/pesapaliframe/PesapalIframe3/Index/", e.ppHostedPage)
	mux.HandleFunc("GET /pesapal/pesapaliframe/PesapalIframe3/Index", e.ppHostedPage)
}

// ppAuth answers 401 unless a live PesaPal token is presented.
func (e *Emulator) ppAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := e.checkBearer(r, providerPesaPal); !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{
				"error":   ppErr("invalid_access_token", "Access token is missing, invalid or expired"),
				"status":  "401",
				"message": "Unauthorized",
			})
			return
		}
		next(w, r)
	}
}

func ppDecode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func ppBadJSON(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"error":   ppErr("invalid_request_body", "The request body is not valid JSON: "+err.Error()),
		"status":  "400",
		"message": "Bad request",
	})
}

func (e *Emulator) ppRequestToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ConsumerKey    string `json:"consumer_key"`
		ConsumerSecret string `json:"consumer_secret"`
	}
	if err := ppDecode(r, &req); err != nil {
		ppBadJSON(w, err)
		return
	}
	if req.ConsumerKey == "" || req.ConsumerSecret == "" || req.ConsumerKey == "invalid" || req.ConsumerSecret == "invalid" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"token":      nil,
			"expiryDate": nil,
			"error":      ppErr("invalid_consumer_key_or_secret_provided", "Invalid consumer_key or consumer_secret provided"),
			"status":     "500",
			"message":    "Invalid consumer_key or consumer_secret provided",
		})
		return
	}
	tok, exp := e.issueToken(providerPesaPal, pesapalTokenLifetime, "")
	writeJSON(w, http.StatusOK, map[string]any{
		"token":      tok,
		"expiryDate": ppTime(exp),
		"error":      nil,
		"status":     "200",
		"message":    "Request processed successfully",
	})
}

func ipnTypeCode(method string) int {
	if method == http.MethodPost {
		return 1
	}
	return 0
}

func (e *Emulator) ppRegisterIPN(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL                 string `json:"url"`
		IPNNotificationType string `json:"ipn_notification_type"`
	}
	if err := ppDecode(r, &req); err != nil {
		ppBadJSON(w, err)
		return
	}
	method := strings.ToUpper(strings.TrimSpace(req.IPNNotificationType))
	var bad map[string]any
	switch {
	case !isHTTPURL(req.URL):
		bad = ppErr("invalid_ipn_url", "url must be an absolute http or https URL")
	case method != http.MethodGet && method != http.MethodPost:
		bad = ppErr("invalid_ipn_notification_type", "ipn_notification_type must be GET or POST")
	}
	if bad != nil {
		writeJSON(w, http.StatusOK, map[string]any{"url": req.URL, "error": bad, "status": "400", "message": bad["message"]})
		return
	}
	ipn := &ppIPN{id: newGUID(), url: req.URL, method: method, created: e.now()}
	e.mu.Lock()
	e.pp.ipns[ipn.id] = ipn
	e.pp.ipnOrder = append(e.pp.ipnOrder, ipn.id)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"url":                               ipn.url,
		"created_date":                      ppTime(ipn.created),
		"ipn_id":                            ipn.id,
		"notification_type":                 ipnTypeCode(ipn.method),
		"ipn_notification_type_description": ipn.method,
		"ipn_status":                        1,
		"ipn_status_decription":             "Active",
		"error":                             nil,
		"status":                            "200",
		"message":                           "Request processed successfully",
	})
}

func (e *Emulator) ppGetIpnList(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	list := make([]map[string]any, 0, len(e.pp.ipnOrder))
	for _, id := range e.pp.ipnOrder {
		ipn := e.pp.ipns[id]
		list = append(list, map[string]any{
			"url":                               ipn.url,
			"created_date":                      ppTime(ipn.created),
			"ipn_id":                            ipn.id,
			"notification_type":                 ipnTypeCode(ipn.method),
			"ipn_notification_type_description": ipn.method,
			"ipn_status":                        1,
			"ipn_status_decription":             "Active",
			"error":                             nil,
			"status":                            "200",
		})
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}

type ppSubmitRequest struct {
	ID              string          `json:"id"`
	Currency        string          `json:"currency"`
	Amount          json.RawMessage `json:"amount"`
	Description     string          `json:"description"`
	CallbackURL     string          `json:"callback_url"`
	RedirectMode    string          `json:"redirect_mode"`
	CancellationURL string          `json:"cancellation_url"`
	NotificationID  string          `json:"notification_id"`
	Branch          string          `json:"branch"`
	BillingAddress  *struct {
		EmailAddress string `json:"email_address"`
		PhoneNumber  string `json:"phone_number"`
	} `json:"billing_address"`
}

// positiveNumber reports whether raw is a JSON number literal > 0.
func positiveNumber(raw json.RawMessage) (json.Number, bool) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s[0] == '"' {
		return "", false
	}
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", false
	}
	return n, positiveDecimal(n.String())
}

var plainDecimal = regexp.MustCompile(`^\d{1,15}(\.\d{1,6})?$`)

// positiveDecimal reports whether s is a plain decimal number ("1500.00") > 0.
func positiveDecimal(s string) bool {
	if !plainDecimal.MatchString(s) {
		return false
	}
	v, ok := new(big.Rat).SetString(s)
	return ok && v.Sign() > 0
}

func (e *Emulator) ppSubmitOrder(w http.ResponseWriter, r *http.Request) {
	var req ppSubmitRequest
	if err := ppDecode(r, &req); err != nil {
		ppBadJSON(w, err)
		return
	}
	reject := func(httpStatus int, status, code, msg string) {
		writeJSON(w, httpStatus, map[string]any{
			"order_tracking_id":  nil,
			"merchant_reference": req.ID,
			"redirect_url":       nil,
			"error":              ppErr(code, msg),
			"status":             status,
			"message":            msg,
		})
	}
	amount, amountOK := positiveNumber(req.Amount)
	switch {
	case !ppReference.MatchString(req.ID):
		reject(http.StatusOK, "400", "invalid_merchant_reference",
			"id is required, at most 50 characters of letters, digits, '-', '_', '.' and ':'")
		return
	case !currencyCode.MatchString(req.Currency):
		reject(http.StatusOK, "400", "invalid_currency", "currency must be an ISO-4217 code such as KES")
		return
	case !amountOK:
		reject(http.StatusOK, "400", "invalid_amount", "amount must be a JSON number greater than zero")
		return
	case req.Description == "" || len([]rune(req.Description)) > 100:
		reject(http.StatusOK, "400", "invalid_description", "description is required and at most 100 characters")
		return
	case !isHTTPURL(req.CallbackURL):
		reject(http.StatusOK, "400", "invalid_callback_url", "callback_url must be an absolute http or https URL")
		return
	case req.CancellationURL != "" && !isHTTPURL(req.CancellationURL):
		reject(http.StatusOK, "400", "invalid_cancellation_url", "cancellation_url must be an absolute http or https URL")
		return
	case req.RedirectMode != "" && req.RedirectMode != "TOP_WINDOW" && req.RedirectMode != "PARENT_WINDOW":
		reject(http.StatusOK, "400", "invalid_redirect_mode", "redirect_mode must be TOP_WINDOW or PARENT_WINDOW")
		return
	case req.BillingAddress == nil || (req.BillingAddress.EmailAddress == "" && req.BillingAddress.PhoneNumber == ""):
		reject(http.StatusOK, "400", "invalid_billing_address", "billing_address needs an email_address or a phone_number")
		return
	}
	phone := digitsOnly(req.BillingAddress.PhoneNumber)
	oc := outcomeFor(phone)
	if oc == outcomeServerError {
		reject(http.StatusInternalServerError, "500", "internal_server_error", "An error occurred while processing your request")
		return
	}
	o := &ppOrder{
		trackingID:     newGUID(),
		ref:            req.ID,
		currency:       req.Currency,
		amount:         amount,
		description:    req.Description,
		callbackURL:    req.CallbackURL,
		notificationID: req.NotificationID,
		phone:          phone,
		created:        e.now(),
		outcome:        oc,
		statusCode:     ppPending,
	}
	e.mu.Lock()
	_, ipnKnown := e.pp.ipns[req.NotificationID]
	_, dup := e.pp.byRef[req.ID]
	if ipnKnown && !dup {
		e.pp.orders[o.trackingID] = o
		e.pp.byRef[o.ref] = o.trackingID
	}
	delay := time.Duration(e.settings.Delay)
	slow := time.Duration(e.settings.SlowAnswer)
	e.mu.Unlock()
	switch {
	case !ipnKnown:
		reject(http.StatusOK, "400", "invalid_notification_id", "notification_id must be the ipn_id of a registered IPN URL")
		return
	case dup:
		reject(http.StatusOK, "400", "duplicate_order_reference",
			fmt.Sprintf("An order with merchant reference %s already exists; use a unique id for every order", req.ID))
		return
	}
	e.after(delay, func(context.Context) { e.ppCustomerAnswers(o.trackingID) })
	if oc == outcomeSlow && !e.slowAnswer(w, r, slow) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"order_tracking_id":  o.trackingID,
		"merchant_reference": o.ref,
		"redirect_url":       e.baseURL(r) + PesaPalRedirectPath + o.trackingID,
		"error":              nil,
		"status":             "200",
	})
}

func ppPaymentMethod(currency string) string {
	switch currency {
	case "KES":
		return "MpesaKE"
	case "UGX":
		return "MTN"
	case "TZS":
		return "TIGO"
	}
	return "Visa"
}

// ppCustomerAnswers settles a pending order by its outcome.
func (e *Emulator) ppCustomerAnswers(trackingID string) {
	e.mu.Lock()
	o := e.pp.orders[trackingID]
	if o == nil || o.statusCode != ppPending || o.cancelled {
		e.mu.Unlock()
		return
	}
	o.paymentMethod = ppPaymentMethod(o.currency)
	o.paymentAccount = maskPhone(o.phone)
	switch o.outcome {
	case outcomeInsufficent:
		o.statusCode = ppFailed
		o.statusDescription = "Insufficient funds"
		o.paymentStatusCode = "insufficient_funds"
	case outcomeCancelled:
		o.statusCode = ppFailed
		o.statusDescription = "Cancelled by user"
		o.paymentStatusCode = "request_terminated_by_user"
	default:
		o.statusCode = ppCompleted
		o.confirmationCode = randomCode(10)
		e.pp.byCode[o.confirmationCode] = o.trackingID
	}
	amount, drop := e.pp.div.settle(o.ref, o.amount.String())
	o.amount = json.Number(amount)
	if !drop {
		e.ppNotifyLocked(o, o.outcome.notifications())
	}
	e.mu.Unlock()
}

// ppNotifyLocked queues the IPN of o's status change n times; mu is held.
func (e *Emulator) ppNotifyLocked(o *ppOrder, n int) {
	if n == 0 || e.pp.ipns[o.notificationID] == nil {
		return
	}
	ipn := *e.pp.ipns[o.notificationID]
	trackingID, ref := o.trackingID, o.ref
	params := map[string]string{
		"OrderTrackingId":        trackingID,
		"OrderMerchantReference": ref,
		"OrderNotificationType":  "IPNCHANGE",
	}
	nt := notification{provider: providerPesaPal, method: ipn.method, url: ipn.url, ack: ppAck,
		what: "ipn " + trackingID}
	if ipn.method == http.MethodGet {
		u, err := url.Parse(ipn.url)
		if err != nil {
			e.log.Warn("sandbox pesapal ipn url unparsable", "url", ipn.url, "err", err)
			return
		}
		q := u.Query()
		for _, k := range []string{"OrderTrackingId", "OrderMerchantReference", "OrderNotificationType"} {
			q.Set(k, params[k])
		}
		u.RawQuery = q.Encode()
		nt.url = u.String()
	} else {
		b, _ := json.Marshal(params)
		nt.body = b
		nt.contentType = "application/json"
	}
	for range n {
		e.deliver(nt)
	}
}

// ppAck accepts the documented acknowledgement: JSON with numeric status 200.
func ppAck(status int, body []byte) bool {
	if status < 200 || status >= 300 {
		return false
	}
	var a struct {
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return false
	}
	var n json.Number
	if err := json.Unmarshal(a.Status, &n); err != nil || a.Status[0] == '"' {
		return false // the documented ack carries a numeric status
	}
	v, err := n.Int64()
	return err == nil && v == 200
}

func (e *Emulator) ppGetStatus(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("orderTrackingId")
	e.mu.Lock()
	o := e.pp.orders[id]
	var c ppOrder
	if o != nil {
		c = *o
	}
	e.mu.Unlock()
	if o == nil {
		writeJSON(w, http.StatusOK, map[string]any{
			"status_code": 0,
			"error":       ppErr("invalid_order_tracking_id", "No order was found for orderTrackingId "+id),
			"status":      "400",
			"message":     "No order was found for orderTrackingId " + id,
		})
		return
	}
	callback := c.callbackURL
	if u, err := url.Parse(c.callbackURL); err == nil {
		q := u.Query()
		q.Set("OrderTrackingId", c.trackingID)
		q.Set("OrderMerchantReference", c.ref)
		u.RawQuery = q.Encode()
		callback = u.String()
	}
	desc := map[int]string{ppPending: "INVALID", ppCompleted: "Completed", ppFailed: "Failed", ppReversed: "Reversed"}[c.statusCode]
	body := map[string]any{
		"payment_method":             c.paymentMethod,
		"amount":                     c.amount,
		"created_date":               c.created.UTC().Format("2006-01-02T15:04:05.000"),
		"confirmation_code":          c.confirmationCode,
		"payment_status_description": desc,
		"description":                c.statusDescription,
		"message":                    "Request processed successfully",
		"payment_account":            c.paymentAccount,
		"call_back_url":              callback,
		"status_code":                c.statusCode,
		"merchant_reference":         c.ref,
		"payment_status_code":        c.paymentStatusCode,
		"currency":                   c.currency,
		"error":                      map[string]any{"error_type": nil, "code": nil, "message": nil, "call_back_url": nil},
		"status":                     "200",
	}
	if c.statusCode == ppPending {
		body["message"] = ""
		body["error"] = map[string]any{"error_type": "api_error", "code": "payment_details_not_found",
			"message": "Pending Payment", "call_back_url": callback}
		body["status"] = "500"
		writeJSON(w, http.StatusInternalServerError, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) ppRefund(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ConfirmationCode string          `json:"confirmation_code"`
		Amount           json.RawMessage `json:"amount"`
		Username         string          `json:"username"`
		Remarks          string          `json:"remarks"`
	}
	if err := ppDecode(r, &req); err != nil {
		ppBadJSON(w, err)
		return
	}
	reject := func(msg string) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "500", "message": msg})
	}
	raw := bytes.Trim(bytes.TrimSpace(req.Amount), `"`) // official sample sends "100.00"
	amount, ok := new(big.Rat).SetString(string(raw))
	switch {
	case req.ConfirmationCode == "":
		reject("confirmation_code is required")
		return
	case !ok || amount.Sign() <= 0:
		reject("amount must be greater than zero")
		return
	case req.Username == "" || req.Remarks == "":
		reject("username and remarks are required")
		return
	}
	e.mu.Lock()
	o := e.pp.orders[e.pp.byCode[req.ConfirmationCode]]
	msg := ""
	switch {
	case o == nil:
		msg = "No completed payment was found for this confirmation_code"
	case o.statusCode != ppCompleted:
		msg = "Only completed payments can be refunded"
	case o.refundRequested:
		msg = "A refund has already been requested for this payment"
	default:
		collected, _ := new(big.Rat).SetString(o.amount.String())
		if amount.Cmp(collected) != 0 {
			msg = "Mobile money payments can only be refunded in full"
		}
	}
	if msg != "" {
		e.mu.Unlock()
		reject(msg)
		return
	}
	o.refundRequested = true
	id := o.trackingID
	delay := time.Duration(e.settings.Delay)
	e.mu.Unlock()
	e.after(delay, func(context.Context) {
		e.mu.Lock()
		defer e.mu.Unlock()
		o := e.pp.orders[id]
		o.statusCode = ppReversed
		e.ppNotifyLocked(o, min(o.outcome.notifications(), 1))
	})
	writeJSON(w, http.StatusOK, map[string]any{"status": "200", "message": "Refund request successfully"})
}

func (e *Emulator) ppCancel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OrderTrackingID string `json:"order_tracking_id"`
	}
	if err := ppDecode(r, &req); err != nil {
		ppBadJSON(w, err)
		return
	}
	e.mu.Lock()
	o := e.pp.orders[req.OrderTrackingID]
	msg := ""
	switch {
	case o == nil:
		msg = "Order not found"
	case o.cancelled:
		msg = "A cancellation has already been requested for this order"
	case o.statusCode != ppPending && o.statusCode != ppFailed:
		msg = "Order could not be cancelled: it has already been processed"
	}
	if msg != "" {
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"status": "500", "message": msg})
		return
	}
	o.cancelled = true
	changed := o.statusCode == ppPending
	if changed {
		o.statusCode = ppFailed
		o.statusDescription = "Order cancelled by merchant"
		o.paymentStatusCode = "order_cancelled"
	}
	if changed {
		e.ppNotifyLocked(o, min(o.outcome.notifications(), 1))
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"status": "200", "message": "Order successfully cancelled."})
}

var ppPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>PesaPal sandbox payment</title></head>
<body>
<h1>PesaPal sandbox: order {{.Ref}}</h1>
<p>Amount: {{.Amount}} {{.Currency}}. Status: {{.Status}}.</p>
<p>The emulator settles the payment by the last digit of the billing phone number.</p>
<p><a href="{{.Callback}}">Return to the merchant</a></p>
</body></html>
`))

func (e *Emulator) ppHostedPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("OrderTrackingId")
	e.mu.Lock()
	o := e.pp.orders[id]
	var c ppOrder
	if o != nil {
		c = *o
	}
	e.mu.Unlock()
	if o == nil {
		http.Error(w, "unknown OrderTrackingId", http.StatusNotFound)
		return
	}
	callback := c.callbackURL
	if u, err := url.Parse(c.callbackURL); err == nil {
		q := u.Query()
		q.Set("OrderTrackingId", c.trackingID)
		q.Set("OrderMerchantReference", c.ref)
		q.Set("OrderNotificationType", "CALLBACKURL")
		u.RawQuery = q.Encode()
		callback = u.String()
	}
	status := map[int]string{ppPending: "pending", ppCompleted: "completed", ppFailed: "failed", ppReversed: "reversed"}[c.statusCode]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = ppPage.Execute(w, map[string]string{
		"Ref": c.ref, "Amount": c.amount.String(), "Currency": c.currency, "Status": status, "Callback": callback,
	})
}
