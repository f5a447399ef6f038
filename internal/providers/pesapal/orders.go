package pesapal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// Limits PesaPal documents for SubmitOrderRequest (docs/providers/pesapal.md).
const (
	MaxReferenceLen   = 50
	MaxDescriptionLen = 100
)

var referenceRE = regexp.MustCompile(`^[A-Za-z0-9\-_.:]+$`)

// SubmitOrderRequest is PesaPal's order, every documented field.
type SubmitOrderRequest struct {
	ID                  string               `json:"id"`
	Currency            string               `json:"currency"`
	Amount              json.Number          `json:"amount"` // JSON number, digits exactly as given
	Description         string               `json:"description"`
	CallbackURL         string               `json:"callback_url"`
	RedirectMode        string               `json:"redirect_mode,omitempty"` // TOP_WINDOW | PARENT_WINDOW
	CancellationURL     string               `json:"cancellation_url,omitempty"`
	NotificationID      string               `json:"notification_id"`
	Branch              string               `json:"branch,omitempty"`
	BillingAddress      BillingAddress       `json:"billing_address"`
	AccountNumber       string               `json:"account_number,omitempty"`
	SubscriptionDetails *SubscriptionDetails `json:"subscription_details,omitempty"`
	// Extra is merged into the JSON payload last (ProviderData).
	Extra map[string]any `json:"-"`
}

// BillingAddress is the order's billing_address; one of email or phone is required.
type BillingAddress struct {
	EmailAddress string `json:"email_address,omitempty"`
	PhoneNumber  string `json:"phone_number,omitempty"`
	CountryCode  string `json:"country_code,omitempty"`
	FirstName    string `json:"first_name,omitempty"`
	MiddleName   string `json:"middle_name,omitempty"`
	LastName     string `json:"last_name,omitempty"`
	Line1        string `json:"line_1,omitempty"`
	Line2        string `json:"line_2,omitempty"`
	City         string `json:"city,omitempty"`
	State        string `json:"state,omitempty"`
	PostalCode   string `json:"postal_code,omitempty"`
	ZipCode      string `json:"zip_code,omitempty"`
}

// SubscriptionDetails pre-fills a recurring schedule (dates dd-MM-yyyy;
// frequency DAILY, WEEKLY, MONTHLY, YEARLY).
type SubscriptionDetails struct {
	StartDate string `json:"start_date"`
	EndDate   string `json:"end_date"`
	Frequency string `json:"frequency"`
}

// SubmitOrderResponse is PesaPal's answer to SubmitOrderRequest.
type SubmitOrderResponse struct {
	OrderTrackingID   string
	MerchantReference string
	RedirectURL       string
	Raw               json.RawMessage
}

func (r SubmitOrderRequest) validate() error {
	switch {
	case r.ID == "" || len(r.ID) > MaxReferenceLen || !referenceRE.MatchString(r.ID):
		return fmt.Errorf("id %q must be 1-%d characters of A-Z a-z 0-9 - _ . :", r.ID, MaxReferenceLen)
	case r.Currency == "":
		return fmt.Errorf("currency is required")
	case r.NotificationID == "":
		return fmt.Errorf("notification_id (an ipn_id) is required")
	case r.CallbackURL == "":
		return fmt.Errorf("callback_url is required")
	case r.BillingAddress.EmailAddress == "" && r.BillingAddress.PhoneNumber == "":
		return fmt.Errorf("billing_address needs an email address or a phone number")
	case utf8.RuneCountInString(r.Description) > MaxDescriptionLen:
		return fmt.Errorf("description is longer than %d characters", MaxDescriptionLen)
	}
	if _, err := wire.Decimal(string(r.Amount)); err != nil {
		return err
	}
	return nil
}

