package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

const (
	readToken    = "console-read-token"
	operateToken = "console-operate-token"
	shopToken    = "shop-token"
	testPhone    = "255712345678"
)

type harness struct {
	t        testing.TB
	st       state.Store
	srv      *httptest.Server
	clk      *testkit.ManualClock
	logs     *testkit.SyncBuffer
	notified atomic.Int32
}

func testConfig() *config.Config {
	return &config.Config{
		Providers: []*config.Provider{{Kind: "clickpesa", Name: "tz"}},
		Routes:    []*config.Route{{Name: "orders"}},
		Schedules: config.DefaultSchedules(),
	}
}

func newHarness(t testing.TB, st state.Store) *harness {
	t.Helper()
	h := &harness{t: t, st: st, clk: testkit.NewManualClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)), logs: &testkit.SyncBuffer{}}
	if h.st == nil {
		h.st = teststore.New(t)
	}
	auth := httpapi.NewAuthenticator([]httpapi.Token{
		{Name: "support", Value: secret.New(readToken), Scopes: []string{config.ScopeConsoleRead}},
		{Name: "oncall", Value: secret.New(operateToken), Scopes: []string{config.ScopeConsoleOperate}},
		{Name: "shop", Value: secret.New(shopToken), Scopes: []string{config.ScopePayments, config.ScopeEvents}},
	})
	cfg := testConfig()
	c, err := New(Options{Store: h.st, Auth: func() *httpapi.Authenticator { return auth },
		Config: func() *config.Config { return cfg }, Notify: func() { h.notified.Add(1) }, Now: h.clk.Now,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// payment records a succeeded payment whose event goes to route orders, and
// returns the payment and event IDs.
func (h *harness) payment(ref string) (string, string) {
	h.t.Helper()
	res, err := h.st.ApplyStatus(context.Background(), state.StatusChange{
		Provider: "clickpesa.tz", Reference: ref, Status: "succeeded", Amount: "1000", Currency: "TZS",
		Phone: testPhone, CreateIfMissing: true, EventType: "payment.succeeded", Routes: []string{"orders"}, Now: h.clk.Now(),
		EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `{"type":"payment.succeeded","data":{"payment_id":%q}}`, p.ID), nil
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Payment.ID, res.EventID
}

// kill makes the event's delivery dead after one refused attempt.
func (h *harness) kill(route string) {
	h.t.Helper()
	ctx := context.Background()
	ds, err := h.st.ClaimDeliveries(ctx, route, "t", h.clk.Now(), time.Minute, 1)
	if err != nil || len(ds) != 1 {
		h.t.Fatalf("claim: %v, %d", err, len(ds))
	}
	err = h.st.RecordAttempt(ctx, state.AttemptResult{DeliveryID: ds[0].ID, Owner: "t", Status: state.DeliveryDead,
		Attempt: state.Attempt{DeliveryID: ds[0].ID, N: 1, At: h.clk.Now(), Duration: 15 * time.Millisecond, StatusCode: 410, Error: "HTTP 410 Gone: order system retired"}})
	if err != nil {
		h.t.Fatal(err)
	}
}

// browser is one signed-in (or not) user agent.
type browser struct {
	h *harness
	c *http.Client
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, c: &http.Client{Jar: jar}}
}

func (b *browser) get(path string) (int, string) {
	b.h.t.Helper()
	resp, err := b.c.Get(b.h.srv.URL + path)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.h.t.Helper()
	resp, err := b.c.PostForm(b.h.srv.URL+path, form)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the page:\n%s", page)
	}
	return m[1]
}

func (b *browser) signIn(token string) (int, string) {
	b.h.t.Helper()
	_, page := b.get("/console/signin")
	return b.post("/console/signin", url.Values{"csrf": {csrfOf(b.h.t, page)}, "token": {token}, "next": {"/console/payments"}})
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name  string
		token string
		want  int
		who   string
	}{
		{"read only", readToken, 200, "support"},
		{"operator", operateToken, 200, "oncall"},
		{"token without a console scope", shopToken, 401, ""},
		{"unknown token", "nope", 401, ""},
		{"empty", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h.browser()
			code, page := b.signIn(tt.token)
			if code != tt.want {
				t.Fatalf("sign-in: %d\n%s", code, page)
			}
			if tt.who != "" && !strings.Contains(page, "Signed in as <strong>"+tt.who+"</strong>") {
				t.Errorf("the page does not name %s:\n%s", tt.who, page)
			}
			for _, secretValue := range []string{readToken, operateToken, shopToken} {
				if strings.Contains(page, secretValue) || strings.Contains(h.logs.String(), secretValue) {
					t.Errorf("a token value appears on the page or in the log")
				}
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := h.browser()
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, proto := range []string{"", "https"} {
		_, page := b.get("/console/signin")
		req, _ := http.NewRequest("POST", h.srv.URL+"/console/signin",
			strings.NewReader(url.Values{"csrf": {csrfOf(t, page)}, "token": {readToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var sess *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == cookieName {
				sess = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || sess == nil {
			t.Fatalf("sign-in %q: %d, cookie %v", proto, resp.StatusCode, sess)
		}
		if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != Prefix || sess.Secure != (proto == "https") {
			t.Errorf("behind %q: cookie %+v", proto, sess)
		}
	}
}

func TestPaymentsSearchAndDetail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	payID, evID := h.payment("ORDER-77")
	h.payment("ORDER-78")
	h.kill("orders")
	b := h.browser()
	if code, _ := b.signIn(readToken); code != 200 {
		t.Fatal(code)
	}
	tests := []struct {
		query string
		want  []string
		not   []string
	}{
		{"reference=ORDER-77", []string{"ORDER-77"}, []string{"ORDER-78"}},
		{"provider=clickpesa.tz&status=succeeded", []string{"ORDER-77", "ORDER-78"}, nil},
		{"status=failed", []string{"No payment matches"}, []string{"ORDER-77"}},
		{"phone=345678", []string{"ORDER-77", "ORDER-78"}, nil},
		{"phone=999", nil, []string{"ORDER-77"}},
		{"date=2026-03-01", []string{"ORDER-77"}, nil},
		{"date=2026-03-02", nil, []string{"ORDER-77"}},
		{"date=yesterday", []string{"YYYY-MM-DD"}, []string{"ORDER-77"}},
	}
	for _, tt := range tests {
		code, page := b.get("/console/payments?" + tt.query)
		if code != 200 {
			t.Fatalf("%s: %d", tt.query, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: no %q", tt.query, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(page, w) {
				t.Errorf("%s: %q should not be there", tt.query, w)
			}
		}
		if strings.Contains(page, testPhone) || (strings.Contains(page, "ORDER-77") && !strings.Contains(page, MaskPhone(testPhone))) {
			t.Errorf("%s: the phone is not masked", tt.query)
		}
	}
	code, page := b.get("/console/payments/" + payID)
	if code != 200 {
		t.Fatal(code)
	}
	for _, w := range []string{"ORDER-77", evID, "payment.succeeded", "410", "order system retired", "dead"} {
		if !strings.Contains(page, w) {
			t.Errorf("payment page: no %q", w)
		}
	}
	if strings.Contains(page, testPhone) {
		t.Error("payment page shows the full phone")
	}
	if code, _ := b.get("/console/payments/pay_nope"); code != 404 {
		t.Errorf("unknown payment: %d", code)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, evID := h.payment("ORDER-9")
	h.kill("orders")
	status := func() string {
		_, dels, _, err := h.st.EventDetail(context.Background(), evID)
		if err != nil || len(dels) != 1 {
			t.Fatal(err, len(dels))
		}
		return dels[0].Status
	}

	reader := h.browser()
	reader.signIn(readToken)
	_, dead := reader.get("/console/events?status=dead")
	if !strings.Contains(dead, evID) || strings.Contains(dead, "/replay") {
		t.Errorf("read-only dead letters: the event must be listed without a replay button:\n%s", dead)
	}
	_, page := reader.get("/console/events/" + evID)
	for _, w := range []string{"payment.succeeded", "HTTP 410", "order system retired"} {
		if !strings.Contains(page, w) {
			t.Errorf("event page: no %q", w)
		}
	}
	code, body := reader.post("/console/events/"+evID+"/replay", url.Values{"csrf": {csrfOf(t, page)}})
	if code != 403 || !strings.Contains(body, "console:operate") || status() != state.DeliveryDead {
		t.Errorf("read-only replay: %d, delivery %s", code, status())
	}

	op := h.browser()
	op.signIn(operateToken)
	if code, _ := op.post("/console/events/"+evID+"/replay", url.Values{}); code != 403 || status() != state.DeliveryDead {
		t.Errorf("replay without CSRF token: %d, delivery %s", code, status())
	}
	if code, _ := op.post("/console/events/"+evID+"/replay", url.Values{"csrf": {csrfOf(t, page)}}); code != 403 || status() != state.DeliveryDead {
		t.Errorf("replay with another session's CSRF token: %d, delivery %s", code, status())
	}
	code, dead = op.get("/console/events?status=dead")
	if code != 200 {
		t.Fatalf("operator dead letters: %d\n%s", code, dead)
	}
	code, body = op.post("/console/events/"+evID+"/replay", url.Values{"csrf": {csrfOf(t, dead)}})
	if code != 200 || !strings.Contains(body, "Replay queued") || status() != state.DeliveryPending {
		t.Fatalf("operator replay: %d, delivery %s\n%s", code, status(), body)
	}
	if h.notified.Load() != 1 {
		t.Errorf("workers woken %d times", h.notified.Load())
	}
	if !strings.Contains(h.logs.String(), "event replayed") || !strings.Contains(h.logs.String(), "who=oncall") {
		t.Errorf("the replay is not recorded with who did it:\n%s", h.logs.String())
	}
}

func TestSignOutAndExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := h.browser()
	_, page := b.signIn(readToken)
	if code, p := b.post("/console/signout", url.Values{"csrf": {csrfOf(t, page)}}); code != 200 || !strings.Contains(p, `id="token"`) {
		t.Fatalf("sign-out: %d", code)
	}
	if _, p := b.get("/console/payments"); !strings.Contains(p, `id="token"`) {
		t.Error("still signed in after sign-out")
	}
	b.signIn(readToken)
	if _, p := b.get("/console/health"); !strings.Contains(p, "Dead letters") {
		t.Fatal("health page")
	}
	h.clk.Advance(SessionTTL + time.Second)
	if _, p := b.get("/console/health"); !strings.Contains(p, `id="token"`) {
		t.Error("the session outlived its TTL")
	}
}

func TestSignInNeedsItsCSRFToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	b := h.browser()
	b.get("/console/signin")
	if code, _ := b.post("/console/signin", url.Values{"token": {readToken}}); code != 403 {
		t.Errorf("sign-in without the form's token: %d", code)
	}
}

func TestPagesRender(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.payment("ORDER-1")
	if _, err := h.st.PutResource(context.Background(), state.Resource{Address: "ipn.orders", Type: "ipn",
		Attributes: []byte(`{"ipn_id":"abc-123","url":"https://pay.example.com/hooks/pesapal","client_secret":"s3cr3t"}`)}); err != nil {
		t.Fatal(err)
	}
	b := h.browser()
	b.signIn(readToken)
	for path, want := range map[string]string{
		"/console/payments": "ORDER-1", "/console/events": "payment.succeeded", "/console/state": "abc-123",
		"/console/health": "Store", "/console/nowhere": "no such page", "/console/static/console.css": "--accent",
	} {
		code, page := b.get(path)
		if (code != 200 && path != "/console/nowhere") || !strings.Contains(page, want) {
			t.Errorf("%s: %d, no %q", path, code, want)
		}
		if strings.Contains(page, "s3cr3t") {
			t.Errorf("%s shows a secret attribute", path)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{"255712345678": "2557••••••78", "0712": "••••", "": ""} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPayoutsPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	at := h.clk.Now()
	mobile := state.Payout{ID: "po_mobile1", Provider: "clickpesa.tz", Reference: "PO77", Status: state.PayoutSucceeded, Amount: "25000",
		Currency: "TZS", Fee: "500", DestinationType: state.DestinationMobileMoney, Phone: testPhone, ReceiverName: "JOHN DOE",
		Channel: "MPESA TANZANIA", Token: "finance", CreatedAt: at, UpdatedAt: at}
	bank := state.Payout{ID: "po_bank1", Provider: "clickpesa.tz", Reference: "PO78", Status: state.PayoutPending, Amount: "900000",
		Currency: "TZS", DestinationType: state.DestinationBank, AccountNumber: "0152998877665", AccountName: "Duka Ltd", Bank: "CORUTZTZ",
		Token: "finance", CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute)}
	for _, p := range []state.Payout{mobile, bank} {
		if err := h.st.CreatePayout(ctx, p, state.PayoutLimit{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.st.AppendAudit(ctx, state.AuditEntry{At: at, Token: "finance", Action: "payout.create", Subject: mobile.ID,
		Request: []byte(`{"reference":"PO77"}`), Result: "created", Status: 201}); err != nil {
		t.Fatal(err)
	}
	b := h.browser()
	b.signIn(readToken)
	tests := []struct {
		path string
		code int
		want []string
		not  []string
	}{
		{"/console/payouts", 200, []string{"PO77", "PO78", MaskPhone(testPhone), "CORUTZTZ " + MaskAccount(bank.AccountNumber), "2 payout(s)"}, []string{testPhone, bank.AccountNumber}},
		{"/console/payouts?status=pending", 200, []string{"PO78"}, []string{"PO77"}},
		{"/console/payouts?reference=PO77", 200, []string{"PO77"}, []string{"PO78"}},
		{"/console/payouts?status=paid", 200, []string{"Unknown status", `aria-invalid="true"`}, []string{"PO77"}},
		{"/console/payouts/po_mobile1", 200, []string{"PO77", "JOHN DOE", "MPESA TANZANIA", "payout.create", "created", "finance", MaskPhone(testPhone)}, []string{testPhone}},
		{"/console/payouts/po_bank1", 200, []string{"PO78", "Duka Ltd", MaskAccount(bank.AccountNumber), "not known yet"}, []string{bank.AccountNumber}},
		{"/console/payouts/po_nope", 404, []string{"no such item"}, nil},
	}
	for _, tt := range tests {
		code, page := b.get(tt.path)
		if code != tt.code {
			t.Errorf("%s: %d", tt.path, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: no %q", tt.path, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(page, w) {
				t.Errorf("%s: %q should not be there", tt.path, w)
			}
		}
	}
}

func TestMaskAccount(t *testing.T) {
	for in, want := range map[string]string{"0152998877665": "•••••••••7665", "1234": "••••", "": ""} {
		if got := MaskAccount(in); got != want {
			t.Errorf("MaskAccount(%q) = %q, want %q", in, got, want)
		}
	}
}

var (
	inputTag   = regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	idAttr     = regexp.MustCompile(`\bid="([^"]+)"`)
	tableOpen  = regexp.MustCompile(`<table\b[^>]*>\s*<caption`)
	headingOne = regexp.MustCompile(`<h1[ >]`)
)

// TestAccessibleMarkup: on every page, each visible form field has a
// label, each table a caption, and there is one h1, a skip link to main
// and the page's language.
func TestAccessibleMarkup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	payID, evID := h.payment("ORDER-5")
	h.kill("orders")
	_, diffs := h.reconRun(time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC), state.Difference{Class: state.DiffUnknownToUs, Key: "k1",
		Reference: "ORDER-X", Detail: "unknown", Theirs: []byte(theirJSON)})
	b := h.browser()
	_, signin := b.get("/console/signin")
	b.signIn(operateToken)
	pages := map[string]string{"/console/signin": signin}
	for _, p := range []string{"/console/payments", "/console/payments?date=bad", "/console/payments/" + payID, "/console/events",
		"/console/events?status=dead", "/console/events/" + evID, "/console/payouts", "/console/state", "/console/health",
		"/console/differences", "/console/differences?from=bad", "/console/differences/" + diffs[0].ID} {
		code, page := b.get(p)
		if code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
		pages[p] = page
	}
	for p, page := range pages {
		for _, tag := range inputTag.FindAllString(page, -1) {
			if strings.Contains(tag, `type="hidden"`) {
				continue
			}
			id := idAttr.FindStringSubmatch(tag)
			if id == nil || !strings.Contains(page, `<label for="`+id[1]+`"`) {
				t.Errorf("%s: a form field without a label: %s", p, tag)
			}
		}
		if n, c := strings.Count(page, "<table"), len(tableOpen.FindAllString(page, -1)); n != c {
			t.Errorf("%s: %d tables, %d with a caption", p, n, c)
		}
		if n := len(headingOne.FindAllString(page, -1)); n != 1 {
			t.Errorf("%s: %d h1 headings", p, n)
		}
		for _, w := range []string{`<html lang="en">`, `href="#main"`, `<main id="main"`, `name="viewport"`} {
			if !strings.Contains(page, w) {
				t.Errorf("%s: no %s", p, w)
			}
		}
	}
	if !strings.Contains(pages["/console/events?status=dead"], `href="/console/events?status=dead" aria-current="page"`) {
		t.Error("the dead letters page is not marked current in the navigation")
	}
}

func TestPaymentHistoryAndNotifications(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	at := h.clk.Now()
	if err := h.st.CreatePayment(ctx, state.Payment{ID: "pay_hist", Provider: "clickpesa.tz", Reference: "ORDER-H1", Status: state.StatusPending,
		Amount: "1000", Currency: "TZS", Phone: testPhone, CreatedAt: at, UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"PAYMENT RECEIVED","data":{"orderReference":"ORDER-H1","customer":{"customerPhoneNumber":"` + testPhone + `"}},"checksum":"c4f3b2a1deadbeef"}`
	if _, err := h.st.ApplyStatus(ctx, state.StatusChange{Provider: "clickpesa.tz", Reference: "ORDER-H1", Status: state.StatusSucceeded,
		Source: state.SourceNotification, Amount: "1000", Currency: "TZS", Now: at.Add(time.Minute),
		Notification: &state.Notification{ID: "ntf_h1", Route: "orders", DedupKey: "ORDER-H1:ok", Body: []byte(body), ReceivedAt: at.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.CreatePayout(ctx, state.Payout{ID: "po_refund1", Provider: "clickpesa.tz", Reference: "RF1", Status: state.PayoutPending,
		Amount: "400", Currency: "TZS", DestinationType: state.DestinationMobileMoney, Phone: testPhone, PaymentID: "pay_hist",
		CreatedAt: at.Add(2 * time.Minute), UpdatedAt: at.Add(2 * time.Minute)}, state.PayoutLimit{}); err != nil {
		t.Fatal(err)
	}
	b := h.browser()
	b.signIn(readToken)
	code, page := b.get("/console/payments/pay_hist")
	if code != 200 {
		t.Fatal(code)
	}
	for _, w := range []string{"Status history", "created through the pay API", "a provider notification", `href="#ntf-ntf_h1"`,
		`id="ntf-ntf_h1"`, "PAYMENT RECEIVED", MaskPhone(testPhone), `(hidden)`, "Refunds", `href="/console/payouts/po_refund1"`, "400 TZS"} {
		if !strings.Contains(page, w) {
			t.Errorf("payment page: no %q", w)
		}
	}
	for _, w := range []string{testPhone, "c4f3b2a1deadbeef"} {
		if strings.Contains(page, w) {
			t.Errorf("payment page shows %q", w)
		}
	}
}

func TestExcerpt(t *testing.T) {
	for in, want := range map[string]string{
		`{"phone":"255712345678","checksum":"abc"}`:   `{"phone":"2557••••••78","checksum":"(hidden)"}`,
		`OrderTrackingId=abc&signature=xyz&amount=10`: `OrderTrackingId=abc&signature="(hidden)"&amount=10`,
		`{"Token": "t0k3n", "amount": 1000}`:          `{"Token": "(hidden)", "amount": 1000}`,
	} {
		if got := excerpt([]byte(in)); got != want {
			t.Errorf("excerpt(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestPaymentEventsBeyondNewestDeliveries: a payment's page finds its
// events by the payment's ID, however many newer deliveries other
// payments have.
func TestPaymentEventsBeyondNewestDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	payID, evID := h.payment("ORDER-OLDEST")
	for i := range 1001 {
		h.clk.Advance(time.Second)
		h.payment(fmt.Sprintf("ORDER-NEWER-%04d", i))
	}
	b := h.browser()
	b.signIn(readToken)
	code, page := b.get("/console/payments/" + payID)
	if code != 200 || !strings.Contains(page, `id="ev-`+evID+`"`) {
		t.Fatalf("payment page (%d) does not show its event %s behind 1,001 newer deliveries", code, evID)
	}
	if n := strings.Count(page, `<section class="event"`); n != 1 {
		t.Errorf("payment page shows %d events, want 1", n)
	}
}
