package sandbox

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

func ppToken(t testing.TB, e *Emulator) string {
	t.Helper()
	a := call(t, "POST", e.URL()+"/pesapal/api/Auth/RequestToken", nil,
		map[string]string{"consumer_key": "qkio1BGGYAXTu2JOfm7XSXNruoZsrqEW", "consumer_secret": "osGQ364R49cXKeOYSpaOnT++rHs="})
	if a.status != http.StatusOK {
		t.Fatalf("RequestToken: %d %s", a.status, a.body)
	}
	return str(a.object(t)["token"])
}

func ppRegister(t testing.TB, e *Emulator, tok, u, typ string) string {
	t.Helper()
	a := call(t, "POST", e.URL()+"/pesapal/api/URLSetup/RegisterIPN", map[string]string{"Authorization": "Bearer " + tok},
		map[string]string{"url": u, "ipn_notification_type": typ})
	m := a.object(t)
	if a.status != http.StatusOK || m["status"] != "200" {
		t.Fatalf("RegisterIPN: %d %s", a.status, a.body)
	}
	return str(m["ipn_id"])
}

func ppOrderBody(id, ipnID, phone string) map[string]any {
	return map[string]any{
		"id": id, "currency": "KES", "amount": json.Number("1500.00"), "description": "Order " + id,
		"callback_url": "https://merchant.example/return", "notification_id": ipnID,
		"billing_address": map[string]any{"email_address": "jane@example.com", "phone_number": phone, "first_name": "Jane"},
	}
}

func ppSubmit(t testing.TB, e *Emulator, tok string, body map[string]any) answer {
	t.Helper()
	return call(t, "POST", e.URL()+"/pesapal/api/Transactions/SubmitOrderRequest", map[string]string{"Authorization": "Bearer " + tok}, body)
}

func ppStatus(t testing.TB, e *Emulator, tok, id string) (answer, map[string]any) {
	t.Helper()
	a := call(t, "GET", e.URL()+"/pesapal/api/Transactions/GetTransactionStatus?orderTrackingId="+url.QueryEscape(id),
		map[string]string{"Authorization": "Bearer " + tok}, nil)
	return a, a.object(t)
}

