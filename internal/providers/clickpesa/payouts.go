package clickpesa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// Payouts (ClickPesa's Payout API): preview a mobile-money payout (fee,
// receiver name, balance; no money moves), create it, and ask about it by
// order reference. See https://docs.clickpesa.com/api-reference/disbursement.

// Payout statuses in finconnectd's vocabulary (the same words as the store's).
const (
	PayoutPending   = "pending"
	PayoutSucceeded = "succeeded"
	PayoutFailed    = "failed"
	PayoutReversed  = "reversed"
)

// Error codes a payout refusal carries (providers.Error.Code).
const (
	CodeInsufficientBalance = "insufficient_balance"
	CodeReferenceUsed       = "order_reference_used"
	CodeCooldown            = "payout_cooldown"
)

// MobileMoneyPayout is the body of preview and create.
type MobileMoneyPayout struct {
	Amount         string // decimal string: what the receiver gets
	Currency       string // TZS (default) or USD: the balance it is taken from
	OrderReference string // letters and digits, unique
	PhoneNumber    string // any common Tanzanian form; sent as 2557XXXXXXXX
}

// jsNumber writes a plain decimal as JavaScript prints the number it is
// (1000.50 -> 1000.5), the form ClickPesa hashes the checksum over.
func jsNumber(d json.Number) json.Number {
	s := string(d)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	s = strings.TrimLeft(s, "0")
	if s == "" || s[0] == '.' {
		s = "0" + s
	}
	return json.Number(s)
}

func (r MobileMoneyPayout) payload() (map[string]any, error) {
	amount, err := wire.Decimal(r.Amount)
	if err != nil {
		return nil, err
	}
	if !referenceRE.MatchString(r.OrderReference) || len(r.OrderReference) > MaxReferenceLen {
		return nil, fmt.Errorf("orderReference %q must be 1-%d letters and digits only", r.OrderReference, MaxReferenceLen)
	}
	phone := Phone(r.PhoneNumber)
	if !IsMobileNumber(phone) {
		return nil, fmt.Errorf("phone number %q is not a Tanzanian mobile number (2556XXXXXXXX or 2557XXXXXXXX)", r.PhoneNumber)
	}
	cur := strings.ToUpper(r.Currency)
	if cur == "" {
		cur = "TZS"
	}
	return map[string]any{
		"amount":         jsNumber(amount),
		"phoneNumber":    phone,
		"currency":       cur,
		"orderReference": r.OrderReference,
	}, nil
}

// IsMobileNumber reports whether phone (already normalized by Phone) is a
// Tanzanian mobile-money number: 255, then 6 or 7, then eight digits.
func IsMobileNumber(phone string) bool {
	return phoneRE.MatchString(phone) && (phone[3] == '6' || phone[3] == '7')
}

// PayoutPreview is ClickPesa's answer to a preview: what would be taken,
// who would get it, and the balance it comes from. Amounts are decimal text.
type PayoutPreview struct {
	Total           string // amount + fee, what the balance loses
	Fee             string
	Balance         string
	ChannelProvider string
	FeeBearer       string
	ReceiverName    string
	ReceiverAccount string
	ReceiverAmount  string
	Raw             json.RawMessage
}

// Payout is a payout as ClickPesa reports it (create answer, query, webhook).
type Payout struct {
	ID              string
	OrderReference  string
	Status          string // AUTHORIZED, PROCESSING, PENDING, SUCCESS, FAILED, REFUNDED, REVERSED
	Amount          string // total debited, fee included
	Fee             string
	Currency        string
	OrderAmount     string // what the receiver gets, when given
	Channel         string // MOBILE MONEY | BANK TRANSFER
	ChannelProvider string
	TransferType    string
	AccountNumber   string
	AccountName     string
	Notes           string
	CreatedAt       string
	UpdatedAt       string
	ClientID        string
	Raw             json.RawMessage
}

