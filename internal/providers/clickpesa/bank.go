package clickpesa

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// Bank payouts (ClickPesa's Payout API): the banks ClickPesa pays to,
// preview (fee, the account holder's name from the bank, balance) and
// create. See https://docs.clickpesa.com/api-reference/disbursement/bank-payout.

// CodeUnknownBank is the code of a payout refused for its bank
// ("Unsupported channel provider").
const CodeUnknownBank = "unknown_bank"

// Name lookup results of a bank payout preview.
const (
	NameResolved    = "RESOLVED"
	NameUnavailable = "UNAVAILABLE"
)

// achMax is the largest TZS payout ClickPesa sends by ACH (it picks RTGS
// above it, and for USD, whatever is asked).
var achMax = big.NewRat(20000000, 1)

var accountNumberRE = regexp.MustCompile(`^[0-9]{6,20}$`)

// IsAccountNumber reports whether s looks like a bank account number
// ClickPesa takes: 6 to 20 digits.
func IsAccountNumber(s string) bool { return accountNumberRE.MatchString(s) }

// BankPayout is the body of a bank payout's preview and create.
type BankPayout struct {
	Amount         string // decimal string: what the account receives
	Currency       string // TZS (default) or USD: the balance it is taken from
	OrderReference string // letters and digits, unique
	AccountNumber  string
	AccountName    string // required by create
	BIC            string // the bank, as GET /list/banks names it
}

// TransferType is what ClickPesa sends r by: ACH for TZS up to
// 20,000,000, RTGS otherwise (ClickPesa decides; the request says the same).
func (r BankPayout) TransferType() string {
	a, ok := new(big.Rat).SetString(strings.TrimSpace(r.Amount))
	if strings.ToUpper(r.Currency) != "USD" && ok && a.Cmp(achMax) <= 0 {
		return "ACH"
	}
	return "RTGS"
}

func (r BankPayout) payload(create bool) (map[string]any, error) {
	amount, err := wire.Decimal(r.Amount)
	if err != nil {
		return nil, err
	}
	if !referenceRE.MatchString(r.OrderReference) || len(r.OrderReference) > MaxReferenceLen {
		return nil, fmt.Errorf("orderReference %q must be 1-%d letters and digits only", r.OrderReference, MaxReferenceLen)
	}
	if !IsAccountNumber(r.AccountNumber) {
		return nil, fmt.Errorf("account number %q is not 6 to 20 digits", r.AccountNumber)
	}
	if strings.TrimSpace(r.BIC) == "" {
		return nil, fmt.Errorf("the bank (BIC) is required")
	}
	if create && strings.TrimSpace(r.AccountName) == "" {
		return nil, fmt.Errorf("the account name is required")
	}
	cur := strings.ToUpper(r.Currency)
	if cur == "" {
		cur = "TZS"
	}
	p := map[string]any{
		"amount":          jsNumber(amount),
		"accountNumber":   r.AccountNumber,
		"currency":        cur,
		"accountCurrency": "TZS",
		"orderReference":  r.OrderReference,
		"bic":             strings.ToUpper(strings.TrimSpace(r.BIC)),
		"transferType":    r.TransferType(),
	}
	if create {
		p["accountName"] = strings.TrimSpace(r.AccountName)
	}
	return p, nil
}

// bankFailure is payoutFailure that also names an unknown bank.
func (c *Client) bankFailure(op string, initiation bool, resp wire.Response) error {
	err := c.payoutFailure(op, initiation, resp)
	if pe, ok := err.(*providers.Error); ok && resp.Status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(pe.Message), "unsupported channel provider") {
		pe.Code = CodeUnknownBank
	}
	return err
}

// BankPreview is PayoutPreview with what a bank preview adds.
type BankPreview struct {
	PayoutPreview
	NameLookup       string // RESOLVED | UNAVAILABLE
	TransferType     string // ACH | RTGS, as ClickPesa will send it
	EstimatedArrival string
}

// PreviewBankPayout checks a bank payout without moving money
// (POST /payouts/preview-bank-payout): the fee, the account holder's name
// as the bank knows it (when its lookup is available) and the balance.
func (c *Client) PreviewBankPayout(ctx context.Context, r BankPayout) (pv BankPreview, err error) {
	const op = "preview_bank_payout"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	p, err := r.payload(false)
	resp, err := c.post(ctx, op, "/payouts/preview-bank-payout", p, err, false, c.bankFailure)
	if err != nil {
		return BankPreview{}, err
	}
	var w struct {
		wirePreview
		NameLookup       wire.String `json:"nameLookupStatus"`
		TransferType     wire.String `json:"transferType"`
		EstimatedArrival wire.String `json:"estimatedArrival"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return BankPreview{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable answer", err)
	}
	return BankPreview{
		PayoutPreview: w.preview(resp.Body),
		NameLookup:    strings.ToUpper(string(w.NameLookup)), TransferType: string(w.TransferType), EstimatedArrival: string(w.EstimatedArrival),
	}, nil
}

// CreateBankPayout sends money to a bank account
// (POST /payouts/create-bank-payout). Like CreateMobileMoneyPayout it is
// never retried: a timeout, broken connection or 5xx is UnknownOutcome.
func (c *Client) CreateBankPayout(ctx context.Context, r BankPayout) (po Payout, err error) {
	const op = "create_bank_payout"
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	p, err := r.payload(true)
	resp, err := c.post(ctx, op, "/payouts/create-bank-payout", p, err, true, c.bankFailure)
	if err != nil {
		return Payout{}, err
	}
	var w wirePayout
	if json.Unmarshal(resp.Body, &w) != nil || w.ID == "" {
		return Payout{}, c.call.Err(opName(op), providers.UnknownOutcome, resp.Status, "", "answer carries no payout id", nil)
	}
	return w.payout(resp.Body), nil
}

// Bank is one bank ClickPesa pays to.
type Bank struct {
	Name string
	BIC  string
}

// Banks lists the banks ClickPesa pays to (GET /list/banks).
func (c *Client) Banks(ctx context.Context) ([]Bank, error) {
	var w []struct {
		Name wire.String `json:"name"`
		BIC  wire.String `json:"bic"`
	}
	if err := c.getJSON(ctx, "list_banks", "/list/banks", "undecodable bank list", &w); err != nil {
		return nil, err
	}
	bs := make([]Bank, 0, len(w))
	for _, b := range w {
		bs = append(bs, Bank{Name: string(b.Name), BIC: string(b.BIC)})
	}
	return bs, nil
}

// getJSON makes one GET of path, retried on transient failures, and
// decodes its 2xx answer into v; undecodable is the error's text when the
// answer does not decode.
func (c *Client) getJSON(ctx context.Context, op, path, undecodable string, v any) (err error) {
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	return wire.Retry(ctx, c.retries, c.backoff, func() error {
		resp, err := c.do(ctx, op, http.MethodGet, path, nil, false)
		if err != nil {
			return err
		}
		if resp.Status/100 != 2 {
			return c.failure(op, false, resp)
		}
		if err := json.Unmarshal(resp.Body, v); err != nil {
			return c.call.Err(opName(op), providers.Retryable, resp.Status, "", undecodable, err)
		}
		return nil
	})
}