func TestPesaPalToken(t *testing.T) {
	clock := testkit.NewManualClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	e := startEmulator(t, Options{Now: clock.Now})
	tests := []struct {
		name       string
		body       any
		wantHTTP   int
		wantStatus string
		wantCode   string
	}{
		{"valid", map[string]string{"consumer_key": "k", "consumer_secret": "s"}, 200, "200", ""},
		{"invalid key", map[string]string{"consumer_key": "invalid", "consumer_secret": "s"}, 401, "500", "invalid_consumer_key_or_secret_provided"},
		{"invalid secret", map[string]string{"consumer_key": "k", "consumer_secret": "invalid"}, 401, "500", "invalid_consumer_key_or_secret_provided"},
		{"missing", map[string]string{}, 401, "500", "invalid_consumer_key_or_secret_provided"},
		{"not json", "{", 400, "400", "invalid_request_body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, "POST", e.URL()+"/pesapal/api/Auth/RequestToken", nil, tc.body)
			m := a.object(t)
			if a.status != tc.wantHTTP || m["status"] != tc.wantStatus {
				t.Fatalf("got HTTP %d body %s", a.status, a.body)
			}
			if tc.wantCode == "" {
				if m["error"] != nil || m["message"] != "Request processed successfully" {
					t.Errorf("success body: %s", a.body)
				}
				if !regexp.MustCompile(`^[\w-]+\.[\w-]+\.[\w-]+$`).MatchString(str(m["token"])) {
					t.Errorf("token does not look like a JWT: %q", m["token"])
				}
				if got, want := str(m["expiryDate"]), "2026-11-23T10:05:00.0000000Z"; got != want {
					t.Errorf("expiryDate = %q, want %q", got, want)
				}
				return
			}
			errObj, _ := m["error"].(map[string]any)
			if errObj["code"] != tc.wantCode || errObj["error_type"] != "api_error" || m["token"] != nil {
				t.Errorf("error body: %s", a.body)
			}
		})
	}
	if strings.Contains(mustJSON(t, e.Requests()), "osGQ") {
		t.Error("request log shows a secret")
	}

	tok := ppToken(t, e)
	list := e.URL() + "/pesapal/api/URLSetup/GetIpnList"
	if a := call(t, "GET", list, map[string]string{"Authorization": "Bearer " + tok}, nil); a.status != 200 {
		t.Fatalf("fresh token refused: %d", a.status)
	}
	clock.Advance(5*time.Minute + time.Second)
	for _, auth := range []string{"Bearer " + tok, "Bearer nonsense", ""} {
		a := call(t, "GET", list, map[string]string{"Authorization": auth}, nil)
		m := a.object(t)
		if a.status != http.StatusUnauthorized || m["status"] != "401" {
			t.Errorf("auth %q: got %d %s, want 401", auth, a.status, a.body)
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPesaPalTokenTTLSetting(t *testing.T) {
	clock := testkit.NewManualClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	e := startEmulator(t, Options{Now: clock.Now, Settings: Settings{TokenTTL: Duration(30 * time.Second)}})
	a := call(t, "POST", e.URL()+"/pesapal/api/Auth/RequestToken", nil, map[string]string{"consumer_key": "k", "consumer_secret": "s"})
	if got := str(a.object(t)["expiryDate"]); got != "2026-11-23T10:00:30.0000000Z" {
		t.Errorf("expiryDate = %q", got)
	}
}

func TestPesaPalIPNRegistration(t *testing.T) {
	e := startEmulator(t, Options{})
	tok := ppToken(t, e)
	auth := map[string]string{"Authorization": "Bearer " + tok}
	reg := e.URL() + "/pesapal/api/URLSetup/RegisterIPN"

	a := call(t, "POST", reg, auth, map[string]string{"url": "https://merchant.example/ipn", "ipn_notification_type": "POST"})
	m := a.object(t)
	want := map[string]any{"url": "https://merchant.example/ipn", "notification_type": json.Number("1"),
		"ipn_notification_type_description": "POST", "ipn_status": json.Number("1"), "ipn_status_decription": "Active",
		"error": nil, "status": "200", "message": "Request processed successfully"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(str(m["ipn_id"])) {
		t.Errorf("ipn_id = %v", m["ipn_id"])
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`).MatchString(str(m["created_date"])) {
		t.Errorf("created_date = %v", m["created_date"])
	}
	again := call(t, "POST", reg, auth, map[string]string{"url": "https://merchant.example/ipn", "ipn_notification_type": "POST"}).object(t)
	if again["ipn_id"] == m["ipn_id"] {
		t.Error("registering the same URL again returned the same ipn_id; want a new one")
	}
	g := call(t, "POST", reg, auth, map[string]string{"url": "https://merchant.example/get", "ipn_notification_type": "GET"}).object(t)
	if g["notification_type"] != json.Number("0") || g["ipn_notification_type_description"] != "GET" {
		t.Errorf("GET registration: %v", g)
	}

	for _, bad := range []map[string]string{
		{"url": "ftp://x", "ipn_notification_type": "POST"},
		{"url": "https://merchant.example/ipn", "ipn_notification_type": "PUT"},
		{},
	} {
		a := call(t, "POST", reg, auth, bad)
		m := a.object(t)
		if a.status != 200 || m["status"] != "400" || m["error"] == nil {
			t.Errorf("bad registration %v: %d %s", bad, a.status, a.body)
		}
	}

	la := call(t, "GET", e.URL()+"/pesapal/api/URLSetup/GetIpnList", auth, nil)
	var list []map[string]any
	la.decode(t, &list)
	if len(list) != 3 {
		t.Fatalf("GetIpnList: %s", la.body)
	}
	for _, k := range []string{"url", "created_date", "ipn_id", "error", "status"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("GetIpnList element lacks %s", k)
		}
	}
	if list[0]["ipn_id"] != m["ipn_id"] || list[2]["url"] != "https://merchant.example/get" || list[0]["status"] != "200" {
		t.Errorf("GetIpnList order/content: %s", la.body)
	}
}

func TestPesaPalSubmitValidation(t *testing.T) {
	e := startEmulator(t, Options{})
	tok := ppToken(t, e)
	ipn := ppRegister(t, e, tok, "https://merchant.example/ipn", "POST")
	tests := []struct {
		name     string
		mutate   func(m map[string]any)
		wantCode string
	}{
		{"id too long", func(m map[string]any) { m["id"] = strings.Repeat("A", 51) }, "invalid_merchant_reference"},
		{"id bad chars", func(m map[string]any) { m["id"] = "A B" }, "invalid_merchant_reference"},
		{"id empty", func(m map[string]any) { m["id"] = "" }, "invalid_merchant_reference"},
		{"amount string", func(m map[string]any) { m["amount"] = "1500.00" }, "invalid_amount"},
		{"amount zero", func(m map[string]any) { m["amount"] = 0 }, "invalid_amount"},
		{"currency", func(m map[string]any) { m["currency"] = "kes" }, "invalid_currency"},
		{"description long", func(m map[string]any) { m["description"] = strings.Repeat("d", 101) }, "invalid_description"},
		{"unknown ipn", func(m map[string]any) { m["notification_id"] = "84740ab4-3cd9-47da-8a4f-dd1db53494b5" }, "invalid_notification_id"},
		{"no billing", func(m map[string]any) { delete(m, "billing_address") }, "invalid_billing_address"},
		{"no callback", func(m map[string]any) { delete(m, "callback_url") }, "invalid_callback_url"},
		{"redirect mode", func(m map[string]any) { m["redirect_mode"] = "SIDEWAYS" }, "invalid_redirect_mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := ppOrderBody("ORD-1", ipn, "0712345670")
			tc.mutate(body)
			a := ppSubmit(t, e, tok, body)
			m := a.object(t)
			errObj, _ := m["error"].(map[string]any)
			if a.status != 200 || m["status"] != "400" || errObj["code"] != tc.wantCode {
				t.Fatalf("got %d %s", a.status, a.body)
			}
		})
	}
	// A valid id with every allowed character, exactly 50 long, is accepted once.
	id := "Ab0-_.:" + strings.Repeat("x", 43)
	if a := ppSubmit(t, e, tok, ppOrderBody(id, ipn, "0712345670")); a.object(t)["status"] != "200" {
		t.Fatalf("valid order: %s", a.body)
	}
	a := ppSubmit(t, e, tok, ppOrderBody(id, ipn, "0712345670"))
	m := a.object(t)
	if errObj, _ := m["error"].(map[string]any); m["status"] != "400" || errObj["code"] != "duplicate_order_reference" {
		t.Fatalf("duplicate: %s", a.body)
	}
}

// TestPesaPalOutcomes submits one order per magic digit and watches the
// status endpoint and the IPN sink.
func TestPesaPalOutcomes(t *testing.T) {
	tests := []struct {
		digit     string
		wantCode  int
		wantDesc  string
		wantPSC   string
		wantIPNs  int
		wantHTTP  int // initiate
		slowReply bool
	}{
		{"0", 1, "Completed", "", 1, 200, false},
		{"1", 2, "Failed", "insufficient_funds", 1, 200, false},
		{"2", 2, "Failed", "request_terminated_by_user", 1, 200, false},
		{"3", 1, "Completed", "", 0, 200, false},
		{"4", 1, "Completed", "", 2, 200, false},
		{"5", 0, "", "", 0, 500, false},
		{"6", 1, "Completed", "", 1, 200, true},
	}
	for _, method := range []string{"POST", "GET"} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.digit, func(t *testing.T) {
				t.Parallel()
				s := newSink(t, func(_ int, r received) (int, string) {
					return 200, `{"orderNotificationType":"IPNCHANGE","status":200}`
				})
				logs := &syncBuffer{}
				e := startEmulator(t, Options{Logger: slogTo(logs)})
				tok := ppToken(t, e)
				ipn := ppRegister(t, e, tok, s.srv.URL+"/hooks/pesapal?x=1", method)
				ref := "ORD-" + tc.digit
				start := time.Now()
				a := ppSubmit(t, e, tok, ppOrderBody(ref, ipn, "+254 712 34567"+tc.digit))
				m := a.object(t)
				if a.status != tc.wantHTTP {
					t.Fatalf("submit: %d %s", a.status, a.body)
				}
				if tc.wantHTTP != 200 {
					if m["status"] != "500" {
						t.Errorf("500 body: %s", a.body)
					}
					return
				}
				if tc.slowReply && time.Since(start) < 300*time.Millisecond {
					t.Errorf("outcome 6 answered before slow-answer")
				}
				id := str(m["order_tracking_id"])
				if got, want := str(m["redirect_url"]), e.URL()+PesaPalRedirectPath+id; got != want {
					t.Errorf("redirect_url = %q, want %q", got, want)
				}
				var st map[string]any
				testkit.Eventually(t, "final status", func() bool {
					_, st = ppStatus(t, e, tok, id)
					return st["status_code"] != json.Number("0")
				})
				if st["status_code"] != json.Number(string(rune('0'+tc.wantCode))) ||
					st["payment_status_description"] != tc.wantDesc || st["payment_status_code"] != tc.wantPSC {
					t.Errorf("status: %v", st)
				}
				if st["merchant_reference"] != ref || st["amount"] != json.Number("1500.00") || st["currency"] != "KES" {
					t.Errorf("status echo: %v", st)
				}
				if tc.wantCode == 1 && (str(st["confirmation_code"]) == "" || st["payment_account"] != "2547xxx4567"+tc.digit) {
					t.Errorf("completed fields: %v", st)
				}
				if got := queued(logs, "ipn "+id); got != tc.wantIPNs {
					t.Errorf("%d IPNs queued, want %d", got, tc.wantIPNs)
				}
				testkit.Eventually(t, "IPNs acknowledged", func() bool { return acked(logs, "ipn "+id) == tc.wantIPNs })
				if got := s.count(); got != tc.wantIPNs {
					t.Errorf("sink got %d, want %d", got, tc.wantIPNs)
				}
				for _, r := range s.all() {
					var got map[string]string
					if method == "POST" {
						if r.method != "POST" || r.header.Get("Content-Type") != "application/json" {
							t.Errorf("IPN %s %s", r.method, r.header.Get("Content-Type"))
						}
						if err := json.Unmarshal(r.body, &got); err != nil {
							t.Fatalf("IPN body %q: %v", r.body, err)
						}
					} else {
						q, _ := url.ParseQuery(r.query)
						got = map[string]string{"OrderTrackingId": q.Get("OrderTrackingId"),
							"OrderMerchantReference": q.Get("OrderMerchantReference"), "OrderNotificationType": q.Get("OrderNotificationType")}
						if r.method != "GET" || q.Get("x") != "1" {
							t.Errorf("GET IPN %s %s", r.method, r.query)
						}
					}
					want := map[string]string{"OrderTrackingId": id, "OrderMerchantReference": ref, "OrderNotificationType": "IPNCHANGE"}
					for k, v := range want {
						if got[k] != v {
							t.Errorf("IPN %s = %q, want %q", k, got[k], v)
						}
					}
				}
			})
		}
	}
}

func TestPesaPalPendingStatus(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{Delay: Duration(time.Hour)}})
	tok := ppToken(t, e)
	ipn := ppRegister(t, e, tok, "http://127.0.0.1:1/ipn", "POST")
	a := ppSubmit(t, e, tok, ppOrderBody("ORD-P", ipn, "0712345670"))
	id := str(a.object(t)["order_tracking_id"])
	sa, st := ppStatus(t, e, tok, id)
	errObj, _ := st["error"].(map[string]any)
	if sa.status != http.StatusInternalServerError || st["status"] != "500" || st["status_code"] != json.Number("0") ||
		errObj["code"] != "payment_details_not_found" || errObj["message"] != "Pending Payment" ||
		st["payment_status_description"] != "INVALID" {
		t.Fatalf("pending: %d %s", sa.status, sa.body)
	}
	na, nst := ppStatus(t, e, tok, "b945e4af-80a5-4ec1-8706-e03f8332fb04")
	if na.status != 200 || nst["status"] != "400" {
		t.Errorf("unknown order: %d %s", na.status, na.body)
	}
	// The hosted page stub serves the redirect_url.
	page := call(t, "GET", e.URL()+PesaPalRedirectPath+id, nil, nil)
	if page.status != 200 || !strings.Contains(string(page.body), "OrderNotificationType=CALLBACKURL") {
		t.Errorf("hosted page: %d %s", page.status, page.body)
	}
	// Cancel a pending order: it fails and cannot be cancelled twice.
	cancel := e.URL() + "/pesapal/api/Transactions/CancelOrder"
	auth := map[string]string{"Authorization": "Bearer " + tok}
	c := call(t, "POST", cancel, auth, map[string]string{"order_tracking_id": id}).object(t)
	if c["status"] != "200" || c["message"] != "Order successfully cancelled." {
		t.Errorf("cancel: %v", c)
	}
	if _, st := ppStatus(t, e, tok, id); st["status_code"] != json.Number("2") {
		t.Errorf("after cancel: %v", st)
	}
	if c := call(t, "POST", cancel, auth, map[string]string{"order_tracking_id": id}).object(t); c["status"] != "500" {
		t.Errorf("second cancel: %v", c)
	}
}

func TestPesaPalRefund(t *testing.T) {
	s := newSink(t, func(int, received) (int, string) { return 200, `{"status":200}` })
	e := startEmulator(t, Options{})
	tok := ppToken(t, e)
	auth := map[string]string{"Authorization": "Bearer " + tok}
	ipn := ppRegister(t, e, tok, s.srv.URL, "POST")
	id := str(ppSubmit(t, e, tok, ppOrderBody("ORD-R", ipn, "0712345670")).object(t)["order_tracking_id"])
	var st map[string]any
	testkit.Eventually(t, "completed", func() bool { _, st = ppStatus(t, e, tok, id); return st["status_code"] == json.Number("1") })
	code := str(st["confirmation_code"])
	refund := e.URL() + "/pesapal/api/Transactions/RefundRequest"
	tests := []struct {
		name string
		body map[string]any
		want string
	}{
		{"partial", map[string]any{"confirmation_code": code, "amount": "100.00", "username": "ops", "remarks": "r"}, "500"},
		{"unknown code", map[string]any{"confirmation_code": "NOPE", "amount": "1500.00", "username": "ops", "remarks": "r"}, "500"},
		{"no username", map[string]any{"confirmation_code": code, "amount": "1500.00", "remarks": "r"}, "500"},
		{"full", map[string]any{"confirmation_code": code, "amount": "1500.00", "username": "ops", "remarks": "r"}, "200"},
		{"twice", map[string]any{"confirmation_code": code, "amount": 1500, "username": "ops", "remarks": "r"}, "500"},
	}
	for _, tc := range tests {
		a := call(t, "POST", refund, auth, tc.body)
		if m := a.object(t); a.status != 200 || m["status"] != tc.want {
			t.Errorf("%s: %d %s", tc.name, a.status, a.body)
		}
	}
	testkit.Eventually(t, "reversed", func() bool { _, st = ppStatus(t, e, tok, id); return st["status_code"] == json.Number("3") })
	if st["payment_status_description"] != "Reversed" {
		t.Errorf("reversed: %v", st)
	}
	testkit.Eventually(t, "IPN for the reversal", func() bool { return s.count() == 2 })
	if c := call(t, "POST", e.URL()+"/pesapal/api/Transactions/CancelOrder", auth, map[string]string{"order_tracking_id": id}).object(t); c["status"] != "500" {
		t.Errorf("cancel after completion: %v", c)
	}
}

// TestPesaPalIPNRetry: an IPN is re-sent while the ack is missing, not JSON,
// or not status 200, at most 1+len(IPNRetry) times.
func TestPesaPalIPNRetry(t *testing.T) {
	tests := []struct {
		name      string
		answers   []string // body per attempt; "" = HTTP 500
		wantTries int
	}{
		{"good first", []string{`{"status":200}`}, 1},
		{"500 then good", []string{"", `{"status":200}`}, 2},
		{"not json then string status then good", []string{"ok", `{"status":"200"}`, `{"status":500}`, `{"status":200}`}, 4},
		{"never", []string{"", "", "", "", "", "", ""}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSink(t, func(n int, _ received) (int, string) {
				if n >= len(tc.answers) || tc.answers[n] == "" {
					return 500, ""
				}
				return 200, tc.answers[n]
			})
			logs := &syncBuffer{}
			e := startEmulator(t, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			tok := ppToken(t, e)
			ipn := ppRegister(t, e, tok, s.srv.URL, "POST")
			ppSubmit(t, e, tok, ppOrderBody("ORD-X", ipn, "0712345670"))
			testkit.Eventually(t, "delivery finished", func() bool {
				return strings.Contains(logs.String(), "sandbox notification acknowledged") ||
					strings.Contains(logs.String(), "sandbox notification given up")
			})
			if got := s.count(); got != tc.wantTries {
				t.Fatalf("got %d tries, want %d", got, tc.wantTries)
			}
		})
	}
}