type wirePayout struct {
	ID              wire.String `json:"id"`
	OrderReference  wire.String `json:"orderReference"`
	Status          wire.String `json:"status"`
	Amount          wire.String `json:"amount"`
	Fee             wire.String `json:"fee"`
	Currency        wire.String `json:"currency"`
	Channel         wire.String `json:"channel"`
	ChannelProvider wire.String `json:"channelProvider"`
	TransferType    wire.String `json:"transferType"`
	SettlementType  wire.String `json:"settlementType"` // older name
	Notes           wire.String `json:"notes"`
	CreatedAt       wire.String `json:"createdAt"`
	UpdatedAt       wire.String `json:"updatedAt"`
	ClientID        wire.String `json:"clientId"`
	Order           *struct {
		Amount wire.String `json:"amount"`
	} `json:"order"`
	Beneficiary *struct {
		AccountNumber wire.String `json:"accountNumber"`
		AccountName   wire.String `json:"accountName"`
	} `json:"beneficiary"`
}

func (w wirePayout) payout(raw []byte) Payout {
	p := Payout{
		ID: string(w.ID), OrderReference: string(w.OrderReference), Status: strings.ToUpper(strings.TrimSpace(string(w.Status))),
		Amount: string(w.Amount), Fee: string(w.Fee), Currency: string(w.Currency), Channel: string(w.Channel),
		ChannelProvider: string(w.ChannelProvider), TransferType: first(w.TransferType, w.SettlementType),
		Notes: string(w.Notes), CreatedAt: string(w.CreatedAt), UpdatedAt: string(w.UpdatedAt), ClientID: string(w.ClientID),
		Raw: providers.WithoutCredentials(raw),
	}
	if w.Order != nil {
		p.OrderAmount = string(w.Order.Amount)
	}
	if w.Beneficiary != nil {
		p.AccountNumber, p.AccountName = string(w.Beneficiary.AccountNumber), string(w.Beneficiary.AccountName)
	}
	return p
}

// MapPayoutStatus maps ClickPesa's payout vocabulary to finconnectd's:
// SUCCESS succeeded; FAILED and REFUNDED (failed, funds returned) failed;
// REVERSED reversed; anything else (AUTHORIZED, PROCESSING, PENDING) pending.
func MapPayoutStatus(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SUCCESS":
		return PayoutSucceeded
	case "FAILED", "REFUNDED":
		return PayoutFailed
	case "REVERSED":
		return PayoutReversed
	}
	return PayoutPending
}

// payoutFailure classifies a refused payout call: a short balance, a used
// reference and the merchant's cooldown get their own codes.
func (c *Client) payoutFailure(op string, initiation bool, resp wire.Response) error {
	err := c.failure(op, initiation, resp)
	pe, ok := err.(*providers.Error)
	if !ok {
		return err
	}
	msg := strings.ToLower(pe.Message)
	switch {
	case resp.Status == http.StatusBadRequest && strings.HasPrefix(msg, "insufficient balance"):
		pe.Code = CodeInsufficientBalance
	case resp.Status == http.StatusBadRequest && strings.Contains(msg, "please retry after"):
		pe.Kind, pe.Code = providers.Retryable, CodeCooldown
	case resp.Status == http.StatusConflict:
		pe.Code = CodeReferenceUsed
	}
	return pe
}

// PreviewMobileMoneyPayout checks a payout without moving money
// (POST /payouts/preview-mobile-money-payout): the fee, the receiver's
// name and the balance. A short balance is Permanent with Code
// CodeInsufficientBalance.
func (c *Client) PreviewMobileMoneyPayout(ctx context.Context, r MobileMoneyPayout) (pv PayoutPreview, err error) {
	const op = "preview_mobile_money_payout"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	p, err := r.payload()
	resp, err := c.post(ctx, op, "/payouts/preview-mobile-money-payout", p, err, false, c.payoutFailure)
	if err != nil {
		return PayoutPreview{}, err
	}
	var w wirePreview
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return PayoutPreview{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable answer", err)
	}
	return w.preview(resp.Body), nil
}

