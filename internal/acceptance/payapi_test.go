package acceptance

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	pushPath    = "/clickpesa/third-parties/payments/initiate-ussd-push-request"
	problemType = "urn:finconnectd:problem:"
)

// pushes counts the USSD pushes the sandbox received for a reference.
func (e *serveEnv) pushes(ref string) int {
	e.t.Helper()
	return e.sb.count(e.t, http.MethodPost, pushPath, `"`+ref+`"`)
}

// wantProblem checks an application/problem+json answer and returns it.
func wantProblem(t *testing.T, what string, code int, h http.Header, body []byte, status int, typ string) problem {
	t.Helper()
	var p problem
	if code != status {
		t.Errorf("%s: status %d, want %d (%s)", what, code, status, body)
		return p
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", what, err, body)
		return p
	}
	if p.Type != problemType+typ || p.Status != status || p.Title == "" {
		t.Errorf("%s: problem %s; want type %s%s, status %d and a title", what, body, problemType, typ, status)
	}
	return p
}

// fields lists a problem's field errors, sorted.
func (p problem) fields() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	sort.Strings(out)
	return out
}

// slowResult is the answer to a request made in the background.
type slowResult struct {
	code int
	h    http.Header
	body []byte
	err  error
}

// TestPayAPIContract is issue 6's pay API against serve and the sandbox
// as processes: bearer tokens; validation problems naming every bad
// field; idempotency keys (the same answer byte for byte, 422 for another
// body, one push); 409 for a reused reference; and the sync schedule
// settling a payment whose notification never comes (phone ending 3) and
// one whose initiation timed out (phone ending 6), each with exactly one
// USSD push and one payment.succeeded at the operator's endpoint. The
// sandbox sends no notifications in this test, so only sync can settle.
func TestPayAPIContract(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for sync_payments, which first asks a minute after a payment starts")
	}
	t.Parallel()
	e := newServeEnv(t, "@every 1s", false, map[string]any{"slow-answer": "50s"})
	e.start()
	api := "http://" + e.api

	// Phone ending 6: the sandbox holds the answer longer than
	// finconnectd waits. Started first: it takes the client's timeout.
	const (
		slowBody = `{"provider":"clickpesa.tz","reference":"ACCSLOW6","amount":"1000","currency":"TZS","phone":"255712345676"}`
		slowKey  = "acc-slow-6"
	)
	slow := make(chan slowResult, 1)
	go func() {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, api+"/v1/payments", strings.NewReader(slowBody))
		if err != nil {
			slow <- slowResult{err: err}
			return
		}
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", slowKey)
		resp, err := (&http.Client{Timeout: 100 * time.Second}).Do(req)
		if err != nil {
			slow <- slowResult{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- slowResult{code: resp.StatusCode, h: resp.Header, body: b, err: err}
	}()
	// Phone ending 3: accepted, never notified.
	synced := e.pay("clickpesa.tz", "ACCSYNC3", "1000", "TZS", "255712345673")
	started := time.Now()

	t.Run("retries while the provider has not answered", func(t *testing.T) {
		// The payment row is written after the key is claimed and before
		// the provider is called: once it is listed, the key is in flight.
		eventually(t, 20*time.Second, "ACCSLOW6 to be listed", func() bool {
			code, _, body := e.call(http.MethodGet, "/v1/payments?reference=ACCSLOW6", e.token, nil)
			return code == http.StatusOK && strings.Contains(string(body), `"reference":"ACCSLOW6"`)
		})
		code, h, body := e.call(http.MethodPost, "/v1/payments", e.token, []byte(slowBody), "Idempotency-Key", slowKey)
		wantProblem(t, "the same key while the first request runs", code, h, body, http.StatusConflict, "idempotency-key-in-flight")
		code, h, body = e.call(http.MethodPost, "/v1/payments", e.token, []byte(slowBody))
		wantProblem(t, "the same reference while the first request runs", code, h, body, http.StatusConflict, "reference-in-use")
	})

	t.Run("tokens", func(t *testing.T) {
		code, _, body := e.call(http.MethodGet, "/healthz", "", nil)
		if code != http.StatusOK {
			t.Errorf("/healthz without a token: %d %s", code, body)
		}
		for name, tok := range map[string]string{"no token": "", "a wrong token": "wrong-" + e.token, "the token's prefix": e.token[:len(e.token)-1]} {
			for _, path := range []string{"/v1/payments", "/v1/events"} {
				code, h, body := e.call(http.MethodGet, path, tok, nil)
				wantProblem(t, "GET "+path+" with "+name, code, h, body, http.StatusUnauthorized, "unauthorized")
			}
			code, h, body := e.call(http.MethodPost, "/v1/payments", tok,
				[]byte(`{"provider":"clickpesa.tz","reference":"ACCNOAUTH","amount":"1000","currency":"TZS","phone":"255712345670"}`))
			wantProblem(t, "POST /v1/payments with "+name, code, h, body, http.StatusUnauthorized, "unauthorized")
		}
		if n := e.pushes("ACCNOAUTH"); n != 0 {
			t.Errorf("an unauthorized request caused %d pushes", n)
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, c := range []struct {
			name, body string
			status     int
			typ        string
			fields     []string
		}{
			{"docs/pay-api.md's example", `{"provider":"clickpesa.tz","reference":"A-1","amount":"-5","currency":"KES","phone":"abc"}`,
				422, "validation", []string{"amount", "currency", "phone", "reference"}},
			{"amount as a JSON number", `{"provider":"clickpesa.tz","reference":"ACCV1","amount":1000,"currency":"TZS","phone":"255712345670"}`,
				422, "validation", []string{"amount"}},
			{"an unknown field", `{"provider":"clickpesa.tz","reference":"ACCV2","amount":"1000","currency":"TZS","phone":"255712345670","colour":"red"}`,
				422, "validation", []string{"colour"}},
			{"an unknown provider", `{"provider":"mpesa.ke","reference":"ACCV3","amount":"1000","currency":"TZS","phone":"255712345670"}`,
				422, "validation", []string{"provider"}},
			{"not JSON", `{"provider":`, 400, "malformed", nil},
			{"a JSON array", `[]`, 400, "malformed", nil},
		} {
			code, h, body := e.call(http.MethodPost, "/v1/payments", e.token, []byte(c.body))
			p := wantProblem(t, c.name, code, h, body, c.status, c.typ)
			if c.fields != nil && strings.Join(p.fields(), ",") != strings.Join(c.fields, ",") {
				t.Errorf("%s: field errors %v, want %v (%s)", c.name, p.fields(), c.fields, body)
			}
			for _, fe := range p.Errors {
				if fe.Message == "" {
					t.Errorf("%s: field %s has no message", c.name, fe.Field)
				}
			}
		}
		code, h, body := e.call(http.MethodPost, "/v1/payments", e.token,
			[]byte(`{"provider":"clickpesa.tz","reference":"ACCV4","amount":"1000","currency":"TZS","phone":"255712345670"}`),
			"Idempotency-Key", strings.Repeat("k", 256))
		wantProblem(t, "a 256-character Idempotency-Key", code, h, body, http.StatusBadRequest, "invalid-idempotency-key")
		for _, ref := range []string{"A-1", "ACCV1", "ACCV2", "ACCV3", "ACCV4"} {
			if n := e.pushes(ref); n != 0 {
				t.Errorf("the invalid request %s caused %d pushes", ref, n)
			}
		}
	})

	t.Run("idempotency and references", func(t *testing.T) {
		key := []string{"Idempotency-Key", "acc-order-1-attempt"}
		first := `{"provider":"clickpesa.tz","reference":"ACCIDEM1","amount":"1000","currency":"TZS","phone":"255712345670"}`
		code, h, body1 := e.call(http.MethodPost, "/v1/payments", e.token, []byte(first), key...)
		var p payment
		if code != http.StatusCreated || json.Unmarshal(body1, &p) != nil || p.Reference != "ACCIDEM1" {
			t.Fatalf("first request: %d %s", code, body1)
		}
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("201 Content-Type %q", ct)
		}
		// The same body after normalization: key order, spacing, currency case.
		again := `{ "phone": "255712345670", "currency": "tzs", "amount": "1000", "reference": "ACCIDEM1", "provider": "clickpesa.tz" }`
		code, _, body2 := e.call(http.MethodPost, "/v1/payments", e.token, []byte(again), key...)
		if code != http.StatusOK || !bytes.Equal(body1, body2) {
			t.Errorf("the same key and body again: %d %s; want 200 and the first answer byte for byte:\n%s", code, body2, body1)
		}
		other := strings.Replace(first, `"1000"`, `"2000"`, 1)
		code, h, body := e.call(http.MethodPost, "/v1/payments", e.token, []byte(other), key...)
		wantProblem(t, "the same key with another body", code, h, body, http.StatusUnprocessableEntity, "idempotency-key-reused")

		for name, hdr := range map[string][]string{"without a key": nil, "with another key": {"Idempotency-Key", "acc-order-1-other"}} {
			code, h, body := e.call(http.MethodPost, "/v1/payments", e.token, []byte(first), hdr...)
			pr := wantProblem(t, "a reused reference "+name, code, h, body, http.StatusConflict, "reference-in-use")
			if pr.PaymentID != p.ID {
				t.Errorf("reference-in-use %s names payment %q, want %s", name, pr.PaymentID, p.ID)
			}
		}
		if n := e.pushes("ACCIDEM1"); n != 1 {
			t.Errorf("ACCIDEM1: %d USSD pushes at the sandbox, want 1", n)
		}

		code, _, body = e.call(http.MethodGet, "/v1/payments?reference=ACCIDEM1&provider=clickpesa.tz", e.token, nil)
		var l struct {
			Payments []payment `json:"payments"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &l) != nil || len(l.Payments) != 1 || l.Payments[0].ID != p.ID {
			t.Errorf("GET /v1/payments?reference=ACCIDEM1: %d %s; want exactly %s", code, body, p.ID)
		}
		code, h, body = e.call(http.MethodGet, "/v1/payments/pay_aaaaaaaaaaaaaaaaaaaaaaaaaa", e.token, nil)
		wantProblem(t, "an unknown payment", code, h, body, http.StatusNotFound, "not-found")
	})

	t.Run("provider error is unknown, never re-sent", func(t *testing.T) {
		code, h, body := e.call(http.MethodPost, "/v1/payments", e.token,
			[]byte(`{"provider":"clickpesa.tz","reference":"ACCERR5","amount":"1000","currency":"TZS","phone":"255712345675"}`))
		pr := wantProblem(t, "phone ending 5", code, h, body, http.StatusBadGateway, "provider-error")
		if pr.Payment == nil || pr.Payment.Status != "unknown" || pr.PaymentID == "" {
			t.Errorf("phone ending 5: %s; want the unknown payment in the problem", body)
		}
		if n := e.pushes("ACCERR5"); n != 1 {
			t.Errorf("ACCERR5: %d USSD pushes, want 1", n)
		}
	})

	// Phone ending 6: 504 and an unknown payment, settled by sync.
	var r slowResult
	select {
	case r = <-slow:
	case <-time.After(90 * time.Second):
		t.Fatal("the phone-6 request did not answer within 90 s")
	}
	if r.err != nil {
		t.Fatalf("phone ending 6: %v", r.err)
	}
	pr := wantProblem(t, "phone ending 6", r.code, r.h, r.body, http.StatusGatewayTimeout, "provider-timeout")
	if pr.Payment == nil || pr.Payment.Status != "unknown" || pr.PaymentID == "" {
		t.Fatalf("phone ending 6: %s; want the unknown payment in the problem", r.body)
	}
	t.Logf("phone ending 6 answered %d after %s", r.code, time.Since(started).Round(time.Second))
	// Retried with the key after the timeout: the stored answer, no push.
	code, _, body := e.call(http.MethodPost, "/v1/payments", e.token, []byte(slowBody), "Idempotency-Key", slowKey)
	if code != r.code || !bytes.Equal(body, r.body) {
		t.Errorf("the same key after the 504: %d %s; want the stored answer %d %s", code, body, r.code, r.body)
	}

	// Both settle through sync_payments (first asked a minute after
	// creation), with one push each and one event each.
	for _, c := range []struct{ id, ref string }{{synced.ID, "ACCSYNC3"}, {pr.PaymentID, "ACCSLOW6"}} {
		eventually(t, 100*time.Second, c.ref+" settled by sync", func() bool {
			return e.getPayment(c.id).Status == "succeeded"
		})
		eventually(t, 20*time.Second, c.ref+" at the sink", func() bool { return len(e.sink.accepted(c.ref)) == 1 })
		if n := e.pushes(c.ref); n != 1 {
			t.Errorf("%s: %d USSD pushes, want exactly 1", c.ref, n)
		}
		if n := e.sb.count(t, http.MethodGet, "/clickpesa/third-parties/payments/"+c.ref, ""); n == 0 {
			t.Errorf("%s: the sandbox got no status query; what settled it?", c.ref)
		}
		got := e.sink.accepted(c.ref)[0]
		if got.Type != "payment.succeeded" || got.Data.PaymentID != c.id || got.Data.Status != "succeeded" {
			t.Errorf("%s: the sink got %+v", c.ref, got)
		}
	}
	t.Logf("settled by sync %s after the payments started", time.Since(started).Round(time.Second))
	if n := len(e.sink.accepted("ACCSYNC3")) + len(e.sink.accepted("ACCSLOW6")); n != 2 {
		t.Errorf("%d events for the synced payments, want 2", n)
	}
	e.sink.checkClean(t)
	noCanaries(t, e.canaries, map[string]string{"serve output": e.serve.output()})
}