// SubmitOrder creates an order (POST /api/Transactions/SubmitOrderRequest).
// It is a payment initiation: a timeout, broken connection or 5xx is an
// UnknownOutcome error, never to be repeated blindly.
func (c *Client) SubmitOrder(ctx context.Context, req SubmitOrderRequest) (res SubmitOrderResponse, err error) {
	const op = "submit_order"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	if verr := req.validate(); verr != nil {
		return SubmitOrderResponse{}, c.call.Err(opName(op), providers.Permanent, 0, "invalid_request", verr.Error(), nil)
	}
	body, err := wire.MergeJSON(req, req.Extra)
	if err != nil {
		return SubmitOrderResponse{}, c.call.Err(opName(op), providers.Permanent, 0, "", "encode order", err)
	}
	resp, err := c.do(ctx, op, http.MethodPost, "/api/Transactions/SubmitOrderRequest", body, true)
	if err != nil {
		return SubmitOrderResponse{}, err
	}
	var w struct {
		envelope
		OrderTrackingID   wire.String `json:"order_tracking_id"`
		MerchantReference wire.String `json:"merchant_reference"`
		RedirectURL       wire.String `json:"redirect_url"`
	}
	jerr := json.Unmarshal(resp.Body, &w)
	if jerr == nil && resp.Status/100 == 2 && w.ok() && w.OrderTrackingID != "" {
		return SubmitOrderResponse{
			OrderTrackingID:   string(w.OrderTrackingID),
			MerchantReference: string(w.MerchantReference),
			RedirectURL:       string(w.RedirectURL),
			Raw:               providers.WithoutCredentials(resp.Body),
		}, nil
	}
	if jerr != nil {
		w.envelope = envelope{}
	}
	if resp.Status/100 == 2 && w.ok() {
		// 200 without a tracking id: we cannot tell whether an order exists.
		return SubmitOrderResponse{}, c.call.Err(opName(op), providers.UnknownOutcome, resp.Status, "", "answer carries no order_tracking_id", nil)
	}
	return SubmitOrderResponse{}, c.failure(op, true, resp, w.envelope)
}

// TransactionStatus is GetTransactionStatus's answer, every documented field.
type TransactionStatus struct {
	PaymentMethod            string
	Amount                   string // decimal text as sent (a JSON number)
	CreatedDate              string
	ConfirmationCode         string
	PaymentStatusDescription string // INVALID / FAILED / COMPLETED / REVERSED, any case
	Description              string
	Message                  string
	PaymentAccount           string
	CallBackURL              string
	StatusCode               int // 0 INVALID, 1 COMPLETED, 2 FAILED, 3 REVERSED
	MerchantReference        string
	PaymentStatusCode        string
	Currency                 string
	SubscriptionInfo         json.RawMessage // subscription_transaction_info, recurring only
	ErrorCode                string
	ErrorMessage             string
	// Status is the normalized reading: 1 succeeded, 2 failed, 3 reversed,
	// 0 (with or without payment_details_not_found) pending.
	Status providers.Status
	Raw    json.RawMessage
}

// PendingCode is the error code PesaPal returns while a payment is not yet made.
const PendingCode = "payment_details_not_found"

// UnknownTrackingIDCode is the error code of GetTransactionStatus for an
// order tracking id PesaPal has no order for (as the emulator answers;
// PesaPal does not document it). QueryPayment reports it as
// providers.CodeNotFound.
const UnknownTrackingIDCode = "invalid_order_tracking_id"

type wireStatus struct {
	envelope
	PaymentMethod            wire.String     `json:"payment_method"`
	Amount                   wire.String     `json:"amount"`
	CreatedDate              wire.String     `json:"created_date"`
	ConfirmationCode         wire.String     `json:"confirmation_code"`
	PaymentStatusDescription wire.String     `json:"payment_status_description"`
	Description              wire.String     `json:"description"`
	PaymentAccount           wire.String     `json:"payment_account"`
	CallBackURL              wire.String     `json:"call_back_url"`
	StatusCode               *wire.Int       `json:"status_code"`
	MerchantReference        wire.String     `json:"merchant_reference"`
	PaymentStatusCode        wire.String     `json:"payment_status_code"`
	Currency                 wire.String     `json:"currency"`
	SubscriptionInfo         json.RawMessage `json:"subscription_transaction_info"`
}

