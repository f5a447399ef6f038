package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// divergeAt tells the emulator to make provider's records differ (see
// docs/emulator.md) and wants it done.
func (e *serveEnv) divergeAt(provider, kind, ref, extra string) {
	e.t.Helper()
	if code, resp := e.divergeTry(provider, kind, ref, extra); code != http.StatusOK {
		e.t.Fatalf("%s divergence %s %s: %d %s", provider, kind, ref, code, resp)
	}
}

func (e *serveEnv) divergeTry(provider, kind, ref, extra string) (int, []byte) {
	e.t.Helper()
	body := fmt.Sprintf(`{"kind":%q,"reference":%q%s}`, kind, ref, extra)
	return httpDo(e.t, http.MethodPost, e.sb.url+"/_sandbox/"+provider+"/divergence", nil, []byte(body))
}

// settledAtProvider waits until the provider has settled ref (a payment
// whose notification was dropped): a drop_notification control is then
// refused as too late.
func (e *serveEnv) settledAtProvider(provider, ref string) {
	e.t.Helper()
	eventually(e.t, 60*time.Second, ref+" settled at "+provider, func() bool {
		code, resp := e.divergeTry(provider, "drop_notification", ref, "")
		return code == http.StatusBadRequest && strings.Contains(string(resp), "settled already")
	})
}

// reconRunOf is `recon run -json` for one provider.
func (e *serveEnv) reconRunOf(provider string, want int, args ...string) reconRunOut {
	e.t.Helper()
	r := runCLI(e.t, e.env, append([]string{"recon", "run", "-config", e.cfgDir, "-provider", provider, "-json", "-rate", "20"}, args...)...)
	var out reconRunOut
	if r.code != want || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Runs) != 1 {
		e.t.Fatalf("recon run %s: want exit %d and one run\n%s", provider, want, r)
	}
	return out
}

// apiDifference is a difference as the reconciliation API shows it.
type apiDifference struct {
	ID        string `json:"difference_id"`
	Provider  string `json:"provider"`
	Class     string `json:"class"`
	State     string `json:"state"`
	Reference string `json:"reference"`
	PaymentID string `json:"payment_id"`
	By        string `json:"by"`
	Note      string `json:"note"`
}

