package payouts

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Order is a payout as sent to a provider.
type Order struct {
	Reference string
	Amount    string // what the receiver gets
	Currency  string
	// Destination, normalized: a mobile-money number (2557XXXXXXXX) or a
	// bank account.
	Type          string // state.DestinationMobileMoney | state.DestinationBank
	Phone         string
	AccountNumber string
	AccountName   string
	Bank          string
	// ReceiverName is the name the preview found (AzamPay sends it as the
	// destination's full name).
	ReceiverName string
}

// Preview is what a provider says a payout would be, before any money moves.
type Preview struct {
	Fee          string
	Total        string // amount + fee
	Balance      string // the balance it would be taken from
	ReceiverName string
	Channel      string
	// Bank payouts: whether the bank resolved the account holder's name
	// (RESOLVED, UNAVAILABLE), how the money is sent (ACH, RTGS) and when
	// it should arrive.
	NameLookup       string
	TransferType     string
	EstimatedArrival string
}

// Outcome is a provider's statement about a payout (create answer, status
// query or webhook), in finconnectd's vocabulary.
type Outcome struct {
	Status            string // state.Payout* status
	ProviderReference string
	Fee               string
	Total             string // what the balance lost, fee included, when known
	Amount            string // what the receiver gets, when known
	Currency          string
	ReceiverName      string
	Channel           string
	Message           string
	Raw               json.RawMessage
}

// Provider is what payouts need from one provider's client.
type Provider interface {
	// Preview checks a payout without moving money.
	Preview(ctx context.Context, o Order) (Preview, error)
	// Create sends the payout. Errors are providers.Error: an
	// UnknownOutcome one means it may have been sent.
	Create(ctx context.Context, o Order) (Outcome, error)
	// Query asks about a payout by its reference; a providers.Error with
	// Code "not_found" means the provider has none.
	Query(ctx context.Context, p state.Payout) (Outcome, error)
}

// ClickPesa adapts a ClickPesa client to Provider.
func ClickPesa(c *clickpesa.Client) Provider { return clickPesa{c} }

type clickPesa struct{ c *clickpesa.Client }

func (p clickPesa) order(o Order) clickpesa.MobileMoneyPayout {
	return clickpesa.MobileMoneyPayout{Amount: o.Amount, Currency: o.Currency, OrderReference: o.Reference, PhoneNumber: o.Phone}
}

func (p clickPesa) bank(o Order) clickpesa.BankPayout {
	return clickpesa.BankPayout{Amount: o.Amount, Currency: o.Currency, OrderReference: o.Reference,
		AccountNumber: o.AccountNumber, AccountName: o.AccountName, BIC: o.Bank}
}

func (p clickPesa) Preview(ctx context.Context, o Order) (Preview, error) {
	if o.Type == state.DestinationBank {
		pv, err := p.c.PreviewBankPayout(ctx, p.bank(o))
		if err != nil {
			return Preview{}, err
		}
		return Preview{Fee: money2(pv.Fee), Total: money2(pv.Total), Balance: money2(pv.Balance), ReceiverName: pv.ReceiverName,
			Channel: pv.ChannelProvider, NameLookup: pv.NameLookup, TransferType: pv.TransferType, EstimatedArrival: pv.EstimatedArrival}, nil
	}
	pv, err := p.c.PreviewMobileMoneyPayout(ctx, p.order(o))
	if err != nil {
		return Preview{}, err
	}
	return Preview{Fee: money2(pv.Fee), Total: money2(pv.Total), Balance: money2(pv.Balance), ReceiverName: pv.ReceiverName, Channel: pv.ChannelProvider}, nil
}

// money2 writes a provider's decimal with two decimals (47.1 -> 47.10);
// text that is not a plain decimal is kept as is.
func money2(s string) string {
	r, ok := parseAmount(s)
	if !ok {
		return s
	}
	return r.FloatString(2)
}

func cpOutcome(po clickpesa.Payout) Outcome {
	return Outcome{
		Status: clickpesa.MapPayoutStatus(po.Status), ProviderReference: po.ID, Fee: po.Fee, Total: po.Amount,
		Amount: po.OrderAmount, Currency: po.Currency, ReceiverName: po.AccountName, Channel: po.ChannelProvider,
		Message: strings.TrimSpace(po.Notes), Raw: po.Raw,
	}
}

func (p clickPesa) Create(ctx context.Context, o Order) (Outcome, error) {
	if o.Type == state.DestinationBank {
		po, err := p.c.CreateBankPayout(ctx, p.bank(o))
		if err != nil {
			return Outcome{}, err
		}
		return cpOutcome(po), nil
	}
	po, err := p.c.CreateMobileMoneyPayout(ctx, p.order(o))
	if err != nil {
		return Outcome{}, err
	}
	return cpOutcome(po), nil
}

func (p clickPesa) Query(ctx context.Context, po state.Payout) (Outcome, error) {
	got, err := p.c.QueryPayout(ctx, po.Reference)
	if err != nil {
		return Outcome{}, err
	}
	return cpOutcome(got), nil
}

