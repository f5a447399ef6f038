package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// AzamPay disbursement, on the disbursement host (/azampay-disbursement):
// name lookup, disburse and the status of a disbursement. Every request's
// checksum is verified as AzamPay does: decrypted with the emulator's RSA
// private key (whose public half, PublicKeyPEM, is the merchant's
// disbursement key) and compared with SHA-512 of the documented fields. A
// disbursement stamped more than five minutes away from now is 402
// "Request expired"; a reused externalReferenceId 403.
//
// The destination number's last digit picks the outcome, as for payments:
//
//	0, 7-9  SUCCESS after the delay
//	1       FAILED after the delay (the wallet refused it)
//	2       FAILED after the delay (cancelled)
//	3       SUCCESS after the delay, without a callback
//	4       SUCCESS after the delay, the callback sent twice
//	5       500 on disburse; nothing is created
//	6       created, but the answer is held back for slow-answer
//	9       (name lookup only) no name: status false
//
// After the customer delay the emulator sends AzamPay's (unsigned)
// disbursement callback to the azampay-callback URL, as for checkouts.

// azDisbursementWindow is how far dateInEpoch may be from now.
const azDisbursementWindow = 5 * time.Minute

type azDisbursement struct {
	pgRef     string
	reference string
	wallet    string
	account   string
	amount    string
	status    string // PENDING, SUCCESS, FAILED
	outcome   outcome
}

type azDisbursementState struct {
	mu    sync.Mutex
	byRef map[string]*azDisbursement // by pgReferenceId
	byExt map[string]string          // externalReferenceId -> pgReferenceId
}

func (e *Emulator) routesAzamPayDisbursement(mux *http.ServeMux) {
	e.azd.byRef, e.azd.byExt = map[string]*azDisbursement{}, map[string]string{}
	mux.HandleFunc("POST /azampay-disbursement/api/v1/azampay/namelookup", e.azAuth(false, e.azNameLookup))
	mux.HandleFunc("POST /azampay-disbursement/api/v1/azampay/disburse", e.azAuth(false, e.azDisburse))
	mux.HandleFunc("GET /azampay-disbursement/api/v1/azampay/transactionstatus", e.azAuth(false, e.azDisbursementStatus))
}

// azChecksumOK reports whether checksum is the encryption of SHA-512(input)
// with the emulator's public key.
func (e *Emulator) azChecksumOK(checksum, input string) bool {
	enc, err := base64.StdEncoding.DecodeString(checksum)
	if err != nil {
		return false
	}
	got, err := rsa.DecryptPKCS1v15(rand.Reader, e.key, enc)
	if err != nil {
		return false
	}
	want := sha512.Sum512([]byte(input))
	return subtle.ConstantTimeCompare(got, want[:]) == 1
}

func azDisburseError(w http.ResponseWriter, status int, msg string, statusCode int) {
	writeJSON(w, status, map[string]any{"pgReferenceId": nil, "message": msg, "success": false, "statusCode": statusCode})
}

