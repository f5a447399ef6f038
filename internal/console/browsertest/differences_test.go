package browsertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/finconnectd/finconnectd/internal/console"
	"github.com/finconnectd/finconnectd/internal/state"
)

// someDifferences are what a reconciliation of ClickPesa could find.
func someDifferences() []state.Difference {
	return []state.Difference{
		{Class: state.DiffUnknownToUs, Key: "unknown_to_us:CPX8841", Reference: "SHOP-7781", ProviderTxn: "CPX8841",
			Detail: "the provider holds a SUCCESS transaction of 12000 TZS we never started",
			Theirs: []byte(`{"id":"CPX8841","orderReference":"SHOP-7781","status":"SUCCESS","collectedAmount":"12000","collectedCurrency":"TZS","customer":{"customerName":"ASHA MWINYI","customerPhoneNumber":"` + phone + `"},"clientId":"shop-client-id","createdAt":"2026-03-01T09:14:02Z"}`)},
		{Class: state.DiffAmountDiffers, Key: "amount_differs:ORDER-3001", Reference: "ORDER-3001", PaymentID: "pay_browserdiff", ProviderTxn: "CPX8790",
			Detail: "we hold 15000 TZS, the provider collected 1500 TZS",
			Ours:   []byte(`{"payment_id":"pay_browserdiff","reference":"ORDER-3001","status":"succeeded","amount":"15000","currency":"TZS"}`),
			Theirs: []byte(`{"id":"CPX8790","orderReference":"ORDER-3001","status":"SUCCESS","collectedAmount":"1500","collectedCurrency":"TZS"}`)},
		{Class: state.DiffMissingAtProvider, Key: "missing_at_provider:ORDER-3002", Reference: "ORDER-3002",
			Detail: "the provider has no record of this pending payment",
			Ours:   []byte(`{"reference":"ORDER-3002","status":"pending","amount":"4000","currency":"TZS"}`)},
	}
}

// TestDifferencesInBrowser: an operator finds a reconciliation difference,
// reads both sides' evidence (phone masked, credentials hidden) and
// resolves it with a note; a read-only token sees no form and is refused
// when it posts one anyway.
func TestDifferencesInBrowser(t *testing.T) {
	needBrowser(t)
	s := startSite(t)
	diffs := s.reconRun(s.now.Truncate(24*time.Hour).AddDate(0, 0, -1), someDifferences()...)
	unknown, amount := diffs[0], diffs[1]
	diffState := func(id string) state.Difference {
		t.Helper()
		d, err := s.st.Difference(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("operator resolves a difference", func(t *testing.T) {
		tab := newTab(t)
		signIn(t, tab, s, operateToken)
		do(t, tab, "open the open unknown-to-us differences",
			chromedp.Click(chromedp.Search(`//nav//a[text()="Reconciliation"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#class`)),
			chromedp.SetValue(chromedp.CSS(`#class`), string(state.DiffUnknownToUs)),
			chromedp.SetValue(chromedp.CSS(`#state`), state.DiffOpen),
			chromedp.Click(chromedp.CSS(`form.search button`)),
			chromedp.WaitNotPresent(chromedp.Search(`//td[text()="ORDER-3001"]`)),
			chromedp.WaitVisible(chromedp.Search(`//td[text()="SHOP-7781"]`)),
		)
		mustContain(t, "differences", mainText(t, tab), "1 difference(s)", "unknown to us", "Latest reconciliation runs")
		do(t, tab, "open the difference",
			chromedp.Click(chromedp.CSS(`a[href="/console/differences/`+unknown.ID+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#evidence`)),
		)
		text := mainText(t, tab)
		mustContain(t, "difference page", text, "CPX8841", "ASHA MWINYI", console.MaskPhone(phone), "(hidden)", "We hold no payment for it.")
		for _, w := range []string{phone, "shop-client-id"} {
			if strings.Contains(text, w) {
				t.Errorf("the difference page shows %q", w)
			}
		}
		do(t, tab, "resolve it with a note",
			chromedp.SendKeys(chromedp.CSS(`#note`), "Manual order created for SHOP-7781"),
			chromedp.Click(chromedp.CSS(`#resolve`)),
			chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)),
		)
		mustContain(t, "after resolving", mainText(t, tab), "Resolved: the difference is closed", "oncall", "Manual order created for SHOP-7781")
		if d := diffState(unknown.ID); d.State != state.DiffResolved || d.By != "oncall" || d.Note != "Manual order created for SHOP-7781" {
			t.Errorf("stored: %s by %q (%q)", d.State, d.By, d.Note)
		}
		if !strings.Contains(s.logs.String(), "console: difference resolved") {
			t.Error("the resolution is not logged")
		}
	})

	t.Run("read-only token is refused", func(t *testing.T) {
		tab := newTab(t)
		signIn(t, tab, s, readToken)
		do(t, tab, "open a difference",
			chromedp.Navigate(s.base+"/console/differences/"+amount.ID),
			chromedp.WaitVisible(chromedp.CSS(`#evidence`)),
		)
		forms := get(t, tab, "look for the resolve form", chromedp.Nodes(chromedp.CSS(`#resolve, #note`), chromedp.AtLeast(0)))
		if len(forms) != 0 {
			t.Errorf("a read-only session sees %d resolve controls", len(forms))
		}
		mustContain(t, "read-only difference page", mainText(t, tab), "needs a token with the console:operate scope")
		do(t, tab, "post a resolve form anyway",
			script(`const f = document.createElement('form');
				f.method = 'post';
				f.action = '/console/differences/`+amount.ID+`/resolve';
				const c = document.createElement('input');
				c.type = 'hidden'; c.name = 'csrf';
				c.value = document.querySelector('form.who input[name=csrf]').value;
				f.appendChild(c);
				document.body.appendChild(f);
				f.submit()`),
			chromedp.WaitVisible(chromedp.Search(`//h1[text()="Refused"]`)),
		)
		mustContain(t, "refusal", mainText(t, tab), "console:operate")
		if d := diffState(amount.ID); d.State != state.DiffOpen {
			t.Errorf("after a read-only resolve the difference is %s", d.State)
		}
	})
}