// TestReconcileStatusQueries: against the built binary and the emulator,
// PesaPal and AzamPay (no list: one status query per payment no
// notification proved settled). A settlement whose notification was
// dropped is healed with exactly one payment.succeeded; a settlement with
// another amount and a payment the provider has no record of stay open
// (amount_differs, missing_at_provider); a second run over the window
// finds nothing new and emits nothing; a PesaPal reversal of a payment
// healed earlier is healed with exactly one payment.reversed; the
// differences are listed and resolved over the API in the token's name.
func TestReconcileStatusQueries(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t, "@every 1h", true, map[string]any{"delay": "1s"})
	amina := canary(t, "recon-token")
	e.env = append(e.env, "ACC_RECON_TOKEN="+amina)
	e.canaries = append(e.canaries, amina)
	e.apiHCL = `
  token "amina" {
    value  = env("ACC_RECON_TOKEN")
    scopes = ["reconciliation"]
  }
`
	writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	e.apply()
	e.start()
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	type provCase struct {
		provider, sandbox, currency, phone string
	}
	cases := []provCase{
		{"pesapal.ke", "pesapal", "KES", "254712345670"},
		{"azampay.tz", "azampay", "TZS", "255712345670"},
	}
	type made struct{ ok, drop, amt, gone payment }
	got := map[string]made{}
	for _, c := range cases {
		p := strings.ToUpper(c.sandbox[:2])
		// Before the customer answers: no notification for three of them,
		// one of which settles with another amount.
		e.divergeAt(c.sandbox, "drop_notification", p+"RQDROP1", "")
		e.divergeAt(c.sandbox, "settle_amount", p+"RQAMT1", `,"amount":"900"`)
		e.divergeAt(c.sandbox, "drop_notification", p+"RQGONE1", "")
		got[c.provider] = made{
			ok:   e.pay(c.provider, p+"RQOK1", "1000", c.currency, c.phone),
			drop: e.pay(c.provider, p+"RQDROP1", "1000", c.currency, c.phone),
			amt:  e.pay(c.provider, p+"RQAMT1", "1000", c.currency, c.phone),
			gone: e.pay(c.provider, p+"RQGONE1", "1000", c.currency, c.phone),
		}
	}
	for _, c := range cases {
		m := got[c.provider]
		eventually(t, 60*time.Second, m.ok.Reference+" succeeded by its notification", func() bool { return e.getPayment(m.ok.ID).Status == "succeeded" })
		for _, p := range []payment{m.drop, m.amt, m.gone} {
			e.settledAtProvider(c.sandbox, p.Reference)
		}
		// The provider loses the record of one.
		e.divergeAt(c.sandbox, "forget", m.gone.Reference, "")
		for _, p := range []payment{m.drop, m.amt, m.gone} {
			if s := e.getPayment(p.ID).Status; s != "pending" {
				t.Fatalf("%s is %s before the run, want pending (its notification was lost)", p.Reference, s)
			}
		}
	}
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	before := e.deliveries()
	for _, c := range cases {
		m := got[c.provider]
		first := e.reconRunOf(c.provider, 2, "-from", from, "-to", to).Runs[0]
		if first.Healed != 1 {
			t.Errorf("%s: healed %d, want 1 (the dropped notification)", c.provider, first.Healed)
		}
		if first.Counters.ProviderCalls != 3 {
			t.Errorf("%s: %d status queries, want 3 (not the payment its notification proved)", c.provider, first.Counters.ProviderCalls)
		}
		for class, n := range map[string]int{"amount_differs": 1, "missing_at_provider": 1} {
			if first.Open[class] != n || first.New[class] != n {
				t.Errorf("%s %s: open %d new %d, want %d", c.provider, class, first.Open[class], first.New[class], n)
			}
		}
		if len(first.Open) != 2 {
			t.Errorf("%s: open %v, want amount_differs and missing_at_provider only", c.provider, first.Open)
		}
		for id, want := range map[string]string{m.ok.ID: "succeeded", m.drop.ID: "succeeded", m.amt.ID: "pending", m.gone.ID: "pending"} {
			if s := e.getPayment(id).Status; s != want {
				t.Errorf("%s payment %s: %s, want %s", c.provider, id, s, want)
			}
		}
	}
	after := e.deliveries()
	for _, c := range cases {
		m := got[c.provider]
		if n := eventsOfType(after, m.drop.ID, "payment.succeeded"); n != 1 {
			t.Errorf("%s: %d payment.succeeded deliveries for the healed payment, want exactly 1", c.provider, n)
		}
	}
	if n := countType(after, "reconciliation.difference") - countType(before, "reconciliation.difference"); n != 4 {
		t.Errorf("reconciliation.difference deliveries: %d, want 4 (two open differences per provider)", n)
	}

	// Again over the same window: nothing new, nothing emitted.
	for _, c := range cases {
		again := e.reconRunOf(c.provider, 2, "-from", from, "-to", to).Runs[0]
		if again.Healed != 0 || len(again.New) != 0 {
			t.Errorf("%s: second run healed %d, new %v; want nothing", c.provider, again.Healed, again.New)
		}
	}
	if n := len(e.deliveries()); n != len(after) {
		t.Errorf("the second runs emitted events: %d deliveries, were %d", n, len(after))
	}

	// PesaPal reverses the payment the first run healed: the next run
	// heals it again, to reversed, with one payment.reversed.
	pp := got["pesapal.ke"]
	e.divergeAt("pesapal", "reverse", pp.drop.Reference, "")
	third := e.reconRunOf("pesapal.ke", 2, "-from", from, "-to", to).Runs[0]
	if third.Healed != 1 || len(third.New) != 0 {
		t.Errorf("after the reversal: healed %d new %v, want 1 healed and nothing new open", third.Healed, third.New)
	}
	if s := e.getPayment(pp.drop.ID).Status; s != "reversed" {
		t.Errorf("reversed payment is %s, want reversed", s)
	}
	if n := eventsOfType(e.deliveries(), pp.drop.ID, "payment.reversed"); n != 1 {
		t.Errorf("%d payment.reversed deliveries, want exactly 1", n)
	}
	if fourth := e.reconRunOf("pesapal.ke", 2, "-from", from, "-to", to).Runs[0]; fourth.Healed != 0 || len(fourth.New) != 0 {
		t.Errorf("after healing the reversal: healed %d new %v, want nothing", fourth.Healed, fourth.New)
	}

	// Over the API: the healed reversal is recorded, the open ones are
	// listed, and resolving one records the token's name.
	var list struct {
		Differences []apiDifference `json:"differences"`
	}
	code, _, body := e.call(http.MethodGet, "/v1/reconciliation/differences?provider=pesapal.ke&limit=100", amina, nil)
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("list differences: %d %s", code, body)
	}
	classes := map[string]string{}
	for _, d := range list.Differences {
		classes[d.Class+"/"+d.State] = d.Reference
	}
	for k, ref := range map[string]string{
		"status_differs/healed": pp.drop.Reference, "reversed_after_success/healed": pp.drop.Reference,
		"amount_differs/open": pp.amt.Reference, "missing_at_provider/open": pp.gone.Reference,
	} {
		if classes[k] != ref {
			t.Errorf("pesapal differences %v: want %s for %s", classes, k, ref)
		}
	}
	var missing apiDifference
	for _, d := range list.Differences {
		if d.Class == "missing_at_provider" {
			missing = d
		}
	}
	code, _, body = e.call(http.MethodPost, "/v1/reconciliation/differences/"+missing.ID+"/resolve", amina,
		[]byte(`{"note":"customer paid at the till"}`), "Content-Type", "application/json")
	var res apiDifference
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil || res.State != "resolved" || res.By != "amina" || res.Note != "customer paid at the till" {
		t.Errorf("resolve over the API: %d %s, want resolved by amina with the note", code, body)
	}
	if code, _, body := e.call(http.MethodGet, "/v1/reconciliation/differences", e.token, nil); code != http.StatusForbidden {
		t.Errorf("a token without the reconciliation scope lists differences: %d %s", code, body)
	}
	e.serve.signal(t, syscall.SIGTERM)
	e.serve.waitExit(t, 30*time.Second)
}

func countType(ds []deliveryView, typ string) int {
	n := 0
	for _, d := range ds {
		if d.EventType == typ {
			n++
		}
	}
	return n
}
