package azampay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// Disbursement (AzamPay's money out, on its own host): name lookup,
// disburse, and the status of a disbursement by AzamPay's pgReferenceId.
// Each request carries a checksum: Base64(RSA-PKCS#1 v1.5 encryption,
// with the merchant's disbursement public key, of SHA-512(fields)). The
// fields, concatenated without separator, are bankName + accountNumber for
// a name lookup, and source account + destination account + currency +
// amount + dateInEpoch + externalReferenceId for a disbursement. See
// https://developerdocs.azampay.co.tz/redoc (Disbursement).

// Disbursement paths on the disbursement host.
const (
	NameLookupPath         = "/api/v1/azampay/namelookup"
	DisbursePath           = "/api/v1/azampay/disburse"
	DisbursementStatusPath = "/api/v1/azampay/transactionstatus"
)

// Wallets AzamPay disburses to and from, as its disbursement API spells
// them (lower case).
const (
	WalletAirtel   = "airtel"
	WalletTigo     = "tigo"
	WalletAzampesa = "azampesa"
)

// Error codes of disbursement refusals (providers.Error.Code).
const (
	CodeDuplicateReference = "duplicate_reference"
	CodeRequestExpired     = "request_expired"
	CodeNameNotFound       = "name_not_found"
)

// MaxDisbursementReference is the longest externalReferenceId.
const MaxDisbursementReference = 30

// DisbursementWallet is the wallet AzamPay disburses to for a Tanzanian
// mobile number, or "" when AzamPay does not disburse to its network
// (M-Pesa, Halopesa).
func DisbursementWallet(phone string) string {
	switch InferMNO(phone) {
	case MNOAirtel:
		return WalletAirtel
	case MNOTigo:
		return WalletTigo
	}
	return ""
}

// ParseDisbursementKey reads a PEM public key (PKIX "PUBLIC KEY" or
// PKCS#1 "RSA PUBLIC KEY").
func ParseDisbursementKey(s string) (*rsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if b == nil {
		return nil, errors.New("the disbursement key is not a PEM block")
	}
	if k, err := x509.ParsePKCS1PublicKey(b.Bytes); err == nil {
		return k, nil
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the disbursement key is not a public key: %w", err)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("the disbursement key is not an RSA key")
	}
	return k, nil
}

// DisbursementChecksum is Base64(RSA-PKCS#1 v1.5(SHA-512(input))) with key.
// The encryption is randomised: two checksums of one input differ.
func DisbursementChecksum(key *rsa.PublicKey, input string) (string, error) {
	sum := sha512.Sum512([]byte(input))
	enc, err := rsa.EncryptPKCS1v15(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("encrypt the checksum: %w", err)
	}
	return base64.StdEncoding.EncodeToString(enc), nil
}

// CanDisburse reports whether the client was given a disbursement host and key.
func (c *Client) CanDisburse() bool { return c.disburseKey != nil }

func (c *Client) disbursementOff(op string) error {
	return c.call.Err(opName(op), providers.Permanent, 0, "disbursement_off", "no disbursement URL and key configured", nil)
}

// Name is what a name lookup found.
type Name struct {
	Name, First, Last string
	Raw               json.RawMessage
}

