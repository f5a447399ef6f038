package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/state"
)

// pesapal handles an IPN: ids only, never trusted, confirmed with
// GetTransactionStatus. The answer is always PesaPal's JSON ack once the
// IPN parsed: status 200 when recorded, 500 when not (PesaPal retries).
func (in *Ingester) pesapal(ctx context.Context, ri *routeInfo, r *http.Request, body []byte) result {
	ipn, err := pesapal.ParseIPN(r.Method, r.URL.Query(), r.Header.Get("Content-Type"), body)
	if err != nil {
		return reject(http.StatusBadRequest, "malformed", "Not a PesaPal IPN: "+err.Error(), nil)
	}
	withAck := func(res result) result {
		res.pesapalIPN, res.ackOK, res.ackF = true, ipn.Ack(200), ipn.Ack(500)
		if res.st.ProviderReference == "" {
			res.st.ProviderReference = ipn.OrderTrackingID
		}
		return res
	}
	p, found, err := in.lookup(ctx, ri, ipn.OrderMerchantReference)
	if err != nil {
		return withAck(storeFailure(err))
	}
	st, err := in.confirm(ctx, ri, ri.budgetFor(p, found, ipn.OrderTrackingID), ipn.OrderTrackingID, providers.PaymentQuery{
		ProviderReference: ipn.OrderTrackingID,
		Reference:         ipn.OrderMerchantReference,
	})
	if err != nil {
		return withAck(confirmFailure(err))
	}
	if st.ProviderReference == "" {
		st.ProviderReference = ipn.OrderTrackingID
	}
	// What we store is what PesaPal sent (ids only) in a canonical form.
	stored, _ := json.Marshal(map[string]string{
		"OrderTrackingId":        ipn.OrderTrackingID,
		"OrderMerchantReference": ipn.OrderMerchantReference,
		"OrderNotificationType":  ipn.OrderNotificationType,
	})
	return withAck(in.apply(ctx, ri, verified{st: st, dedupRef: ipn.OrderTrackingID, body: stored, source: state.SourceStatusQuery}))
}

// clickpesa handles a webhook. With a checksum key, a checksum that
// verifies over the raw body proves the webhook's own statement about a
// payment we hold (bound to it: same provider reference, amount and
// currency). Anything else (no checksum key, or a reference we do not
// hold) is a hint confirmed by querying the order reference.
func (in *Ingester) clickpesa(ctx context.Context, ri *routeInfo, body []byte) result {
	cfg := ri.provider.ClickPesa
	signed := cfg != nil && !cfg.ChecksumKey.IsZero()
	if signed {
		if err := clickpesa.VerifyChecksum(body, []byte(cfg.ChecksumKey.Reveal())); err != nil {
			if errors.Is(err, clickpesa.ErrChecksumMismatch) || errors.Is(err, clickpesa.ErrChecksumMissing) {
				return reject(http.StatusUnauthorized, "bad_signature", "The checksum does not verify.", nil)
			}
			// Not JSON, or a checksum method we do not know: unverifiable.
			return reject(http.StatusBadRequest, "malformed", "Not a ClickPesa webhook.", nil)
		}
	}
	wh, err := clickpesa.ParseWebhook(body)
	if err != nil {
		return reject(http.StatusBadRequest, "malformed", "Not a ClickPesa webhook: "+err.Error(), nil)
	}
	if clickpesa.IsPayoutEvent(wh.Event) && in.payouts != nil {
		return in.clickpesaPayout(ctx, ri, body, signed)
	}
	if !strings.HasPrefix(strings.ToUpper(wh.Event), "PAYMENT") {
		// Deposits (and payouts without a settler) are not tracked.
		return result{code: http.StatusOK, outcome: "ignored"}
	}
	d := wh.Data
	st := providers.PaymentStatus{
		Status:            clickpesa.MapStatus(d.Status),
		Reference:         d.OrderReference,
		ProviderReference: d.ID,
		Amount:            d.CollectedAmount,
		Currency:          d.CollectedCurrency,
		Phone:             d.Customer.Phone,
		ConfirmationCode:  d.PaymentReference,
		Message:           d.Message,
		Raw:               wh.Raw,
	}
	if d.OrderReference == "" {
		return reject(http.StatusBadRequest, "malformed", "The webhook names no orderReference.", nil)
	}
	if signed {
		// Proof of the webhook's own statement, if we hold the payment:
		// the store finds it and binds the statement to it in the
		// transaction that records it (no lookup beforehand), and says
		// when there is none; the webhook is then a hint like any other.
		// The parse already took the credentials out of the body (wh.Raw),
		// here and below.
		res := in.apply(ctx, ri, verified{st: st, dedupRef: firstOf(st.ProviderReference, st.Reference), body: wh.Raw, clean: true, source: state.SourceNotification})
		if !res.notHeld {
			return res
		}
	}
	var (
		p     state.Payment
		found bool
	)
	if !signed {
		var err error
		if p, found, err = in.lookup(ctx, ri, d.OrderReference); err != nil {
			res := storeFailure(err)
			res.st = st
			return res
		}
	}
	confirmed, err := in.confirm(ctx, ri, ri.budgetFor(p, found, d.ID), d.OrderReference, providers.PaymentQuery{Reference: d.OrderReference})
	if err != nil {
		res := confirmFailure(err)
		res.st = st
		return res
	}
	return in.apply(ctx, ri, verified{st: confirmed, dedupRef: firstOf(confirmed.ProviderReference, confirmed.Reference), body: wh.Raw, clean: true, source: state.SourceStatusQuery})
}

