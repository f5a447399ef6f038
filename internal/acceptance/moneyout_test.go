package acceptance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// moneyOutEnv is a serveEnv whose api block adds a finance token (payouts,
// refunds) and an auditor token (audit), and whose configuration limits
// TZS payouts.
func moneyOutEnv(t *testing.T, extraHCL string, sandboxSettings map[string]any) (e *serveEnv, finance, auditor string) {
	t.Helper()
	e = newServeEnv(t, "@every 1h", true, sandboxSettings)
	finance, auditor = canary(t, "finance-token"), canary(t, "audit-token")
	e.env = append(e.env, "ACC_FINANCE_TOKEN="+finance, "ACC_AUDIT_TOKEN="+auditor)
	e.canaries = append(e.canaries, finance, auditor)
	e.apiHCL = `
  token "finance" {
    value  = env("ACC_FINANCE_TOKEN")
    scopes = ["payouts", "refunds"]
  }

  token "auditor" {
    value  = env("ACC_AUDIT_TOKEN")
    scopes = ["audit"]
  }
`
	e.extraHCL = extraHCL
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	return e, finance, auditor
}

func payoutJSON(ref, phone, amount string) []byte {
	return fmt.Appendf(nil, `{"provider":"clickpesa.tz","reference":%q,"amount":%q,"currency":"TZS","destination":{"type":"mobile_money","phone":%q}}`, ref, amount, phone)
}