// NameLookup asks the wallet (or bank) for the name of an account
// (POST /api/v1/azampay/namelookup). An account it does not know is
// Permanent with Code CodeNameNotFound.
func (c *Client) NameLookup(ctx context.Context, wallet, account string) (n Name, err error) {
	const op = "name_lookup"
	if !c.CanDisburse() {
		return Name{}, c.disbursementOff(op)
	}
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	sum, err := DisbursementChecksum(c.disburseKey, wallet+account)
	if err != nil {
		return Name{}, c.call.Err(opName(op), providers.Permanent, 0, "", "checksum", err)
	}
	body, _ := json.Marshal(map[string]string{"bankName": wallet, "accountNumber": account, "checksum": sum})
	var resp wire.Response
	err = wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		resp, err = c.do(ctx, op, http.MethodPost, c.disburseURL+NameLookupPath, body, false)
		if err == nil && resp.Status/100 != 2 {
			err = c.failure(op, false, resp)
		}
		return err
	})
	if err != nil {
		return Name{}, err
	}
	var w struct {
		Name    wire.String `json:"name"`
		FName   wire.String `json:"fname"`
		FNameC  wire.String `json:"fName"`
		LName   wire.String `json:"lname"`
		LNameC  wire.String `json:"lName"`
		Message wire.String `json:"message"`
		Status  *bool       `json:"status"`
		Success *bool       `json:"success"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return Name{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable answer", err)
	}
	ok := (w.Status == nil || *w.Status) && (w.Success == nil || *w.Success)
	if !ok || w.Name == "" {
		msg := string(w.Message)
		if msg == "" {
			msg = "no name for this account"
		}
		return Name{}, c.call.Err(opName(op), providers.Permanent, resp.Status, CodeNameNotFound, msg, nil)
	}
	return Name{Name: string(w.Name), First: first(string(w.FName), string(w.FNameC)), Last: first(string(w.LName), string(w.LNameC)),
		Raw: providers.WithoutCredentials(resp.Body)}, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Party is one side of a disbursement.
type Party struct {
	Wallet  string // airtel, tigo, azampesa
	Account string // MSISDN 255… or account number
	Name    string
}

// Disbursement is one disbursement request.
type Disbursement struct {
	Reference   string // externalReferenceId: unique, at most 30 characters
	Amount      string // decimal; TZS is sent as a whole number
	Currency    string // TZS
	Source      Party  // the merchant's disbursement account
	Destination Party
	Type        string // transferDetails.type (default DISBURSEMENT)
	Remarks     string
}

// Disbursed is AzamPay's acceptance of a disbursement: in process, not paid.
type Disbursed struct {
	PgReferenceID string
	Message       string
	Raw           json.RawMessage
}

// wholeAmount writes a decimal without a fractional part when it has none
// worth writing ("850000.00" -> "850000"), the form the checksum is
// computed over.
func wholeAmount(s string) (string, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 {
		return "", fmt.Errorf("amount %q is not a positive decimal", s)
	}
	if r.IsInt() {
		return r.Num().String(), nil
	}
	out := strings.TrimRight(r.FloatString(2), "0")
	return strings.TrimSuffix(out, "."), nil
}

// Disburse sends money from the merchant's account to a wallet
// (POST /api/v1/azampay/disburse). It is never retried: a timeout,
// broken connection or 5xx is UnknownOutcome. A reused reference is
// Permanent with Code CodeDuplicateReference; a request AzamPay finds too
// old (402 "Request expired") is Retryable with CodeRequestExpired
// (nothing was sent; a new request is stamped afresh).
func (c *Client) Disburse(ctx context.Context, d Disbursement) (res Disbursed, err error) {
	const op = "disburse"
	if !c.CanDisburse() {
		return Disbursed{}, c.disbursementOff(op)
	}
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	amount, err := wholeAmount(d.Amount)
	if err != nil || d.Reference == "" || len(d.Reference) > MaxDisbursementReference || d.Destination.Account == "" || d.Source.Account == "" {
		msg := "reference (1-30 characters), amount, source and destination accounts are required"
		if err != nil {
			msg = err.Error()
		}
		return Disbursed{}, c.call.Err(opName(op), providers.Permanent, 0, "invalid_request", msg, nil)
	}
	cur := strings.ToUpper(d.Currency)
	if cur == "" {
		cur = "TZS"
	}
	typ := d.Type
	if typ == "" {
		typ = "DISBURSEMENT"
	}
	epoch := c.now().Unix()
	sum, err := DisbursementChecksum(c.disburseKey, d.Source.Account+d.Destination.Account+cur+amount+fmt.Sprint(epoch)+d.Reference)
	if err != nil {
		return Disbursed{}, c.call.Err(opName(op), providers.Permanent, 0, "", "checksum", err)
	}
	party := func(p Party) map[string]string {
		return map[string]string{"countryCode": "TZ", "fullName": p.Name, "bankName": p.Wallet, "accountNumber": p.Account, "currency": cur}
	}
	body, _ := json.Marshal(map[string]any{
		"source":              party(d.Source),
		"destination":         party(d.Destination),
		"transferDetails":     map[string]any{"type": typ, "amount": json.Number(amount), "dateInEpoch": epoch},
		"externalReferenceId": d.Reference,
		"remarks":             d.Remarks,
		"checksum":            sum,
	})
	resp, err := c.do(ctx, op, http.MethodPost, c.disburseURL+DisbursePath, body, true)
	if err != nil {
		return Disbursed{}, err
	}
	var w struct {
		errorBody
		PgReferenceID wire.String `json:"pgReferenceId"`
		Success       *bool       `json:"success"`
	}
	jerr := json.Unmarshal(resp.Body, &w)
	switch {
	case resp.Status/100 == 2 && jerr == nil && w.PgReferenceID != "" && (w.Success == nil || *w.Success):
		return Disbursed{PgReferenceID: string(w.PgReferenceID), Message: string(w.Message), Raw: providers.WithoutCredentials(resp.Body)}, nil
	case resp.Status == http.StatusPaymentRequired:
		return Disbursed{}, c.call.Err(opName(op), providers.Retryable, resp.Status, CodeRequestExpired, w.text(), nil)
	case resp.Status == http.StatusForbidden && strings.Contains(strings.ToLower(w.text()), "duplicate"):
		return Disbursed{}, c.call.Err(opName(op), providers.Permanent, resp.Status, CodeDuplicateReference, w.text(), nil)
	case resp.Status/100 == 2:
		// 2xx without a pgReferenceId: AzamPay said something, not "in process".
		if w.Success != nil && !*w.Success {
			return Disbursed{}, c.call.Err(opName(op), providers.Permanent, resp.Status, "", w.text(), nil)
		}
		return Disbursed{}, c.call.Err(opName(op), providers.UnknownOutcome, resp.Status, "", "answer carries no pgReferenceId", nil)
	}
	return Disbursed{}, c.failure(op, true, resp)
}

// Disbursement statuses in finconnectd's vocabulary.
const (
	DisbursementPending   = "pending"
	DisbursementSucceeded = "succeeded"
	DisbursementFailed    = "failed"
)

// DisbursementState is what AzamPay says about a disbursement.
type DisbursementState struct {
	Status  string // DisbursementPending | DisbursementSucceeded | DisbursementFailed
	Data    string // AzamPay's own word
	Message string
	Raw     json.RawMessage
}

// MapDisbursementStatus maps AzamPay's word (the status answer's data) to
// finconnectd's: SUCCESS, COMPLETE(D) and "Transaction successful."
// succeeded; FAILED, FAIL and FAILURE failed; anything else pending.
func MapDisbursementStatus(data string) string {
	switch strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(data), ".")) {
	case "SUCCESS", "SUCCESSFUL", "COMPLETE", "COMPLETED", "TRANSACTION SUCCESSFUL":
		return DisbursementSucceeded
	case "FAILED", "FAIL", "FAILURE":
		return DisbursementFailed
	}
	return DisbursementPending
}

// DisbursementStatus asks about a disbursement by AzamPay's pgReferenceId
// and the wallet it went through
// (GET /api/v1/azampay/transactionstatus). An unknown disbursement
// (AzamPay answers HTTP 402 or 404, "Transaction not found") is Permanent
// with Code "not_found".
func (c *Client) DisbursementStatus(ctx context.Context, pgReferenceID, wallet string) (st DisbursementState, err error) {
	const op = "disbursement_status"
	if !c.CanDisburse() {
		return DisbursementState{}, c.disbursementOff(op)
	}
	if pgReferenceID == "" {
		return DisbursementState{}, c.call.Err(opName(op), providers.Permanent, 0, "invalid_request", "no pgReferenceId to ask about", nil)
	}
	start := c.call.Start()
	defer func() { c.call.Observe(op, start, err) }()
	target := c.disburseURL + DisbursementStatusPath + "?" + url.Values{"pgReferenceId": {pgReferenceID}, "bankName": {wallet}}.Encode()
	var resp wire.Response
	err = wire.Retry(ctx, c.retries, c.backoff, func() error {
		var err error
		resp, err = c.do(ctx, op, http.MethodGet, target, nil, false)
		if err != nil {
			return err
		}
		if resp.Status == http.StatusPaymentRequired || resp.Status == http.StatusNotFound {
			return c.call.Err(opName(op), providers.Permanent, resp.Status, "not_found", "Transaction not found", nil)
		}
		if resp.Status/100 != 2 {
			return c.failure(op, false, resp)
		}
		return nil
	})
	if err != nil {
		return DisbursementState{}, err
	}
	var w struct {
		Data    json.RawMessage `json:"data"`
		Message wire.String     `json:"message"`
		Success *bool           `json:"success"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return DisbursementState{}, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable answer", err)
	}
	var data string
	if json.Unmarshal(w.Data, &data) != nil {
		var obj struct {
			Status wire.String `json:"status"`
			Data   wire.String `json:"data"`
		}
		if json.Unmarshal(w.Data, &obj) == nil {
			data = first(string(obj.Status), string(obj.Data))
		}
	}
	if w.Success != nil && !*w.Success && data == "" {
		return DisbursementState{}, c.call.Err(opName(op), providers.Permanent, resp.Status, "not_found", string(w.Message), nil)
	}
	return DisbursementState{Status: MapDisbursementStatus(data), Data: data, Message: string(w.Message), Raw: providers.WithoutCredentials(resp.Body)}, nil
}
