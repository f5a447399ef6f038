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

const phone = "255712345678"

// signIn signs tab in with token through the sign-in form, starting from
// the console's root as a person would.
func signIn(t *testing.T, tab context.Context, s *site, token string) {
	t.Helper()
	do(t, tab, "sign in",
		chromedp.Navigate(s.base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`form.signin button`)),
		chromedp.WaitVisible(chromedp.CSS(`form.who`)),
	)
}

// mainText is the visible text of the page's main element.
func mainText(t *testing.T, tab context.Context) string {
	t.Helper()
	return get(t, tab, "read the page", chromedp.Text(chromedp.CSS(`#main`)))
}

func mustContain(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: no %q in:\n%s", what, w, text)
		}
	}
}

// TestConsoleInBrowser walks the console as support staff do, in headless
// Chromium against a running daemon: an operator signs in, finds a payment
// by reference, opens its deliveries and replays its dead event until the
// page says delivered; a read-only token is refused a replay; a form
// without its CSRF token is refused.
func TestConsoleInBrowser(t *testing.T) {
	needBrowser(t)
	s := startSite(t)
	now := time.Now().UTC()
	payID, evID := s.payment("ORDER-1001", phone, "15000", state.StatusSucceeded, now.Add(-2*time.Minute))
	_, ev2 := s.payment("ORDER-1002", "255787654321", "2500", state.StatusSucceeded, now.Add(-time.Minute))
	s.waitDelivery(evID, state.DeliveryDead)
	s.waitDelivery(ev2, state.DeliveryDead)

	t.Run("operator finds a payment and replays its dead event", func(t *testing.T) {
		tab := newTab(t)
		signIn(t, tab, s, operateToken)
		do(t, tab, "search by reference",
			chromedp.WaitVisible(chromedp.CSS(`#reference`)),
			chromedp.SendKeys(chromedp.CSS(`#reference`), "ORDER-1001"),
			chromedp.Click(chromedp.CSS(`form.search button`)),
			// The unfiltered list showed ORDER-1002; the answer does not.
			chromedp.WaitNotPresent(chromedp.Search(`//a[text()="ORDER-1002"]`)),
			chromedp.WaitVisible(chromedp.Search(`//a[text()="ORDER-1001"]`)),
		)
		text := mainText(t, tab)
		mustContain(t, "search", text, "1 payment(s)", console.MaskPhone(phone))
		if strings.Contains(text, phone) {
			t.Errorf("the payments page shows the whole phone number")
		}

		do(t, tab, "open the payment",
			chromedp.Click(chromedp.Search(`//a[text()="ORDER-1001"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#events`)),
		)
		text = mainText(t, tab)
		mustContain(t, "payment page", text, payID, "payment.succeeded", "dead", "HTTP 410", "order system retired")

		s.recv.accept.Store(true)
		do(t, tab, "open the event and replay it",
			chromedp.Click(chromedp.CSS(`#ev-`+evID+` a`)),
			chromedp.WaitVisible(chromedp.CSS(`form.action button`)),
			chromedp.Click(chromedp.CSS(`form.action button`)),
			chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)),
		)
		mustContain(t, "after the replay", mainText(t, tab), "Replay queued")

		// Reload the event's page until it shows the delivery delivered.
		deadline := time.Now().Add(waitFor)
		for {
			do(t, tab, "reload the event", chromedp.Navigate(s.base+"/console/events/"+evID))
			status := get(t, tab, "read the delivery's status", chromedp.Text(chromedp.CSS(`section.event tbody .st`)))
			if status == state.DeliveryDelivered {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the event page still says %q %s after the replay", status, waitFor)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if s.recv.accepted.Load() == 0 {
			t.Error("the receiver accepted nothing")
		}
		if !strings.Contains(s.logs.String(), "console: event replayed") || !strings.Contains(s.logs.String(), "who=oncall") {
			t.Error("the replay is not logged with who did it")
		}
	})

	t.Run("read-only token is refused a replay", func(t *testing.T) {
		tab := newTab(t)
		signIn(t, tab, s, readToken)
		do(t, tab, "open the dead letters",
			chromedp.Navigate(s.base+"/console/events?status=dead"),
			chromedp.WaitVisible(chromedp.Search(`//a[text()="`+ev2+`"]`)),
		)
		buttons := get(t, tab, "look for Replay buttons", chromedp.Nodes(chromedp.Search(`//button[text()="Replay"]`), chromedp.AtLeast(0)))
		if len(buttons) != 0 {
			t.Errorf("a read-only session sees %d Replay buttons", len(buttons))
		}
		// The page offers no button; post the replay form anyway, with
		// the session's own valid CSRF token.
		do(t, tab, "post a replay",
			chromedp.Navigate(s.base+"/console/events/"+ev2),
			chromedp.WaitVisible(chromedp.CSS(`form.who`)),
			script(`const f = document.createElement('form');
				f.method = 'post';
				f.action = '/console/events/`+ev2+`/replay';
				const c = document.createElement('input');
				c.type = 'hidden'; c.name = 'csrf';
				c.value = document.querySelector('form.who input[name=csrf]').value;
				f.appendChild(c);
				document.body.appendChild(f);
				f.submit()`),
			chromedp.WaitVisible(chromedp.Search(`//h1[text()="Refused"]`)),
		)
		mustContain(t, "refusal", mainText(t, tab), "console:operate")
		if got := s.deliveryStatus(ev2); got != state.DeliveryDead {
			t.Errorf("after a read-only replay the delivery is %s", got)
		}
	})

	t.Run("a form without its CSRF token is refused", func(t *testing.T) {
		tab := newTab(t)
		signIn(t, tab, s, operateToken)
		do(t, tab, "replay without the CSRF token",
			chromedp.Navigate(s.base+"/console/events/"+ev2),
			chromedp.WaitVisible(chromedp.CSS(`form.action button`)),
			script(`document.querySelector('form.action input[name=csrf]').remove()`),
			chromedp.Click(chromedp.CSS(`form.action button`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[text()="Refused"]`)),
		)
		mustContain(t, "refusal", mainText(t, tab), "security token")
		if got := s.deliveryStatus(ev2); got != state.DeliveryDead {
			t.Errorf("after a replay without CSRF token the delivery is %s", got)
		}
	})
}