// notFound reports whether err is the provider saying it has no such payout.
func notFound(err error) bool {
	return providers.IsPermanent(err) && errorCode(err) == "not_found"
}

// errorCode is the provider's error code carried by err, or "".
func errorCode(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Refunder is a provider's own refund of a collection, PesaPal's
// RefundRequest (the only provider that has one): the money goes back
// through the way it came, not as a payout.
type Refunder struct{ c *pesapal.Client }

// PesaPal is the Refunder of a PesaPal client.
func PesaPal(c *pesapal.Client) *Refunder { return &Refunder{c} }

// Refund asks the provider to refund amount of payment pay; by and reason
// are recorded with the provider. A success means the request was
// received (Outcome status pending), not that money moved.
func (p *Refunder) Refund(ctx context.Context, pay state.Payment, amount, by, reason string) (Outcome, error) {
	resp, err := p.c.RefundRequest(ctx, pesapal.RefundRequest{ConfirmationCode: pay.ConfirmationCode, Amount: amount, Username: by, Remarks: reason})
	if err != nil {
		return Outcome{}, err
	}
	msg := strings.TrimSpace(resp.Message)
	if msg == "" {
		msg = "refund requested"
	}
	return Outcome{Status: state.PayoutPending, Message: msg, Raw: resp.Raw}, nil
}

// QueryRefund asks about the refund of payment pay: succeeded once the
// provider reports the payment reversed, pending while it still reports
// it completed.
func (p *Refunder) QueryRefund(ctx context.Context, pay state.Payment) (Outcome, error) {
	st, err := p.c.QueryPayment(ctx, providers.PaymentQuery{Reference: pay.Reference, ProviderReference: pay.ProviderReference})
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Status: state.PayoutPending, Message: st.Message, Raw: st.Raw, Amount: st.Amount, Currency: st.Currency}
	if st.Status == providers.StatusReversed {
		out.Status = state.PayoutSucceeded
	}
	return out, nil
}

// refundsInFull reports whether a PesaPal payment made with method may
// only be refunded in full: PesaPal refunds cards in part, mobile money
// only in full.
func refundsInFull(method string) bool {
	m := strings.ToLower(method)
	for _, card := range []string{"visa", "master", "card", "amex", "american express"} {
		if strings.Contains(m, card) {
			return false
		}
	}
	return true
}

// AzamPay adapts an AzamPay client with disbursement to Provider: the
// preview is a name lookup (AzamPay tells no fee or balance before), the
// create a disbursement from the account cfg names, the query the
// disbursement's status by AzamPay's pgReferenceId.
func AzamPay(c *azampay.Client, cfg *config.AzamPayConfig) Provider {
	return azamPay{c: c, src: azampay.Party{Wallet: cfg.DisbursementWallet, Account: cfg.DisbursementAccount, Name: cfg.DisbursementName}}
}

type azamPay struct {
	c   *azampay.Client
	src azampay.Party
}

func (p azamPay) Preview(ctx context.Context, o Order) (Preview, error) {
	wallet := azampay.DisbursementWallet(o.Phone)
	n, err := p.c.NameLookup(ctx, wallet, o.Phone)
	if err != nil {
		return Preview{}, err
	}
	return Preview{ReceiverName: n.Name, Channel: wallet}, nil
}

func (p azamPay) Create(ctx context.Context, o Order) (Outcome, error) {
	wallet := azampay.DisbursementWallet(o.Phone)
	d, err := p.c.Disburse(ctx, azampay.Disbursement{
		Reference: o.Reference, Amount: o.Amount, Currency: o.Currency, Source: p.src,
		Destination: azampay.Party{Wallet: wallet, Account: o.Phone, Name: o.ReceiverName},
	})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: state.PayoutPending, ProviderReference: d.PgReferenceID, Message: d.Message, Raw: d.Raw, Channel: wallet}, nil
}

func (p azamPay) Query(ctx context.Context, po state.Payout) (Outcome, error) {
	if po.ProviderReference == "" {
		// AzamPay is asked by its own pgReferenceId only: a disbursement
		// whose answer never came cannot be asked about (and must never
		// be taken for one AzamPay does not know).
		return Outcome{}, &providers.Error{Provider: providers.AzamPay, Op: "disbursement status", Kind: providers.Retryable,
			Message: "no pgReferenceId to ask about: AzamPay's callback or an operator settles this payout"}
	}
	wallet := po.Channel
	if wallet == "" {
		wallet = azampay.DisbursementWallet(po.Phone)
	}
	st, err := p.c.DisbursementStatus(ctx, po.ProviderReference, wallet)
	if err != nil {
		return Outcome{}, err
	}
	status := state.PayoutPending
	switch st.Status {
	case azampay.DisbursementSucceeded:
		status = state.PayoutSucceeded
	case azampay.DisbursementFailed:
		status = state.PayoutFailed
	}
	return Outcome{Status: status, ProviderReference: po.ProviderReference, Message: st.Message, Raw: st.Raw, Channel: wallet}, nil
}
