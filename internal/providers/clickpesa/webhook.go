package clickpesa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// Webhook is a ClickPesa webhook body {event, data, checksum, checksumMethod}.
type Webhook struct {
	Event          string // "PAYMENT RECEIVED", "PAYMENT FAILED" ...; read from event, else eventType
	Data           WebhookData
	Checksum       string
	ChecksumMethod string
	Raw            json.RawMessage // the body as received
}

// WebhookData is the payment part of a webhook. Amounts are kept as the
// decimal text received, whether ClickPesa sent a string or a number.
type WebhookData struct {
	ID                string
	Status            string
	PaymentReference  string
	OrderReference    string
	CollectedAmount   string
	CollectedCurrency string
	Message           string
	Channel           string
	CreatedAt         string
	UpdatedAt         string
	Customer          Customer
}

// Customer is the payer as ClickPesa describes them.
type Customer struct {
	Name  string
	Email string
	Phone string
}

// ErrInvalidWebhook is wrapped by every ParseWebhook failure.
var ErrInvalidWebhook = errors.New("invalid clickpesa webhook")

type wireCustomer struct {
	CustomerName        wire.String `json:"customerName"`
	CustomerEmail       wire.String `json:"customerEmail"`
	CustomerPhoneNumber wire.String `json:"customerPhoneNumber"`
	// Older sample field names.
	Name  wire.String `json:"name"`
	Email wire.String `json:"email"`
	Phone wire.String `json:"phone"`
}

func (c wireCustomer) normalize() Customer {
	return Customer{
		Name:  first(c.CustomerName, c.Name),
		Email: first(c.CustomerEmail, c.Email),
		Phone: first(c.CustomerPhoneNumber, c.Phone),
	}
}

type wireWebhook struct {
	Event          wire.String `json:"event"`
	EventType      wire.String `json:"eventType"`
	Checksum       wire.String `json:"checksum"`
	ChecksumMethod wire.String `json:"checksumMethod"`
	Data           *struct {
		ID                wire.String  `json:"id"`
		PaymentID         wire.String  `json:"paymentId"` // older sample
		Status            wire.String  `json:"status"`
		PaymentReference  wire.String  `json:"paymentReference"`
		OrderReference    wire.String  `json:"orderReference"`
		CollectedAmount   wire.String  `json:"collectedAmount"`
		Amount            wire.String  `json:"amount"` // older sample
		CollectedCurrency wire.String  `json:"collectedCurrency"`
		Currency          wire.String  `json:"currency"` // older sample
		Message           wire.String  `json:"message"`
		Channel           wire.String  `json:"channel"`
		CreatedAt         wire.String  `json:"createdAt"`
		UpdatedAt         wire.String  `json:"updatedAt"`
		Customer          wireCustomer `json:"customer"`
	} `json:"data"`
}

// ParseWebhook decodes a webhook body. It does not verify the checksum (see
// VerifyChecksum, over the same raw body). The event name and data.status
// are required.
func ParseWebhook(body []byte) (Webhook, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Webhook{}, fmt.Errorf("%w: body is not a JSON object", ErrInvalidWebhook)
	}
	var w wireWebhook
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return Webhook{}, fmt.Errorf("%w: %v", ErrInvalidWebhook, err)
	}
	event := first(w.Event, w.EventType)
	if event == "" {
		return Webhook{}, fmt.Errorf("%w: event missing", ErrInvalidWebhook)
	}
	if w.Data == nil {
		return Webhook{}, fmt.Errorf("%w: data missing", ErrInvalidWebhook)
	}
	d := w.Data
	out := Webhook{
		Event:          event,
		Checksum:       string(w.Checksum),
		ChecksumMethod: string(w.ChecksumMethod),
		Raw:            providers.WithoutCredentials(trimmed),
		Data: WebhookData{
			ID:                first(d.ID, d.PaymentID),
			Status:            strings.ToUpper(strings.TrimSpace(string(d.Status))),
			PaymentReference:  string(d.PaymentReference),
			OrderReference:    string(d.OrderReference),
			CollectedAmount:   first(d.CollectedAmount, d.Amount),
			CollectedCurrency: first(d.CollectedCurrency, d.Currency),
			Message:           string(d.Message),
			Channel:           string(d.Channel),
			CreatedAt:         string(d.CreatedAt),
			UpdatedAt:         string(d.UpdatedAt),
			Customer:          d.Customer.normalize(),
		},
	}
	if out.Data.Status == "" {
		return Webhook{}, fmt.Errorf("%w: data.status missing", ErrInvalidWebhook)
	}
	if out.Data.OrderReference == "" && out.Data.ID == "" {
		return Webhook{}, fmt.Errorf("%w: data has neither orderReference nor id", ErrInvalidWebhook)
	}
	dd := out.Data
	if err := wire.CheckIDs("event", out.Event, "data.id", dd.ID, "data.status", dd.Status,
		"data.orderReference", dd.OrderReference, "data.paymentReference", dd.PaymentReference,
		"data.collectedAmount", dd.CollectedAmount, "data.collectedCurrency", dd.CollectedCurrency,
		"data.customer.customerPhoneNumber", dd.Customer.Phone); err != nil {
		return Webhook{}, fmt.Errorf("%w: %v", ErrInvalidWebhook, err)
	}
	out.Data.Message = wire.CleanText(dd.Message)
	return out, nil
}

// MapStatus maps ClickPesa's payment status vocabulary to ours: SUCCESS and
// SETTLED succeeded, FAILED failed, REFUNDED and REVERSED reversed, anything
// else (PROCESSING, PENDING, ON-HOLD ...) pending. Case-insensitive.
func MapStatus(s string) providers.Status {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SUCCESS", "SETTLED":
		return providers.StatusSucceeded
	case "FAILED":
		return providers.StatusFailed
	case "REFUNDED", "REVERSED":
		return providers.StatusReversed
	default:
		return providers.StatusPending
	}
}

func first(vs ...wire.String) string {
	for _, v := range vs {
		if s := strings.TrimSpace(string(v)); s != "" {
			return s
		}
	}
	return ""
}