// getTransactionStatus makes one attempt of GetTransactionStatus.
func (c *Client) getTransactionStatus(ctx context.Context, trackingID string) (ts TransactionStatus, err error) {
	const op = "get_transaction_status"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	if trackingID == "" {
		return TransactionStatus{}, c.call.Err(opName(op), providers.Permanent, 0, "", "order tracking id is empty", nil)
	}
	resp, err := c.do(ctx, op, http.MethodGet, "/api/Transactions/GetTransactionStatus?orderTrackingId="+url.QueryEscape(trackingID), nil, false)
	if err != nil {
		return TransactionStatus{}, err
	}
	var w wireStatus
	if jerr := json.Unmarshal(resp.Body, &w); jerr != nil {
		return TransactionStatus{}, c.failure(op, false, resp, envelope{})
	}
	pending := strings.EqualFold(w.Error.Code, PendingCode) && (w.StatusCode == nil || *w.StatusCode == 0)
	if !pending && (resp.Status/100 != 2 || w.Error.Present() || (w.Status != "" && w.Status != "200")) {
		return TransactionStatus{}, c.failure(op, false, resp, w.envelope)
	}
	if !pending && w.StatusCode == nil && w.PaymentStatusDescription == "" {
		return TransactionStatus{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "answer carries no status_code", nil)
	}
	ts = TransactionStatus{
		PaymentMethod:            string(w.PaymentMethod),
		Amount:                   string(w.Amount),
		CreatedDate:              string(w.CreatedDate),
		ConfirmationCode:         string(w.ConfirmationCode),
		PaymentStatusDescription: string(w.PaymentStatusDescription),
		Description:              string(w.Description),
		Message:                  string(w.Message),
		PaymentAccount:           string(w.PaymentAccount),
		CallBackURL:              string(w.CallBackURL),
		MerchantReference:        string(w.MerchantReference),
		PaymentStatusCode:        string(w.PaymentStatusCode),
		Currency:                 string(w.Currency),
		ErrorCode:                w.Error.Code,
		ErrorMessage:             w.Error.Message,
		Raw:                      providers.WithoutCredentials(resp.Body),
	}
	if len(w.SubscriptionInfo) > 0 && string(w.SubscriptionInfo) != "null" {
		ts.SubscriptionInfo = providers.WithoutCredentials(w.SubscriptionInfo)
	}
	if w.StatusCode != nil {
		ts.StatusCode = int(*w.StatusCode)
	}
	ts.Status = mapStatus(w.StatusCode, ts.PaymentStatusDescription)
	return ts, nil
}

// mapStatus reads status_code first and payment_status_description
// (case-insensitive) when the code is absent. INVALID is not terminal.
func mapStatus(code *wire.Int, desc string) providers.Status {
	if code != nil {
		switch *code {
		case 1:
			return providers.StatusSucceeded
		case 2:
			return providers.StatusFailed
		case 3:
			return providers.StatusReversed
		}
		return providers.StatusPending
	}
	switch strings.ToUpper(strings.TrimSpace(desc)) {
	case "COMPLETED":
		return providers.StatusSucceeded
	case "FAILED":
		return providers.StatusFailed
	case "REVERSED":
		return providers.StatusReversed
	}
	return providers.StatusPending
}

// RefundRequest asks for a refund of a completed payment.
type RefundRequest struct {
	ConfirmationCode string
	Amount           string // decimal; sent as a JSON number
	Username         string
	Remarks          string
}

// SimpleResponse is PesaPal's {status, message} answer (refund, cancel).
type SimpleResponse struct {
	Status  string
	Message string
	Raw     json.RawMessage
}

// RefundRequest submits a refund (POST /api/Transactions/RefundRequest).
// Success means PesaPal received the request, not that money moved; a body
// status "500" (rejected) is a Permanent error carrying PesaPal's message.
func (c *Client) RefundRequest(ctx context.Context, r RefundRequest) (SimpleResponse, error) {
	amount, err := wire.Decimal(r.Amount)
	if err != nil {
		return SimpleResponse{}, c.call.Err("refund request", providers.Permanent, 0, "invalid_request", err.Error(), nil)
	}
	if r.ConfirmationCode == "" || r.Username == "" || r.Remarks == "" {
		return SimpleResponse{}, c.call.Err("refund request", providers.Permanent, 0, "invalid_request", "confirmation_code, username and remarks are required", nil)
	}
	body, _ := json.Marshal(struct {
		ConfirmationCode string      `json:"confirmation_code"`
		Amount           json.Number `json:"amount"`
		Username         string      `json:"username"`
		Remarks          string      `json:"remarks"`
	}{r.ConfirmationCode, amount, r.Username, r.Remarks})
	return c.simple(ctx, "refund_request", "/api/Transactions/RefundRequest", body)
}

// CancelOrder cancels a pending or failed order (POST /api/Transactions/CancelOrder).
func (c *Client) CancelOrder(ctx context.Context, trackingID string) (SimpleResponse, error) {
	if trackingID == "" {
		return SimpleResponse{}, c.call.Err("cancel order", providers.Permanent, 0, "", "order tracking id is empty", nil)
	}
	body, _ := json.Marshal(map[string]string{"order_tracking_id": trackingID})
	return c.simple(ctx, "cancel_order", "/api/Transactions/CancelOrder", body)
}

func (c *Client) simple(ctx context.Context, op, path string, body []byte) (sr SimpleResponse, err error) {
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	resp, err := c.do(ctx, op, http.MethodPost, path, body, false)
	if err != nil {
		return SimpleResponse{}, err
	}
	var env envelope
	if jerr := json.Unmarshal(resp.Body, &env); jerr != nil {
		return SimpleResponse{}, c.failure(op, false, resp, envelope{})
	}
	if resp.Status/100 != 2 || !env.ok() {
		return SimpleResponse{}, c.failure(op, false, resp, env)
	}
	return SimpleResponse{Status: string(env.Status), Message: string(env.Message), Raw: providers.WithoutCredentials(resp.Body)}, nil
}