// TestPayoutGuardrails: against the built binary and the emulator, a
// collect-only token cannot pay out (403); a payout over max_per_payout or
// to a number outside allowed_phone_prefixes is a 422 naming the field;
// twenty concurrent payouts against max_per_24h never exceed it; every
// request is in the audit trail, shown by GET /v1/audit (audit scope only)
// and by `finconnectd audit`; `finconnectd payouts list` shows the payouts.
func TestPayoutGuardrails(t *testing.T) {
	t.Parallel()
	e, finance, auditor := moneyOutEnv(t, `
payouts {
  allowed_phone_prefixes = ["2557"]

  limit "TZS" {
    max_per_payout = "3000"
    max_per_24h    = 10000
  }
}
`, nil)
	if r := runCLI(t, e.env, "validate", "-config", e.cfgDir); r.code != 0 {
		t.Fatalf("validate:\n%s", r)
	}
	e.start()

	code, _, body := e.call(http.MethodPost, "/v1/payouts", e.token, payoutJSON("ACCSCOPE1", "255712345670", "1000"))
	if code != http.StatusForbidden {
		t.Fatalf("collect-only token: %d %s, want 403", code, body)
	}
	for _, c := range []struct {
		ref, phone, amount, typ, field, msg string
	}{
		{"ACCBIG1", "255712345670", "3000.50", "payout-limit", "amount", "limit of 3000 per payout"},
		{"ACCDEST1", "255612345670", "100", "destination-not-allowed", "destination.phone", "not an allowed destination"},
	} {
		code, h, body := e.call(http.MethodPost, "/v1/payouts", finance, payoutJSON(c.ref, c.phone, c.amount))
		p := wantProblem(t, c.ref, code, h, body, http.StatusUnprocessableEntity, c.typ)
		if !strings.Contains(string(body), c.msg) || !containsField(p.fields(), c.field) {
			t.Errorf("%s: %s does not name %s with %q", c.ref, body, c.field, c.msg)
		}
	}

	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		created, limited int
		others           []string
	)
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, _, body := e.call(http.MethodPost, "/v1/payouts", finance, payoutJSON(fmt.Sprintf("ACCCAP%d", i), "255712345670", "1000"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == http.StatusCreated:
				created++
			case code == http.StatusUnprocessableEntity && strings.Contains(string(body), "payout-limit") && strings.Contains(string(body), "0 left"):
				limited++
			default:
				others = append(others, fmt.Sprintf("%d %s", code, body))
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(others) > 0 || created != 10 || limited != 10 {
		t.Fatalf("created %d, limited %d (want 10 and 10); other answers %v", created, limited, others)
	}
	if n := e.sb.count(t, http.MethodPost, "/clickpesa/third-parties/payouts/create-mobile-money-payout", ""); n != 10 {
		t.Errorf("the emulator received %d payout creations, want 10", n)
	}

	if code, _, _ := e.call(http.MethodGet, "/v1/audit", finance, nil); code != http.StatusForbidden {
		t.Errorf("the payouts scope reads the audit trail: %d", code)
	}
	code, _, body = e.call(http.MethodGet, "/v1/audit?limit=1000", auditor, nil)
	var trail struct {
		Entries []struct {
			Token, Action, Subject, Result string
			Status                         int
		}
	}
	if code != http.StatusOK || json.Unmarshal(body, &trail) != nil {
		t.Fatalf("audit: %d %s", code, body)
	}
	results := map[string]int{}
	for _, en := range trail.Entries {
		results[en.Token+" "+en.Result+" "+fmt.Sprint(en.Status)]++
	}
	want := map[string]int{"tokens[0] refused 403": 1, "finance refused 422": 12, "finance created 201": 10}
	if fmt.Sprint(results) != fmt.Sprint(want) {
		t.Errorf("audit trail %v, want %v", results, want)
	}

	r := runCLI(t, e.env, "payouts", "list", "-config", e.cfgDir, "-status", "pending", "-limit", "1000")
	r2 := runCLI(t, e.env, "payouts", "list", "-config", e.cfgDir, "-json")
	var listed struct{ Payouts []struct{ ID string } }
	if r.code != 0 || r2.code != 0 || json.Unmarshal([]byte(r2.stdout), &listed) != nil || len(listed.Payouts) != 10 {
		t.Errorf("payouts list:\n%s\n%s", r, r2)
	}
	if len(listed.Payouts) > 0 {
		if r := runCLI(t, e.env, "payouts", "show", "-config", e.cfgDir, listed.Payouts[0].ID); r.code != 0 || !strings.Contains(r.stdout, "finance") {
			t.Errorf("payouts show:\n%s", r)
		}
	}
	if r := runCLI(t, e.env, "audit", "-config", e.cfgDir, "-token", "tokens[0]"); r.code != 0 || !strings.Contains(r.stdout, "refused") || !strings.Contains(r.stdout, "403") {
		t.Errorf("audit:\n%s", r)
	}
	noCanaries(t, e.canaries, map[string]string{"serve": e.serve.output(), "audit": string(body)})
}

func containsField(fields []string, f string) bool {
	for _, x := range fields {
		if x == f {
			return true
		}
	}
	return false
}

// TestCancelPendingPesaPalOrder: a pending PesaPal order is cancelled at
// PesaPal (one CancelOrder) and becomes failed with payment.failed at the
// operator's endpoint; cancelling it again is 409, a ClickPesa payment 422,
// a payment that does not exist 404, a collect-only token 403; every
// request is audited.
func TestCancelPendingPesaPalOrder(t *testing.T) {
	t.Parallel()
	// The customers take a minute to answer: the orders stay pending.
	e, finance, auditor := moneyOutEnv(t, "", map[string]any{"delay": "60s"})
	e.apply()
	e.start()
	pp := e.pay("pesapal.ke", "ACC-CANCEL-1", "1500.00", "KES", "254712345670")
	cp := e.pay("clickpesa.tz", "ACCCANCEL2", "1000", "TZS", "255712345670")
	byCLI := e.pay("pesapal.ke", "ACC-CANCEL-3", "20.00", "KES", "254712345670")

	if code, _, body := e.call(http.MethodPost, "/v1/payments/"+pp.ID+"/cancel", e.token, nil); code != http.StatusForbidden {
		t.Fatalf("collect-only token: %d %s", code, body)
	}
	code, _, body := e.call(http.MethodPost, "/v1/payments/"+pp.ID+"/cancel", finance, nil)
	var got payment
	if code != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Status != "failed" {
		t.Fatalf("cancel: %d %s, want 200 failed", code, body)
	}
	if n := e.sb.count(t, http.MethodPost, "/pesapal/api/Transactions/CancelOrder", pp.ProviderReference); n != 1 {
		t.Errorf("%d CancelOrder calls, want 1", n)
	}
	eventually(t, 30*time.Second, "payment.failed delivered", func() bool {
		got := e.sink.accepted("ACC-CANCEL-1")
		return len(got) == 1 && got[0].Type == "payment.failed" && got[0].Path == "/pesapal"
	})
	for _, c := range []struct {
		id     string
		status int
		typ    string
	}{
		{pp.ID, http.StatusConflict, "payment-not-cancellable"},
		{cp.ID, http.StatusUnprocessableEntity, "cancel-not-supported"},
		{"pay_nope", http.StatusNotFound, "not-found"},
	} {
		code, h, body := e.call(http.MethodPost, "/v1/payments/"+c.id+"/cancel", finance, nil)
		wantProblem(t, "cancel "+c.id, code, h, body, c.status, c.typ)
	}
	// The CLI asks the daemon found through the configuration's api.listen.
	cliEnv := append(slices.Clone(e.env), "FINCONNECT_API_TOKEN="+finance)
	if r := runCLI(t, cliEnv, "payments", "cancel", "-config", e.cfgDir, byCLI.ID); r.code != 0 || !strings.Contains(r.stdout, "cancelled: failed") {
		t.Errorf("payments cancel:\n%s", r)
	}
	if r := runCLI(t, cliEnv, "payments", "cancel", "-config", e.cfgDir, byCLI.ID); r.code != 1 || !strings.Contains(r.stderr, "cannot be cancelled") {
		t.Errorf("payments cancel again:\n%s", r)
	}
	code, _, body = e.call(http.MethodGet, "/v1/audit?action=payment.cancel&limit=5", auditor, nil)
	var trail struct {
		Entries []struct{ Token, Subject, Result string }
	}
	if code != http.StatusOK || json.Unmarshal(body, &trail) != nil || len(trail.Entries) != 5 {
		t.Fatalf("audit: %d %s, want 5 entries", code, body)
	}
	if first := trail.Entries[1]; first.Token != "finance" || first.Result != "cancelled" || first.Subject != byCLI.ID {
		t.Errorf("entry %+v, want the CLI's cancellation", first)
	}
	code, _, body = e.call(http.MethodGet, "/v1/audit?action=payment.cancel&token=tokens[0]", auditor, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"result":"refused"`) {
		t.Errorf("the collect-only token's refusal is not audited: %s", body)
	}
}

// TestPesaPalRefund: a completed PesaPal payment is refunded through
// PesaPal's RefundRequest (in full: it was mobile money); the refund is
// pending until PesaPal reports the payment reversed, then succeeded, and
// the payment refunded, with refund.succeeded and payment.refunded at the
// operator's endpoint. A partial refund, a second refund, a refund of an
// unpaid payment and a collect-only token are refused; a replayed
// Idempotency-Key answers the first answer.
func TestPesaPalRefund(t *testing.T) {
	t.Parallel()
	e, finance, auditor := moneyOutEnv(t, "", nil)
	e.apply()
	e.start()
	pp := e.pay("pesapal.ke", "ACC-REFUND-1", "1500.00", "KES", "254712345670")
	eventually(t, 60*time.Second, "the payment succeeded", func() bool {
		code, _, body := e.call(http.MethodGet, "/v1/payments/"+pp.ID, e.token, nil)
		var p payment
		return code == http.StatusOK && json.Unmarshal(body, &p) == nil && p.Status == "succeeded"
	})
	refundPath := "/v1/payments/" + pp.ID + "/refunds"
	if code, _, body := e.call(http.MethodPost, refundPath, e.token, []byte(`{"reference":"RF-1","reason":"returned"}`)); code != http.StatusForbidden {
		t.Fatalf("collect-only token: %d %s", code, body)
	}
	code, h, body := e.call(http.MethodPost, refundPath, finance, []byte(`{"reference":"RF-PART","amount":"500","reason":"returned"}`))
	if p := wantProblem(t, "partial", code, h, body, http.StatusUnprocessableEntity, "validation"); !strings.Contains(string(body), "only in full") {
		t.Errorf("partial refund of mobile money: %+v", p)
	}
	req := []byte(`{"reference":"RF-1","reason":"customer returned the goods"}`)
	code, _, body = e.call(http.MethodPost, refundPath, finance, req, "Idempotency-Key", "acc-refund-1")
	var rf struct {
		ID, Status, Amount, PaymentID string
		Destination                   struct{ Type string }
	}
	if code != http.StatusCreated || json.Unmarshal(body, &rf) != nil || rf.Status != "pending" || rf.Amount != "1500.00" || rf.Destination.Type != "original" {
		t.Fatalf("refund: %d %s", code, body)
	}
	code, _, again := e.call(http.MethodPost, refundPath, finance, req, "Idempotency-Key", "acc-refund-1")
	if code != http.StatusOK || !strings.Contains(string(again), rf.ID) {
		t.Errorf("replay: %d %s", code, again)
	}
	eventually(t, 60*time.Second, "refund.succeeded and payment.refunded delivered", func() bool {
		var types []string
		for _, r := range e.sink.all() {
			if r.VerifyErr == "" && r.Answer/100 == 2 && (r.Data.Reference == "RF-1" || r.Data.Reference == "ACC-REFUND-1") {
				types = append(types, r.Type)
			}
		}
		return strings.Contains(strings.Join(types, " "), "refund.succeeded") && strings.Contains(strings.Join(types, " "), "payment.refunded")
	})
	code, _, body = e.call(http.MethodGet, "/v1/payments/"+pp.ID, e.token, nil)
	if !strings.Contains(string(body), `"status":"refunded"`) {
		t.Errorf("payment after the refund: %d %s", code, body)
	}
	if n := e.sb.count(t, http.MethodPost, "/pesapal/api/Transactions/RefundRequest", ""); n != 1 {
		t.Errorf("%d RefundRequest calls, want 1", n)
	}
	cliEnv := append(slices.Clone(e.env), "FINCONNECT_API_TOKEN="+finance)
	if r := runCLI(t, cliEnv, "payments", "refund", "-config", e.cfgDir, "-reference", "RF-2", "-reason", "again", pp.ID); r.code != 1 || !strings.Contains(r.stderr, "(409)") {
		t.Errorf("second refund by the CLI:\n%s", r)
	}
	unpaid := e.pay("pesapal.ke", "ACC-REFUND-2", "10.00", "KES", "254712345671") // fails: insufficient funds
	code, _, _ = e.call(http.MethodPost, "/v1/payments/"+unpaid.ID+"/refunds", finance, []byte(`{"reference":"RF-3","reason":"x"}`))
	if code != http.StatusConflict {
		t.Errorf("refund of an unpaid payment: %d, want 409", code)
	}
	code, _, body = e.call(http.MethodGet, "/v1/audit?action=refund.create", auditor, nil)
	if code != http.StatusOK || strings.Count(string(body), `"action":"refund.create"`) != 6 {
		t.Errorf("audit: %d %s", code, body)
	}
	if r := runCLI(t, e.env, "payouts", "list", "-config", e.cfgDir, "-payment", pp.ID); r.code != 0 || !strings.Contains(r.stdout, "RF-1") || !strings.Contains(r.stdout, "succeeded") {
		t.Errorf("payouts list -payment:\n%s", r)
	}
}

// TestAzamPayDisbursementEndToEnd: with the emulator's disbursement key
// in a file read by file(), a payout through AzamPay is looked up
// (receiver name), disbursed with a checksum the emulator verifies, and
// settled by the sync schedule with payout.succeeded at the operator's
// endpoint; an M-Pesa number is refused with nothing sent.
func TestAzamPayDisbursementEndToEnd(t *testing.T) {
	t.Parallel()
	e, finance, _ := moneyOutEnv(t, "", nil)
	e.syncCron = "@every 1s"
	code, pemBytes := httpDo(t, http.MethodGet, e.sb.url+"/_sandbox/azampay/disbursement-key", nil, nil)
	if code != http.StatusOK || !strings.Contains(string(pemBytes), "PUBLIC KEY") {
		t.Fatalf("disbursement key: %d %s", code, pemBytes)
	}
	writeFile(t, e.cfgDir+"/azampay-disbursement.pem", string(pemBytes))
	e.azHCL = fmt.Sprintf(`
  disbursement_url     = %q
  disbursement_key     = file("azampay-disbursement.pem")
  disbursement_account = "255700000001"
  disbursement_name    = "ACCEPTANCE LTD"
`, e.sb.url+"/azampay-disbursement")
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	if r := runCLI(t, e.env, "validate", "-config", e.cfgDir); r.code != 0 {
		t.Fatalf("validate:\n%s", r)
	}
	e.start()

	body := []byte(`{"provider":"azampay.tz","reference":"ACC-AZ-PO-1","amount":"850000","currency":"TZS","destination":{"type":"mobile_money","phone":"0781234560"}}`)
	code, _, resp := e.call(http.MethodPost, "/v1/payouts", finance, body, "Idempotency-Key", "acc-az-1")
	var po struct {
		ID                string `json:"id"`
		Status            string `json:"status"`
		ProviderReference string `json:"provider_reference"`
	}
	if code != http.StatusCreated || json.Unmarshal(resp, &po) != nil || po.Status != "pending" || po.ProviderReference == "" {
		t.Fatalf("disbursement: %d %s", code, resp)
	}
	if !strings.Contains(string(resp), `"receiver_name":"SANDBOX WALLET 4560"`) {
		t.Errorf("no looked-up receiver name: %s", resp)
	}
	eventually(t, 120*time.Second, "payout.succeeded delivered", func() bool {
		for _, r := range e.sink.accepted("ACC-AZ-PO-1") {
			if r.Type == "payout.succeeded" && r.Path == "/azampay" {
				return true
			}
		}
		return false
	})
	if n := e.sb.count(t, http.MethodPost, "/azampay-disbursement/api/v1/azampay/disburse", "ACC-AZ-PO-1"); n != 1 {
		t.Errorf("%d disburse calls, want 1", n)
	}
	code, h, resp := e.call(http.MethodPost, "/v1/payouts", finance,
		[]byte(`{"provider":"azampay.tz","reference":"ACC-AZ-PO-2","amount":"1000","currency":"TZS","destination":{"type":"mobile_money","phone":"0754123450"}}`))
	if p := wantProblem(t, "M-Pesa", code, h, resp, http.StatusUnprocessableEntity, "validation"); !containsField(p.fields(), "destination.phone") {
		t.Errorf("M-Pesa number: %s", resp)
	}
	if n := e.sb.count(t, http.MethodPost, "/azampay-disbursement/api/v1/azampay/disburse", "ACC-AZ-PO-2"); n != 0 {
		t.Errorf("a refused disbursement reached AzamPay")
	}
	noCanaries(t, e.canaries, map[string]string{"serve": e.serve.output()})
}

// TestPayoutKilledMidCall: serve is killed (SIGKILL) while ClickPesa holds
// the answer to a payout's create call (receiver ending 6); the payout row
// was written before the call. After a restart the same request with the
// same Idempotency-Key sends nothing, and the sync schedule settles the
// payout from ClickPesa's own record: one create call, one payout, one
// payout.succeeded.
func TestPayoutKilledMidCall(t *testing.T) {
	t.Parallel()
	e, finance, _ := moneyOutEnv(t, "", map[string]any{"slow-answer": "300s"})
	e.syncCron = "@every 1s"
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	e.start()
	const ref = "ACCKILL6"
	body := payoutJSON(ref, "255712345676", "1000")
	done := make(chan struct{})
	firstCode := 0 // the first request's answer, if one came before the kill
	go func() {
		defer close(done)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+e.api+"/v1/payouts", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+finance)
		req.Header.Set("Idempotency-Key", "acc-kill-1")
		if resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req); err == nil {
			firstCode = resp.StatusCode
			resp.Body.Close()
		}
	}()
	createPath := "/clickpesa/third-parties/payouts/create-mobile-money-payout"
	// The row is written before the create call; the emulator holds the
	// call's answer for five minutes, so while the request has not ended
	// the call is in flight.
	eventually(t, 60*time.Second, "the payout row written", func() bool {
		code, _, resp := e.call(http.MethodGet, "/v1/payouts?reference="+ref, finance, nil)
		return code == http.StatusOK && strings.Contains(string(resp), `"id":"po_`)
	})
	e.serve.signal(t, syscall.SIGKILL)
	e.serve.waitExit(t, 30*time.Second)
	<-done
	if firstCode != 0 {
		// The provider client's 30 s timeout ran out before the kill (a
		// machine so loaded that seeing the row took that long): the first
		// request was answered, so its replay must give the same answer;
		// the rest of the test holds either way.
		t.Logf("the first request was answered %d before the kill", firstCode)
	}

	// Fresh ports: the killed process's may meanwhile serve as another
	// connection's local port on a loaded machine.
	e.public, e.api = testkit.FreeAddr(t), testkit.FreeAddr(t)
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	e.sb.settings(t, map[string]any{"clickpesa-webhook": "http://" + e.public + "/hooks/clickpesa"})
	e.start()
	code, _, resp := e.call(http.MethodPost, "/v1/payouts", finance, body, "Idempotency-Key", "acc-kill-1")
	switch {
	case firstCode == 0 && code != http.StatusConflict && code != http.StatusOK:
		t.Errorf("the same request after the restart: %d %s, want 409 in flight (or 200 with the payout)", code, resp)
	case firstCode != 0 && code != firstCode && !(firstCode == http.StatusCreated && code == http.StatusOK):
		t.Errorf("the same request after the restart: %d %s, want the first request's answer %d again", code, resp, firstCode)
	}
	eventually(t, 120*time.Second, "payout.succeeded delivered", func() bool {
		for _, r := range e.sink.accepted(ref) {
			if r.Type == "payout.succeeded" {
				return true
			}
		}
		return false
	})
	code, _, resp = e.call(http.MethodGet, "/v1/payouts?reference="+ref, finance, nil)
	if code != http.StatusOK || strings.Count(string(resp), `"id":"po_`) != 1 || !strings.Contains(string(resp), `"status":"succeeded"`) {
		t.Errorf("payouts with the reference: %d %s, want one, succeeded", code, resp)
	}
	if n := e.sb.count(t, http.MethodPost, createPath, ref); n != 1 {
		t.Errorf("%d create calls, want 1: a payout was sent twice", n)
	}
	n := 0
	for _, r := range e.sink.accepted(ref) {
		if r.Type == "payout.succeeded" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d payout.succeeded deliveries, want 1", n)
	}
}
