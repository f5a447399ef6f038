package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
)

// ClickPesa bank payouts: the list of banks, preview (fee, the account's
// name as the bank knows it, the balance; no money moves) and create. The
// account number's last digit picks the outcome, as a phone's does for
// mobile money; an account number ending in 9 has no name lookup
// (nameLookupStatus UNAVAILABLE) and is otherwise paid.

// cpBanks are the banks the emulator pays to.
var cpBanks = []struct{ Name, BIC string }{
	{"CRDB BANK PLC", "CORUTZTZ"},
	{"NMB BANK PLC", "NMIBTZTZ"},
	{"NBC BANK LIMITED", "NLCBTZTX"},
	{"AMANA BANK LIMITED", "AMNNTZTZ"},
}

// cpACHMax is the largest TZS payout ClickPesa sends by ACH; above it,
// and for USD, it uses RTGS whatever the request says.
var cpACHMax = big.NewRat(20000000, 1)

var cpAccountNumber = regexp.MustCompile(`^[0-9]{6,20}$`)

func cpBankName(bic string) (string, bool) {
	for _, b := range cpBanks {
		if strings.EqualFold(b.BIC, bic) {
			return b.Name, true
		}
	}
	return "", false
}

// cpAccountHolder is the name the emulated bank gives an account, or ""
// when its name lookup is unavailable (account ending in 9).
func cpAccountHolder(account string) string {
	if strings.HasSuffix(account, "9") {
		return ""
	}
	return "SANDBOX ACCOUNT " + account[len(account)-4:]
}

func cpTransferType(currency string, amount *big.Rat) string {
	if currency == "TZS" && amount.Cmp(cpACHMax) <= 0 {
		return "ACH"
	}
	return "RTGS"
}

func (e *Emulator) routesClickPesaBank(mux *http.ServeMux) {
	mux.HandleFunc("GET /clickpesa/third-parties/list/banks", e.cpAuth(e.cpListBanks))
	mux.HandleFunc("POST /clickpesa/third-parties/payouts/preview-bank-payout", e.cpAuth(e.cpBankPreview))
	mux.HandleFunc("POST /clickpesa/third-parties/payouts/create-bank-payout", e.cpAuth(e.cpBankCreate))
}

func (e *Emulator) cpListBanks(w http.ResponseWriter, _ *http.Request, _ tokenInfo) {
	out := make([]map[string]string, 0, len(cpBanks))
	for _, b := range cpBanks {
		out = append(out, map[string]string{"name": b.Name, "bic": b.BIC})
	}
	writeJSON(w, http.StatusOK, out)
}

type cpBankRequest struct {
	Amount          json.RawMessage `json:"amount"`
	AccountNumber   string          `json:"accountNumber"`
	AccountName     string          `json:"accountName"`
	Currency        string          `json:"currency"`
	AccountCurrency string          `json:"accountCurrency"`
	OrderReference  string          `json:"orderReference"`
	BIC             string          `json:"bic"`
	TransferType    string          `json:"transferType"`
}

// cpBankValidate decodes and checks a bank payout request; it writes the
// refusal and returns false when the request is refused.
func (e *Emulator) cpBankValidate(w http.ResponseWriter, r *http.Request, create bool) (cpBankRequest, *big.Rat, string, bool) {
	var req cpBankRequest
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	if err := json.Unmarshal(body.Bytes(), &req); err != nil {
		cpMessage(w, http.StatusBadRequest, "Invalid request body")
		return req, nil, "", false
	}
	if !e.cpVerifyChecksum(body.Bytes()) {
		cpMessage(w, http.StatusBadRequest, "Invalid checksum")
		return req, nil, "", false
	}
	amount, amountOK := numberAmount(req.Amount)
	bank, bankOK := cpBankName(req.BIC)
	switch {
	case !cpReference.MatchString(req.OrderReference):
		cpMessage(w, http.StatusBadRequest, "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank")
	case !amountOK:
		cpMessage(w, http.StatusBadRequest, "Invalid amount, should be a number greater than 0")
	case req.Currency != "TZS" && req.Currency != "USD":
		cpMessage(w, http.StatusBadRequest, "Invalid currency: currency must be either TZS or USD")
	case req.AccountCurrency != "" && req.AccountCurrency != "TZS":
		cpMessage(w, http.StatusBadRequest, "Invalid account currency: accountCurrency must be TZS")
	case !cpAccountNumber.MatchString(req.AccountNumber):
		cpMessage(w, http.StatusBadRequest, "Invalid account number")
	case !bankOK:
		cpMessage(w, http.StatusBadRequest, "Unsupported channel provider")
	case req.TransferType != "ACH" && req.TransferType != "RTGS":
		cpMessage(w, http.StatusBadRequest, "Invalid transfer type: transferType must be ACH or RTGS")
	case create && strings.TrimSpace(req.AccountName) == "":
		cpMessage(w, http.StatusBadRequest, "Account name is required")
	default:
		e.mu.Lock()
		_, used := e.cpo.payouts[req.OrderReference]
		e.mu.Unlock()
		if used {
			cpMessage(w, http.StatusConflict, fmt.Sprintf("Order reference %s already used: Create a different reference", req.OrderReference))
			return req, nil, "", false
		}
		return req, amount, bank, true
	}
	return req, nil, "", false
}

func (e *Emulator) cpBankPreview(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	req, amount, bank, ok := e.cpBankValidate(w, r, false)
	if !ok {
		return
	}
	fee := cpFee(amount)
	total := new(big.Rat).Add(amount, fee)
	e.mu.Lock()
	balance := new(big.Rat).Set(e.cpBalanceLocked(req.Currency))
	e.mu.Unlock()
	if total.Cmp(balance) > 0 {
		cpInsufficient(w, balance, req.Currency)
		return
	}
	receiver := map[string]any{"accountNumber": req.AccountNumber, "accountCurrency": "TZS", "amount": jsNumber(amount)}
	lookup := "UNAVAILABLE"
	if name := cpAccountHolder(req.AccountNumber); name != "" {
		receiver["accountName"], lookup = name, "RESOLVED"
	}
	tt := cpTransferType(req.Currency, amount)
	est := "Instant"
	if tt == "RTGS" {
		est = "1-3 Working Days"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"amount": jsNumber(total), "balance": jsNumber(balance), "channelProvider": bank, "fee": jsNumber(fee),
		"exchanged": false, "order": map[string]any{"amount": jsNumber(amount), "currency": req.Currency, "id": req.OrderReference},
		"payoutFeeBearer": "merchant", "nameLookupStatus": lookup, "receiver": receiver, "transferType": tt,
		"estimatedArrival": est,
	})
}

func (e *Emulator) cpBankCreate(w http.ResponseWriter, r *http.Request, tok tokenInfo) {
	req, amount, bank, ok := e.cpBankValidate(w, r, true)
	if !ok {
		return
	}
	oc := outcomeFor(req.AccountNumber)
	if oc == outcomeServerError {
		cpMessage(w, http.StatusInternalServerError, "Internal server error")
		return
	}
	now := e.now()
	p := &cpPayout{
		id: "PAY" + strings.ToUpper(randomHex(7)), orderRef: req.OrderReference, amount: amount, fee: cpFee(amount),
		currency: req.Currency, channel: "BANK TRANSFER", provider: bank, account: req.AccountNumber,
		accountName: strings.TrimSpace(req.AccountName), clientID: tok.clientID, status: "AUTHORIZED",
		created: now, updated: now, outcome: oc, transferType: cpTransferType(req.Currency, amount), bic: strings.ToUpper(req.BIC),
	}
	e.cpAcceptPayout(w, r, p)
}
