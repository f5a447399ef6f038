package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
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
	st, err := in.confirm(ctx, ri, ipn.OrderTrackingID, providers.PaymentQuery{
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
	return withAck(in.apply(ctx, ri, verified{st: st, dedupRef: ipn.OrderTrackingID, body: stored}))
}

// clickpesa handles a webhook: with a checksum key the checksum over the
// raw body is the proof and the webhook's own status is trusted; without
// one the webhook is a hint confirmed by querying the order reference.
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
	if !signed {
		if d.OrderReference == "" {
			return reject(http.StatusBadRequest, "malformed", "An unsigned webhook must name its orderReference to be confirmed.", nil)
		}
		confirmed, err := in.confirm(ctx, ri, d.OrderReference, providers.PaymentQuery{Reference: d.OrderReference})
		if err != nil {
			res := confirmFailure(err)
			res.st = st
			return res
		}
		st = confirmed
	}
	dedup := st.ProviderReference
	if dedup == "" {
		dedup = st.Reference
	}
	return in.apply(ctx, ri, verified{st: st, dedupRef: dedup, body: body})
}

// azampay handles a callback: the RSA signature over utilityref +
// externalreference + transactionstatus + operator with the provider's
// public key from state, fetched afresh once when it does not verify.
func (in *Ingester) azampay(ctx context.Context, ri *routeInfo, body []byte) result {
	c, err := azampay.ParseCallback(body)
	if err != nil {
		return reject(http.StatusBadRequest, "malformed", "Not an AzamPay callback: "+err.Error(), nil)
	}
	id := ri.provider.ID()
	key, err := in.azamKey(ctx, id, false)
	refetched := false
	if err != nil || key == nil {
		refetched = true
		if key, err = in.azamKey(ctx, id, true); err != nil || key == nil {
			return reject(http.StatusServiceUnavailable, "key_unavailable", "The provider's public key is not available; retry later.", err)
		}
	}
	if err := azampay.VerifyCallback(key, c); err != nil {
		if refetched {
			return reject(http.StatusUnauthorized, "bad_signature", "The signature does not verify.", nil)
		}
		fresh, ferr := in.azamKey(ctx, id, true)
		if ferr != nil || fresh == nil || azampay.VerifyCallback(fresh, c) != nil {
			return reject(http.StatusUnauthorized, "bad_signature", "The signature does not verify.", nil)
		}
	}
	clean := withoutCredentials(body)
	st := providers.PaymentStatus{
		Status:            azampay.MapStatus(c.TransactionStatus),
		Reference:         c.UtilityRef,
		ProviderReference: firstOf(c.Reference, c.TransID, c.ExternalReference),
		Amount:            c.Amount,
		Phone:             c.MSISDN,
		ConfirmationCode:  c.MNOReference,
		Message:           c.Message,
		Raw:               clean,
	}
	return in.apply(ctx, ri, verified{st: st, dedupRef: firstOf(st.ProviderReference, c.UtilityRef), body: clean})
}

// withoutCredentials drops the credential fields AzamPay may add to a
// callback (user, password for optional callback basic auth) so they are
// never stored or forwarded.
func withoutCredentials(body []byte) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return json.RawMessage("{}")
	}
	for k := range m {
		switch strings.ToLower(k) {
		case "user", "password", "username", "secret", "token":
			delete(m, k)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return json.RawMessage("{}")
	}
	return json.RawMessage(bytes.TrimSpace(buf.Bytes()))
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if s := strings.TrimSpace(v); s != "" {
			return s
		}
	}
	return ""
}