// azampay handles a callback. AzamPay signs utilityref +
// externalreference + transactionstatus + operator with no separators and
// does not sign the amount, so a signature proves only those four values
// as one string: moving characters between utilityref and
// externalreference keeps it valid. A signed callback is therefore proof
// only when utilityref names a payment we hold whose transaction id (stored
// from the checkout answer) is exactly externalreference; the amount is
// then checked against the payment's. Every other callback (unsigned, for
// accounts AzamPay does not sign for; about a payment we do not hold or
// whose transaction id we do not know yet; or on a provider configured
// with callback_proof = "query") is confirmed with the collection status
// query, and the provider's answer must name the same payment. A
// signature that is present and does not verify is always 401; with
// callback_proof = "signature" a missing one is too.
func (in *Ingester) azampay(ctx context.Context, ri *routeInfo, body []byte) result {
	if isDisbursementCallback(body) {
		if in.payouts == nil {
			return result{code: http.StatusOK, outcome: "ignored"}
		}
		return payoutResult(in.payouts.AzamPayDisbursement(ctx, ri.provider.ID(), ri.route.Name, body))
	}
	c, err := azampay.ParseCallback(body)
	if err != nil {
		return reject(http.StatusBadRequest, "malformed", "Not an AzamPay callback: "+err.Error(), nil)
	}
	mode := config.ProofSignatureOrQuery
	if cfg := ri.provider.AzamPay; cfg != nil && cfg.CallbackProof != "" {
		mode = cfg.CallbackProof
	}
	signed := c.Signature != ""
	switch {
	case signed:
		if res, ok := in.verifyAzamPay(ctx, ri, c); !ok {
			return res
		}
	case mode == config.ProofSignature:
		return reject(http.StatusUnauthorized, "unsigned", "The callback carries no signature and this provider requires one (callback_proof = \"signature\").", nil)
	}
	st := providers.PaymentStatus{
		Status:            azampay.MapStatus(c.TransactionStatus),
		Reference:         c.UtilityRef,
		ProviderReference: firstOf(c.ExternalReference, c.Reference, c.TransID),
		Amount:            c.Amount,
		Phone:             c.MSISDN,
		ConfirmationCode:  c.MNOReference,
		Message:           c.Message,
		Raw:               body,
	}
	p, found, err := in.lookup(ctx, ri, c.UtilityRef)
	if err != nil {
		res := storeFailure(err)
		res.st = st
		return res
	}
	if signed && mode != config.ProofQuery && found && p.ProviderReference != "" && c.ExternalReference == p.ProviderReference {
		return in.apply(ctx, ri, verified{st: st, dedupRef: st.ProviderReference, body: body, source: state.SourceNotification})
	}

	// Confirm with the provider. For a payment we hold whose transaction id
	// we know, ask about that transaction, whatever the callback names.
	txID, mno := st.ProviderReference, c.Operator
	if found && p.ProviderReference != "" {
		txID = p.ProviderReference
	}
	if found && p.MNO != "" {
		mno = p.MNO
	}
	if txID == "" {
		return reject(http.StatusBadRequest, "malformed", "The callback names no transaction to confirm it with.", nil)
	}
	confirmed, err := in.confirm(ctx, ri, ri.budgetFor(p, found, st.ProviderReference), txID, providers.PaymentQuery{ProviderReference: txID, MNO: mno})
	if err != nil {
		res := confirmFailure(err)
		res.st = st
		return res
	}
	// The provider's record must be the payment the callback names.
	switch {
	case confirmed.Reference == "" && found && txID == p.ProviderReference:
		confirmed.Reference = p.Reference // asked about the stored payment's own transaction
	case confirmed.Reference != c.UtilityRef:
		res := reject(http.StatusUnprocessableEntity, "mismatch", "The provider's record of this transaction is not the payment the callback names.", nil)
		res.st = st
		return res
	}
	return in.apply(ctx, ri, verified{st: confirmed, dedupRef: firstOf(confirmed.ProviderReference, txID), body: body, source: state.SourceStatusQuery})
}

// verifyAzamPay checks a callback's signature with the provider's public
// key from state, fetched afresh once when it does not verify (rotation).
func (in *Ingester) verifyAzamPay(ctx context.Context, ri *routeInfo, c azampay.Callback) (result, bool) {
	client := ri.rt.azamPay(ri.provider.ID())
	key, err := in.azamPayKeys.key(ctx, ri.provider, client, false)
	refetched := false
	if err != nil || key == nil {
		refetched = true
		if key, err = in.azamPayKeys.key(ctx, ri.provider, client, true); err != nil || key == nil {
			return reject(http.StatusServiceUnavailable, "key_unavailable", "The provider's public key is not available; retry later.", err), false
		}
	}
	if err := azampay.VerifyCallback(key, c); err != nil {
		if refetched {
			return reject(http.StatusUnauthorized, "bad_signature", "The signature does not verify.", nil), false
		}
		fresh, ferr := in.azamPayKeys.key(ctx, ri.provider, client, true)
		if ferr != nil || fresh == nil || azampay.VerifyCallback(fresh, c) != nil {
			return reject(http.StatusUnauthorized, "bad_signature", "The signature does not verify.", nil), false
		}
	}
	return result{}, true
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if s := strings.TrimSpace(v); s != "" {
			return s
		}
	}
	return ""
}