// countryCodes maps a phone's international prefix to the ISO country
// code PesaPal's billing_address takes (the markets PesaPal serves).
var countryCodes = map[string]string{
	"254": "KE", "255": "TZ", "256": "UG", "250": "RW", "265": "MW", "260": "ZM", "263": "ZW",
}

// InitiatePayment implements providers.Payer: a SubmitOrderRequest built
// from req (amount as a JSON number with the request's digits, the phone as
// given, the billing country inferred from the phone's country code,
// ProviderData merged last). The result's RedirectURL is PesaPal's hosted
// payment page.
func (c *Client) InitiatePayment(ctx context.Context, req providers.PaymentRequest) (providers.PaymentResult, error) {
	desc := req.Description
	if desc == "" {
		desc = "Payment " + req.Reference
	}
	if utf8.RuneCountInString(desc) > MaxDescriptionLen {
		desc = string([]rune(desc)[:MaxDescriptionLen])
	}
	phone := wire.Digits(req.Phone)
	country := ""
	if len(phone) > 3 {
		country = countryCodes[phone[:3]]
	}
	order := SubmitOrderRequest{
		ID:             req.Reference,
		Currency:       strings.ToUpper(req.Currency),
		Amount:         json.Number(strings.TrimSpace(req.Amount)),
		Description:    desc,
		CallbackURL:    req.CallbackURL,
		NotificationID: req.NotificationID,
		BillingAddress: BillingAddress{
			EmailAddress: req.Email,
			PhoneNumber:  phone,
			CountryCode:  country,
			FirstName:    req.FirstName,
			LastName:     req.LastName,
		},
		Extra: req.ProviderData,
	}
	res, err := c.SubmitOrder(ctx, order)
	if err != nil {
		return providers.PaymentResult{}, err
	}
	return providers.PaymentResult{
		ProviderReference: res.OrderTrackingID,
		RedirectURL:       res.RedirectURL,
		Status:            providers.StatusPending,
		Raw:               res.Raw,
	}, nil
}

// QueryPayment implements providers.Payer with GetTransactionStatus; it
// needs q.ProviderReference (the order tracking id).
func (c *Client) QueryPayment(ctx context.Context, q providers.PaymentQuery) (providers.PaymentStatus, error) {
	if q.ProviderReference == "" {
		return providers.PaymentStatus{}, c.call.Err("get transaction status", providers.Permanent, 0, "", "pesapal needs the order tracking id (provider reference) to query a payment", nil)
	}
	ts, err := c.GetTransactionStatus(ctx, q.ProviderReference)
	var pe *providers.Error
	if errors.As(err, &pe) && pe.Kind == providers.Permanent && strings.EqualFold(pe.Code, UnknownTrackingIDCode) {
		nf := *pe
		nf.Code = providers.CodeNotFound // PesaPal has no record of the order
		return providers.PaymentStatus{}, &nf
	}
	if err != nil {
		return providers.PaymentStatus{}, err
	}
	msg := ts.Description
	if msg == "" {
		msg = ts.PaymentStatusCode
	}
	if msg == "" && ts.Status == providers.StatusPending {
		msg = ts.ErrorMessage
	}
	ref := ts.MerchantReference
	if ref == "" {
		ref = q.Reference
	}
	return providers.PaymentStatus{
		Status:            ts.Status,
		Reference:         ref,
		ProviderReference: q.ProviderReference,
		Amount:            ts.Amount,
		Currency:          ts.Currency,
		Phone:             ts.PaymentAccount,
		ConfirmationCode:  ts.ConfirmationCode,
		Message:           msg,
		Raw:               ts.Raw,
	}, nil
}

// GetTransactionStatus asks for an order's status
// (GET /api/Transactions/GetTransactionStatus?orderTrackingId=). A payment
// not yet made (status_code 0 with payment_details_not_found) is returned
// as Status pending without error, even when PesaPal answers HTTP 500.
// Transient failures (5xx, 429, connection refused or reset, not
// timeouts) are retried up to Options.ReadRetries times with backoff.
func (c *Client) GetTransactionStatus(ctx context.Context, trackingID string) (TransactionStatus, error) {
	var ts TransactionStatus
	err := wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		ts, err = c.getTransactionStatus(ctx, trackingID)
		return err
	})
	return ts, err
}