func (e *Emulator) azNameLookup(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	var req struct {
		BankName      string `json:"bankName"`
		AccountNumber string `json:"accountNumber"`
		Checksum      string `json:"checksum"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		azProblem(w, map[string][]string{"$": {"The request body is not valid JSON."}})
		return
	}
	if !e.azChecksumOK(req.Checksum, req.BankName+req.AccountNumber) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid checksum", "status": false, "statusCode": 400})
		return
	}
	acct := req.AccountNumber
	if acct == "" || strings.HasSuffix(acct, "9") {
		writeJSON(w, http.StatusOK, map[string]any{"name": "", "message": "Name not found", "status": false, "statusCode": 404,
			"accountNumber": acct, "bankName": req.BankName})
		return
	}
	last := acct
	if len(last) > 4 {
		last = last[len(last)-4:]
	}
	writeJSON(w, http.StatusOK, map[string]any{"fname": "SANDBOX", "lname": "WALLET " + last, "name": "SANDBOX WALLET " + last,
		"message": "Success", "status": true, "statusCode": 200, "accountNumber": acct, "bankName": req.BankName})
}

func (e *Emulator) azDisburse(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	type party struct {
		CountryCode   string `json:"countryCode"`
		FullName      string `json:"fullName"`
		BankName      string `json:"bankName"`
		AccountNumber string `json:"accountNumber"`
		Currency      string `json:"currency"`
	}
	var req struct {
		Source          party `json:"source"`
		Destination     party `json:"destination"`
		TransferDetails struct {
			Type        string          `json:"type"`
			Amount      json.RawMessage `json:"amount"`
			DateInEpoch json.Number     `json:"dateInEpoch"`
		} `json:"transferDetails"`
		ExternalReferenceID string `json:"externalReferenceId"`
		Checksum            string `json:"checksum"`
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	dec := json.NewDecoder(bytes.NewReader(body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		azProblem(w, map[string][]string{"$": {"The request body is not valid JSON."}})
		return
	}
	wallets := map[string]bool{"tigo": true, "airtel": true, "azampesa": true}
	errs := map[string][]string{}
	if !wallets[req.Source.BankName] {
		errs["source.bankName"] = []string{"The field bankName must be one of tigo, airtel, azampesa."}
	}
	if !wallets[req.Destination.BankName] {
		errs["destination.bankName"] = []string{"The field bankName must be one of tigo, airtel, azampesa."}
	}
	if req.TransferDetails.Type == "" {
		errs["transferDetails.type"] = []string{"The Type field is required."}
	}
	if n := len(req.ExternalReferenceID); n == 0 || n > 30 {
		errs["externalReferenceId"] = []string{"The field externalReferenceId must be a string with a maximum length of 30."}
	}
	amount, amountOK := numberAmount(req.TransferDetails.Amount)
	if !amountOK {
		errs["transferDetails.amount"] = []string{"The amount must be greater than 0."}
	}
	if len(errs) > 0 {
		azProblem(w, errs)
		return
	}
	epoch, err := req.TransferDetails.DateInEpoch.Int64()
	if err != nil || e.now().Sub(time.Unix(epoch, 0)).Abs() > azDisbursementWindow {
		azDisburseError(w, http.StatusPaymentRequired, "Request expired", 400)
		return
	}
	input := req.Source.AccountNumber + req.Destination.AccountNumber + req.Source.Currency +
		strings.Trim(string(req.TransferDetails.Amount), `"`) + req.TransferDetails.DateInEpoch.String() + req.ExternalReferenceID
	if !e.azChecksumOK(req.Checksum, input) {
		azDisburseError(w, http.StatusBadRequest, "Invalid checksum", 400)
		return
	}
	oc := outcomeFor(req.Destination.AccountNumber)
	if oc == outcomeServerError {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "Internal Server Error", "success": false, "statusCode": 500})
		return
	}
	e.azd.mu.Lock()
	if _, used := e.azd.byExt[req.ExternalReferenceID]; used {
		e.azd.mu.Unlock()
		azDisburseError(w, http.StatusForbidden, "Duplicate External Reference Id", 400)
		return
	}
	d := &azDisbursement{pgRef: randomHex(16), reference: req.ExternalReferenceID, wallet: req.Destination.BankName,
		account: req.Destination.AccountNumber, amount: jsNumberRat(amount), status: "PENDING", outcome: oc}
	e.azd.byRef[d.pgRef], e.azd.byExt[d.reference] = d, d.pgRef
	e.azd.mu.Unlock()
	e.after(time.Duration(e.Settings().Delay), func(context.Context) {
		url := e.Settings().AzamPayCallback
		e.azd.mu.Lock()
		switch d.outcome {
		case outcomeInsufficent, outcomeCancelled:
			d.status = "FAILED"
		default:
			d.status = "SUCCESS"
		}
		cb := *d
		e.azd.mu.Unlock()
		if url != "" && cb.outcome != outcomeSilent {
			e.azDisbursementCallback(url, cb, cb.outcome.notifications())
		}
	})
	if oc == outcomeSlow && !e.slowAnswer(w, r, time.Duration(e.Settings().SlowAnswer)) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pgReferenceId": d.pgRef, "message": "Your transaction is in process", "success": true, "statusCode": 200})
}

func jsNumberRat(r *big.Rat) string { return string(jsNumber(r)) }

func (e *Emulator) azDisbursementStatus(w http.ResponseWriter, r *http.Request, _ tokenInfo) {
	ref := r.URL.Query().Get("pgReferenceId")
	e.azd.mu.Lock()
	d := e.azd.byRef[ref]
	var c azDisbursement
	if d != nil {
		c = *d
	}
	e.azd.mu.Unlock()
	if d == nil {
		writeJSON(w, http.StatusPaymentRequired, map[string]any{"data": nil, "message": "Transaction not found", "success": false, "statusCode": 404})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pgReferenceId": c.pgRef, "data": c.status, "message": "Transaction Status successfuly fetch",
		"success": true, "statusCode": 200})
}

// azDisbursementCallback sends AzamPay's disbursement callback (unsigned,
// as documented) n times to url.
func (e *Emulator) azDisbursementCallback(url string, d azDisbursement, n int) {
	status, message := "success", "Transaction completed"
	if d.status == "FAILED" {
		status, message = "failure", "Transaction failed"
	}
	operator := map[string]string{"airtel": "Airtel", "tigo": "Tigo", "azampesa": "Azampesa"}[strings.ToLower(d.wallet)]
	body, err := compactJSON(map[string]any{
		"initiatorReferenceId": d.reference, "fspReferenceId": "AM" + randomCode(6), "pgReferenceId": d.pgRef,
		"amount": d.amount, "status": status, "message": message, "operator": operator, "additionalProperties": nil,
	})
	if err != nil {
		e.log.Error("sandbox azampay disbursement callback not built", "reference", d.reference, "err", err)
		return
	}
	nt := notification{provider: providerAzamPay, method: http.MethodPost, url: url, body: body,
		contentType: "application/json", ack: func(status int, _ []byte) bool { return status == http.StatusOK },
		what: "disbursement callback " + d.reference}
	for range n {
		e.deliver(nt)
	}
}