// wirePreview is what both preview answers (mobile money and bank) carry.
type wirePreview struct {
	Amount          wire.String `json:"amount"`
	Balance         wire.String `json:"balance"`
	ChannelProvider wire.String `json:"channelProvider"`
	Fee             wire.String `json:"fee"`
	FeeBearer       wire.String `json:"payoutFeeBearer"`
	Receiver        *struct {
		AccountName   wire.String `json:"accountName"`
		AccountNumber wire.String `json:"accountNumber"`
		Amount        wire.String `json:"amount"`
	} `json:"receiver"`
}

// preview is w as a PayoutPreview; body is the answer it was decoded from.
func (w wirePreview) preview(body []byte) PayoutPreview {
	pv := PayoutPreview{
		Total: string(w.Amount), Fee: string(w.Fee), Balance: string(w.Balance), ChannelProvider: string(w.ChannelProvider),
		FeeBearer: string(w.FeeBearer), Raw: providers.WithoutCredentials(body),
	}
	if w.Receiver != nil {
		pv.ReceiverName, pv.ReceiverAccount, pv.ReceiverAmount = string(w.Receiver.AccountName), string(w.Receiver.AccountNumber), string(w.Receiver.Amount)
	}
	return pv
}

// CreateMobileMoneyPayout sends money to a phone
// (POST /payouts/create-mobile-money-payout). It is never retried: a
// timeout, broken connection or 5xx is an UnknownOutcome error (ask with
// QueryPayouts, never send again). The answer's status is usually
// AUTHORIZED: accepted, not yet paid.
func (c *Client) CreateMobileMoneyPayout(ctx context.Context, r MobileMoneyPayout) (po Payout, err error) {
	const op = "create_mobile_money_payout"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	p, err := r.payload()
	resp, err := c.post(ctx, op, "/payouts/create-mobile-money-payout", p, err, true, c.payoutFailure)
	if err != nil {
		return Payout{}, err
	}
	var w wirePayout
	if json.Unmarshal(resp.Body, &w) != nil || w.ID == "" {
		return Payout{}, c.call.Err(opName(op), providers.UnknownOutcome, resp.Status, "", "answer carries no payout id", nil)
	}
	return w.payout(resp.Body), nil
}

// queryPayouts makes one attempt of QueryPayouts.
func (c *Client) queryPayouts(ctx context.Context, orderReference string) (ps []Payout, err error) {
	const op = "query_payouts"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	if orderReference == "" {
		return nil, c.call.Err(opName(op), providers.Permanent, 0, "", "order reference is empty", nil)
	}
	resp, err := c.do(ctx, op, http.MethodGet, "/payouts/"+url.PathEscape(orderReference), nil, false)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 != 2 {
		return nil, c.failure(op, false, resp)
	}
	trimmed := bytes.TrimSpace(resp.Body)
	var raws []json.RawMessage
	if len(trimmed) > 0 && trimmed[0] == '{' {
		raws = []json.RawMessage{trimmed}
	} else if err := json.Unmarshal(trimmed, &raws); err != nil {
		return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "answer is not a JSON array", err)
	}
	for _, raw := range raws {
		var w wirePayout
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable payout", err)
		}
		ps = append(ps, w.payout(raw))
	}
	return ps, nil
}

// QueryPayouts lists the payouts made with an order reference
// (GET /payouts/{orderReference}). An unknown reference (404) is a
// Permanent error with Code "not_found". Transient failures are retried
// up to Options.ReadRetries times.
func (c *Client) QueryPayouts(ctx context.Context, orderReference string) ([]Payout, error) {
	var ps []Payout
	err := wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		ps, err = c.queryPayouts(ctx, orderReference)
		return err
	})
	return ps, err
}

