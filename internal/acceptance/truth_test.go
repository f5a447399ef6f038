package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// initiationPaths is where each provider's sandbox takes a new payment
// (the USSD push, or PesaPal's order).
var initiationPaths = map[string]string{
	"pesapal.ke":   "/pesapal/api/Transactions/SubmitOrderRequest",
	"clickpesa.tz": "/clickpesa/third-parties/payments/initiate-ussd-push-request",
	"azampay.tz":   "/azampay/azampay/mno/checkout",
}

// TestLateInitiationAnswerAfterNotification is outcome 6 (phone ending 6)
// for every provider, end to end: the provider takes the payment, the
// customer pays and the provider's notification settles it, and only then
// does the provider answer the initiation. The late answer changes nothing
// but what it adds (the provider reference): the payment stays succeeded,
// exactly one payment.succeeded (one webhook-id) reaches the operator, the
// sandbox got one push, and asking the provider again (?refresh=true)
// emits nothing more. (The sandbox answers after 10 s here instead of 60 s
// so that the answer still comes within the client's timeout; the
// timeout itself is covered by the payments package's tests.)
func TestLateInitiationAnswerAfterNotification(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1s", true, map[string]any{"slow-answer": "10s"})
	e.apply()
	e.start()

	cases := []struct{ provider, ref, amount, currency, phone string }{
		{"pesapal.ke", "LATE-PP-6", "1500.00", "KES", "254712345676"},
		{"clickpesa.tz", "LATECP6", "1000", "TZS", "255712345676"},
		{"azampay.tz", "LATE-AZ-6", "1000", "TZS", "255712345676"},
	}
	type answer struct {
		code int
		body []byte
	}
	answers := make([]answer, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			body := fmt.Appendf(nil, `{"provider":%q,"reference":%q,"amount":%q,"currency":%q,"phone":%q}`, c.provider, c.ref, c.amount, c.currency, c.phone)
			code, _, resp := e.call(http.MethodPost, "/v1/payments", e.token, body)
			answers[i] = answer{code, resp}
		})
	}
	// The notifications settle the payments while the answers are held.
	for _, c := range cases {
		eventually(t, 30*time.Second, "payment.succeeded of "+c.ref+" at the sink", func() bool { return len(e.sink.accepted(c.ref)) > 0 })
	}
	wg.Wait()

	for i, c := range cases {
		a := answers[i]
		var p payment
		if a.code != http.StatusCreated || json.Unmarshal(a.body, &p) != nil {
			t.Errorf("%s: POST answered %d %s, want 201", c.ref, a.code, a.body)
			continue
		}
		if p.Status != "succeeded" {
			t.Errorf("%s: the late answer left the payment %q, want succeeded (the notification settled it first)", c.ref, p.Status)
		}
		got := e.getPayment(p.ID)
		if got.Status != "succeeded" || got.ProviderReference == "" {
			t.Errorf("%s: GET says %q with provider_reference %q; want succeeded with the provider's reference", c.ref, got.Status, got.ProviderReference)
		}
		code, _, resp := e.call(http.MethodGet, "/v1/payments/"+p.ID+"?refresh=true", e.token, nil)
		var refreshed payment
		if code != http.StatusOK || json.Unmarshal(resp, &refreshed) != nil || refreshed.Status != "succeeded" {
			t.Errorf("%s: ?refresh=true answered %d %s, want 200 succeeded", c.ref, code, resp)
		}
		ds := e.deliveriesOf(p.ID)
		if len(ds) != 1 || ds[0].EventType != "payment.succeeded" {
			t.Errorf("%s: deliveries %+v, want exactly one payment.succeeded", c.ref, ds)
		}
		sunk := e.sink.accepted(c.ref)
		if len(sunk) != 1 || sunk[0].Type != "payment.succeeded" || len(ds) == 1 && sunk[0].WebhookID != ds[0].EventID {
			t.Errorf("%s: the sink got %+v, want one payment.succeeded", c.ref, sunk)
		}
		if n := e.sb.count(t, http.MethodPost, initiationPaths[c.provider], `"`+c.ref+`"`); n != 1 {
			t.Errorf("%s: the sandbox got %d initiation requests, want 1", c.ref, n)
		}
	}
	e.sink.checkClean(t)
	noCanaries(t, e.canaries, map[string]string{"serve output": e.serve.output()})
}
