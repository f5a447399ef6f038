package acceptance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestNotificationProof: notifications are trusted only as far as they
// are proven, against the built binary and the sandbox:
//   - a genuine AzamPay callback with characters moved from
//     externalreference to utilityref (the signature still verifies) settles
//     neither the failed payment it now names nor creates a new one;
//   - signed ClickPesa webhooks with malformed or different amounts are
//     400/422 and change nothing; one naming a reference nobody started is
//     404 and creates nothing;
//   - an encoded route path is 404;
//   - a flood of IPNs with made-up tracking ids does not keep a genuine IPN
//     from settling its payment;
//   - the client ids the providers echo appear in no event, API answer, log
//     line or store file.
func TestNotificationProof(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1h", true, nil)
	tap := testkit.NewTap(t, "utilityref", "http://"+e.public+"/hooks/azampay")
	e.sb.settings(t, map[string]any{"azampay-callback": tap.URL})
	e.apply()
	e.start()
	public := "http://" + e.public

	// AzamPay: A succeeds; B, named so that A's callback shifted by one
	// character names it, fails for insufficient funds.
	a := e.pay("azampay.tz", "PRFA", "1000", "TZS", "255712345670")
	eventually(t, 30*time.Second, "PRFA succeeded with its callback seen", func() bool {
		return e.getPayment(a.ID).Status == "succeeded" && tap.Body("PRFA") != nil
	})
	txA := e.getPayment(a.ID).ProviderReference
	refB := "PRFA" + txA[:1]
	b := e.pay("azampay.tz", refB, "1000", "TZS", "255712345671")
	eventually(t, 30*time.Second, refB+" failed", func() bool { return e.getPayment(b.ID).Status == "failed" })
	shift := func(n int) []byte {
		var m map[string]any
		if err := json.Unmarshal(tap.Body("PRFA"), &m); err != nil {
			t.Fatalf("PRFA's callback: %v", err)
		}
		m["utilityref"], m["externalreference"] = "PRFA"+txA[:n], txA[n:]
		return compactJSON(t, m)
	}
	code, resp := httpDo(t, http.MethodPost, public+"/hooks/azampay", []string{"Content-Type", "application/json"}, shift(1))
	if code == http.StatusUnauthorized {
		t.Fatalf("the shifted callback did not verify (%s): nothing was forged", resp)
	}
	if got := e.getPayment(b.ID); got.Status != "failed" {
		t.Fatalf("the shifted callback (answer %d %s) moved %s to %s", code, resp, refB, got.Status)
	}
	code, resp = httpDo(t, http.MethodPost, public+"/hooks/azampay", []string{"Content-Type", "application/json"}, shift(2))
	if code != http.StatusNotFound {
		t.Fatalf("callback shifted onto a reference nobody started: %d %s, want 404", code, resp)
	}
	if n := e.countPayments("PRFA" + txA[:2]); n != 0 {
		t.Fatalf("a shifted callback created %d payments", n)
	}

	// ClickPesa: phone ending 3 succeeds without a webhook; sync runs
	// hourly, so the payment stays pending while forged webhooks arrive.
	c := e.pay("clickpesa.tz", "PRFC", "5000", "TZS", "255712345673")
	eventually(t, 30*time.Second, "PRFC's provider reference", func() bool {
		c = e.getPayment(c.ID)
		return c.ProviderReference != ""
	})
	for _, tc := range []struct {
		amount string
		want   int
	}{{"5e3", 400}, {"abc", 400}, {"5000.001", 400}, {"-5000", 400}, {strings.Repeat("9", 31), 400}, {"4999", 422}} {
		forged := c
		forged.Amount = tc.amount
		code, resp := httpDo(t, http.MethodPost, public+"/hooks/clickpesa", []string{"Content-Type", "application/json"},
			clickpesaWebhook(t, forged, "255712345673", e.cpChecksum))
		if code != tc.want {
			t.Errorf("signed webhook with amount %q: %d %s, want %d", tc.amount, code, resp, tc.want)
		}
	}
	if got := e.getPayment(c.ID); got.Status != "pending" {
		t.Fatalf("forged amounts moved PRFC to %s", got.Status)
	}
	unknown := payment{Reference: "PRFNOBODY", ProviderReference: "CPX1", Amount: "100", Currency: "TZS"}
	code, resp = httpDo(t, http.MethodPost, public+"/hooks/clickpesa", []string{"Content-Type", "application/json"},
		clickpesaWebhook(t, unknown, "255712345670", e.cpChecksum))
	if code != http.StatusNotFound || e.countPayments("PRFNOBODY") != 0 {
		t.Fatalf("signed webhook about a reference nobody started: %d %s, %d payments; want 404 and none", code, resp, e.countPayments("PRFNOBODY"))
	}
	genuine := clickpesaWebhook(t, c, "255712345673", e.cpChecksum)
	if code, resp := httpDo(t, http.MethodPost, public+"/hooks%2fclickpesa", []string{"Content-Type", "application/json"}, genuine); code != http.StatusNotFound {
		t.Fatalf("encoded route path: %d %s, want 404", code, resp)
	}

	// PesaPal: a flood of IPNs naming tracking ids nobody holds, and in the
	// middle of it the IPN of a payment we wait for.
	p := e.pay("pesapal.ke", "PRFP", "1500.00", "KES", "254712345673")
	eventually(t, 30*time.Second, "PRFP's tracking id", func() bool {
		p = e.getPayment(p.ID)
		return p.ProviderReference != ""
	})
	var wg sync.WaitGroup
	limited := make(chan int, 200)
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				q := url.Values{"OrderTrackingId": {fmt.Sprintf("00000000-0000-0000-%04d-%012d", w, i)}, "OrderNotificationType": {"IPNCHANGE"}}
				resp, err := http.Get(public + "/hooks/pesapal?" + q.Encode())
				if err != nil {
					limited <- 0
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				limited <- resp.StatusCode
			}
		})
	}
	// The customer pays a moment after the push; until then PesaPal's
	// answer is pending. Every genuine IPN is answered 200, never 429.
	ipn := url.Values{"OrderTrackingId": {p.ProviderReference}, "OrderMerchantReference": {"PRFP"}, "OrderNotificationType": {"IPNCHANGE"}}
	eventually(t, 30*time.Second, "PRFP settled by its IPN during the flood", func() bool {
		code, resp = httpDo(t, http.MethodGet, public+"/hooks/pesapal?"+ipn.Encode(), nil, nil)
		if code != http.StatusOK {
			t.Fatalf("the genuine IPN during the flood: %d %s, want 200", code, resp)
		}
		return e.getPayment(p.ID).Status == "succeeded"
	})
	wg.Wait()
	close(limited)
	n429 := 0
	for c := range limited {
		if c == http.StatusTooManyRequests {
			n429++
		}
	}
	if n429 == 0 {
		t.Fatalf("no flood IPN was rate limited: the flood did not test anything")
	}
	if got := e.getPayment(p.ID); got.Status != "succeeded" {
		t.Fatalf("PRFP is %s after its IPN, want succeeded", got.Status)
	}

	// Credentials the providers echo appear nowhere.
	outputs := map[string]string{"serve output": e.serve.output()}
	for _, d := range e.deliveries() {
		_, _, body := e.call(http.MethodGet, "/v1/events/"+d.EventID, e.token, nil)
		outputs["event "+d.EventID] = string(body)
	}
	for _, id := range []string{a.ID, b.ID, c.ID, p.ID} {
		_, _, body := e.call(http.MethodGet, "/v1/payments/"+id, e.token, nil)
		outputs["payment "+id] = string(body)
	}
	for _, r := range e.sink.all() {
		b, _ := json.Marshal(r.Data)
		outputs["delivered "+r.WebhookID] = string(b)
	}
	e.serve.signal(t, os.Interrupt)
	e.serve.waitExit(t, 30*time.Second)
	for _, f := range []string{e.statePath, e.statePath + "-wal"} {
		if b, err := os.ReadFile(f); err == nil {
			outputs["store file "+f] = string(b)
		}
	}
	noCanaries(t, e.canaries, outputs)
}

// countPayments is how many payments GET /v1/payments lists with reference.
func (e *serveEnv) countPayments(ref string) int {
	e.t.Helper()
	code, _, resp := e.call(http.MethodGet, "/v1/payments?reference="+url.QueryEscape(ref), e.token, nil)
	var l struct {
		Payments []payment `json:"payments"`
	}
	if code != http.StatusOK || json.Unmarshal(resp, &l) != nil {
		e.t.Fatalf("GET /v1/payments?reference=%s: %d %s", ref, code, resp)
	}
	return len(l.Payments)
}