// QueryPayout is the payout an order reference names: the element with
// that reference (the first when several), or a Permanent "not_found".
func (c *Client) QueryPayout(ctx context.Context, orderReference string) (Payout, error) {
	ps, err := c.QueryPayouts(ctx, orderReference)
	if err != nil {
		return Payout{}, err
	}
	for _, p := range ps {
		if p.OrderReference == "" || p.OrderReference == orderReference {
			return p, nil
		}
	}
	return Payout{}, c.call.Err("query payouts", providers.Permanent, 0, "not_found", "no payout for this order reference", nil)
}

// Balance is one currency's balance.
type Balance struct {
	Currency string
	Balance  string
}

// Balances reads the merchant's balances (GET /account/balance).
func (c *Client) Balances(ctx context.Context) ([]Balance, error) {
	var w []struct {
		Currency wire.String `json:"currency"`
		Balance  wire.String `json:"balance"`
	}
	if err := c.getJSON(ctx, "account_balance", "/account/balance", "answer is not a JSON array", &w); err != nil {
		return nil, err
	}
	bs := make([]Balance, 0, len(w))
	for _, b := range w {
		bs = append(bs, Balance{Currency: string(b.Currency), Balance: string(b.Balance)})
	}
	return bs, nil
}

// PayoutWebhook is a payout webhook (PAYOUT INITIATED, PAYOUT REFUNDED,
// PAYOUT REVERSED). The checksum is not verified here (VerifyChecksum).
type PayoutWebhook struct {
	Event  string
	Payout Payout
	// Message is the refund's or reversal's reason, when given.
	Message string
	Raw     json.RawMessage
}

// IsPayoutEvent reports whether a webhook event name is about a payout.
func IsPayoutEvent(event string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(event)), "PAYOUT")
}

// ParsePayoutWebhook decodes a payout webhook body: event (or eventType),
// data with its status and its orderReference or id.
func ParsePayoutWebhook(body []byte) (PayoutWebhook, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return PayoutWebhook{}, fmt.Errorf("%w: body is not a JSON object", ErrInvalidWebhook)
	}
	var w struct {
		Event     wire.String     `json:"event"`
		EventType wire.String     `json:"eventType"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return PayoutWebhook{}, fmt.Errorf("%w: %v", ErrInvalidWebhook, err)
	}
	event := first(w.Event, w.EventType)
	if !IsPayoutEvent(event) {
		return PayoutWebhook{}, fmt.Errorf("%w: event %q is not a payout event", ErrInvalidWebhook, event)
	}
	if len(w.Data) == 0 || bytes.Equal(bytes.TrimSpace(w.Data), []byte("null")) {
		return PayoutWebhook{}, fmt.Errorf("%w: data missing", ErrInvalidWebhook)
	}
	var d struct {
		wirePayout
		Refund *struct {
			Message wire.String `json:"message"`
		} `json:"refund"`
		Reverse *struct {
			Message wire.String `json:"message"`
		} `json:"reverse"`
	}
	if err := json.Unmarshal(w.Data, &d); err != nil {
		return PayoutWebhook{}, fmt.Errorf("%w: data: %v", ErrInvalidWebhook, err)
	}
	out := PayoutWebhook{Event: strings.ToUpper(event), Payout: d.payout(w.Data), Raw: providers.WithoutCredentials(trimmed)}
	if d.Refund != nil {
		out.Message = string(d.Refund.Message)
	}
	if d.Reverse != nil {
		out.Message = string(d.Reverse.Message)
	}
	if out.Payout.Status == "" {
		return PayoutWebhook{}, fmt.Errorf("%w: data.status missing", ErrInvalidWebhook)
	}
	if out.Payout.OrderReference == "" && out.Payout.ID == "" {
		return PayoutWebhook{}, fmt.Errorf("%w: data has neither orderReference nor id", ErrInvalidWebhook)
	}
	return out, nil
}
