package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

func TestSettingsEndpoint(t *testing.T) {
	e := startEmulator(t, Options{})
	url := e.URL() + "/_sandbox/settings"
	a := call(t, "POST", url, nil, `{"clickpesa-webhook":"http://127.0.0.1:1/cp","clickpesa-checksum-key":"topsecret","delay":"5s","token-ttl":"1m","latency":"0s","slow-answer":"2s","azampay-callback":"http://127.0.0.1:1/az","clickpesa-checksum-method":"legacy"}`)
	if a.status != 200 {
		t.Fatalf("POST settings: %d %s", a.status, a.body)
	}
	s := e.Settings()
	want := Settings{ClickPesaWebhook: "http://127.0.0.1:1/cp", ClickPesaChecksumKey: "topsecret", ClickPesaChecksumMethod: "legacy",
		AzamPayCallback: "http://127.0.0.1:1/az", Delay: Duration(5 * time.Second), TokenTTL: Duration(time.Minute),
		SlowAnswer: Duration(2 * time.Second), ClickPesaBalance: DefaultClickPesaBalance}
	if s != want {
		t.Errorf("settings = %+v, want %+v", s, want)
	}
	// A partial update keeps the other settings.
	call(t, "POST", url, nil, `{"delay":"10ms"}`)
	if s := e.Settings(); s.Delay != Duration(10*time.Millisecond) || s.ClickPesaWebhook != want.ClickPesaWebhook {
		t.Errorf("partial update: %+v", s)
	}
	g := call(t, "GET", url, nil, nil)
	m := g.object(t)
	if m["delay"] != "10ms" || m["token-ttl"] != "1m0s" || m["clickpesa-checksum-key"] != "(sensitive value)" {
		t.Errorf("GET settings: %s", g.body)
	}
	if strings.Contains(string(g.body)+string(a.body), "topsecret") {
		t.Error("settings answer shows the checksum key")
	}
	// Posting a GET answer back keeps the key.
	call(t, "POST", url, nil, g.body)
	if s := e.Settings(); s.ClickPesaChecksumKey != "topsecret" {
		t.Errorf("round trip changed the key to %q", s.ClickPesaChecksumKey)
	}
	for _, bad := range []string{`{"delay":"soon"}`, `{"delay":"-1s"}`, `{"nope":1}`, `{"clickpesa-checksum-method":"md5"}`,
		`{"azampay-callback":"ftp://x"}`, `[`} {
		if a := call(t, "POST", url, nil, bad); a.status != 400 {
			t.Errorf("%s: %d %s", bad, a.status, a.body)
		}
	}
	if s := e.Settings(); s.Delay != Duration(10*time.Millisecond) {
		t.Errorf("a rejected update changed settings: %+v", s)
	}
}

func TestRequestsLog(t *testing.T) {
	e := startEmulator(t, Options{})
	call(t, "POST", e.URL()+"/pesapal/api/Auth/RequestToken", nil, `{"consumer_key":"key-canary","consumer_secret":"secret-canary"}`)
	call(t, "POST", e.URL()+"/clickpesa/third-parties/generate-token", map[string]string{"client-id": "cid", "api-key": "apikey-canary"}, nil)
	call(t, "GET", e.URL()+"/pesapal/api/URLSetup/GetIpnList?x=1", map[string]string{"Authorization": "Bearer bearer-canary"}, nil)
	reqs := e.Requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests", len(reqs))
	}
	if r := reqs[2]; r.Method != "GET" || r.Path != "/pesapal/api/URLSetup/GetIpnList" || r.Query != "x=1" || r.Status != 401 ||
		r.Header.Get("Authorization") != "(sensitive value)" {
		t.Errorf("request %+v", r)
	}
	if reqs[1].Header.Get("Client-Id") != "cid" {
		t.Errorf("client-id should stay visible: %v", reqs[1].Header)
	}
	a := call(t, "GET", e.URL()+"/_sandbox/requests?path=/clickpesa", nil, nil)
	var got []Request
	a.decode(t, &got)
	if len(got) != 1 || got[0].Path != "/clickpesa/third-parties/generate-token" {
		t.Errorf("filtered: %s", a.body)
	}
	all := mustJSON(t, reqs) + string(call(t, "GET", e.URL()+"/_sandbox/requests", nil, nil).body)
	for _, canary := range []string{"key-canary", "secret-canary", "apikey-canary", "bearer-canary"} {
		if strings.Contains(all, canary) {
			t.Errorf("request log shows %s", canary)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	e := startEmulator(t, Options{})
	big := `{"consumer_key":"` + strings.Repeat("k", MaxBodyBytes) + `"}`
	if a := call(t, "POST", e.URL()+"/pesapal/api/Auth/RequestToken", nil, big); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", a.status)
	}
}

func TestLatency(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{Latency: Duration(50 * time.Millisecond)}})
	start := time.Now()
	call(t, "POST", e.URL()+"/pesapal/api/Auth/RequestToken", nil, `{"consumer_key":"k","consumer_secret":"s"}`)
	// A lower bound only: latency is added, never subtracted.
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answer after %v, want at least the 50ms latency", d)
	}
}

// TestHandlerWithoutStart: the emulator also serves inside someone else's
// server, and then hands out links to that server.
func TestHandlerWithoutStart(t *testing.T) {
	e, err := New(Options{RSAKey: testKey(t), Settings: Settings{Delay: Duration(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	defer func() { _ = e.Stop(context.Background()) }()
	if e.URL() != "" {
		t.Errorf("URL before Start = %q", e.URL())
	}
	tok := str(call(t, "POST", srv.URL+"/pesapal/api/Auth/RequestToken", nil, `{"consumer_key":"k","consumer_secret":"s"}`).object(t)["token"])
	auth := map[string]string{"Authorization": "Bearer " + tok}
	ipn := str(call(t, "POST", srv.URL+"/pesapal/api/URLSetup/RegisterIPN", auth, map[string]string{"url": "http://127.0.0.1:1/", "ipn_notification_type": "GET"}).object(t)["ipn_id"])
	m := call(t, "POST", srv.URL+"/pesapal/api/Transactions/SubmitOrderRequest", auth, ppOrderBody("A1", ipn, "0712345670")).object(t)
	if !strings.HasPrefix(str(m["redirect_url"]), srv.URL+PesaPalRedirectPath) {
		t.Errorf("redirect_url %v", m["redirect_url"])
	}
	idx := call(t, "GET", srv.URL+"/", nil, nil).object(t)
	if pp, _ := idx["pesapal"].(map[string]any); pp["base_url"] != srv.URL+"/pesapal" {
		t.Errorf("index: %v", idx)
	}
}

// TestStopEndsEverything: pending customers, slow answers and notification
// retries all end on Stop, which is idempotent.
func TestStopEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newSink(t, func(int, received) (int, string) { return 500, "" })
	e, err := New(Options{RSAKey: testKey(t), IPNRetry: []time.Duration{time.Hour},
		Settings: Settings{Delay: Duration(time.Millisecond), SlowAnswer: Duration(time.Hour), ClickPesaWebhook: s.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	tok := str(call(t, "POST", e.URL()+"/clickpesa/third-parties/generate-token", map[string]string{"client-id": "c", "api-key": "k"}, nil).object(t)["token"])
	// One payment whose webhook is refused (a retry waits an hour) ...
	cpPush(t, e, tok, "initiate-ussd-push-request", map[string]any{"amount": "1", "currency": "TZS", "orderReference": "A1", "phoneNumber": "255712345670"})
	testkit.Eventually(t, "first webhook", func() bool { return s.count() == 1 })
	// ... and one slow answer in flight.
	slowDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.URL()+"/clickpesa/third-parties/payments/initiate-ussd-push-request",
			strings.NewReader(`{"amount":"1","currency":"TZS","orderReference":"A2","phoneNumber":"255712345676"}`))
		req.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slowDone <- -1
			return
		}
		resp.Body.Close()
		slowDone <- resp.StatusCode
	}()
	testkit.Eventually(t, "slow payment exists", func() bool {
		return call(t, "GET", e.URL()+"/clickpesa/third-parties/payments/A2", map[string]string{"Authorization": tok}, nil).status == 200
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	<-slowDone
	if err := e.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Stop succeeded")
	}
	http.DefaultClient.CloseIdleConnections()
	testkit.Eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+3 })
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Duration
		wantErr bool
	}{
		{`"2s"`, Duration(2 * time.Second), false},
		{`"1h30m"`, Duration(90 * time.Minute), false},
		{`1000`, Duration(1000), false},
		{`"-1s"`, 0, true},
		{`"soon"`, 0, true},
		{`true`, 0, true},
	}
	for _, tc := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr || (!tc.wantErr && d != tc.want) {
			t.Errorf("%s: got %v, %v", tc.in, d, err)
		}
	}
	b, _ := json.Marshal(Duration(1500 * time.Millisecond))
	if string(b) != `"1.5s"` {
		t.Errorf("marshal: %s", b)
	}
}

func TestOutcomeFor(t *testing.T) {
	tests := map[string]outcome{
		"255712345670": outcomeSuccess, "0712345671": outcomeInsufficent, "+254 712 345 672": outcomeCancelled,
		"2557123456-3": outcomeSilent, "4": outcomeTwice, "5 ": outcomeServerError, "6x": outcomeSlow,
		"7": outcomeSuccess, "9": outcomeSuccess, "": outcomeSuccess, "abc": outcomeSuccess,
	}
	for phone, want := range tests {
		if got := outcomeFor(phone); got != want {
			t.Errorf("outcomeFor(%q) = %d, want %d", phone, got, want)
		}
	}
}

// TestSlowAnswerClientTimesOut is outcome 6 as a client lives it: the
// initiation times out, yet the payment exists and a status query later finds
// it succeeded.
func TestSlowAnswerClientTimesOut(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{SlowAnswer: Duration(time.Hour)}})
	// The client gives up once the emulator has taken the payment (a fixed
	// client timeout could fire, on a loaded machine, before the request
	// even reached it).
	post := func(url string, header map[string]string, body any, taken func() bool) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			defer cancel()
			deadline := time.Now().Add(time.Minute)
			for !taken() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}()
		req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(mustJSON(t, body)))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	t.Run("pesapal", func(t *testing.T) {
		tok := ppToken(t, e)
		ipn := ppRegister(t, e, tok, "http://127.0.0.1:1/", "GET")
		if err := post(e.URL()+"/pesapal/api/Transactions/SubmitOrderRequest", map[string]string{"Authorization": "Bearer " + tok},
			ppOrderBody("SLOW-1", ipn, "0712345676"), func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				return e.pp.byRef["SLOW-1"] != ""
			}); err == nil {
			t.Fatal("slow answer arrived")
		}
		// The merchant never learnt the tracking id (PesaPal has no query by
		// merchant reference); the emulator knows it.
		e.mu.Lock()
		id := e.pp.byRef["SLOW-1"]
		e.mu.Unlock()
		testkit.Eventually(t, "completed", func() bool { _, st := ppStatus(t, e, tok, id); return st["status_code"] == json.Number("1") })
	})
	t.Run("clickpesa", func(t *testing.T) {
		tok := cpTokenFor(t, e)
		if err := post(e.URL()+"/clickpesa/third-parties/payments/initiate-ussd-push-request", map[string]string{"Authorization": tok},
			map[string]any{"amount": "10", "currency": "TZS", "orderReference": "SLOW1", "phoneNumber": "255712345676"}, func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				return e.cp.payments["SLOW1"] != nil
			}); err == nil {
			t.Fatal("slow answer arrived")
		}
		testkit.Eventually(t, "success", func() bool {
			var list []map[string]any
			cpQueryRef(t, e, tok, "SLOW1").decode(t, &list)
			return len(list) == 1 && list[0]["status"] == "SUCCESS"
		})
	})
	t.Run("azampay", func(t *testing.T) {
		tok := azTokenFor(t, e)
		if err := post(e.URL()+"/azampay/azampay/mno/checkout", azHeaders(tok), azCheckoutBody("SLOW-1", "0712345676"), func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.az.byExternal["SLOW-1"] != ""
		}); err == nil {
			t.Fatal("slow answer arrived")
		}
		testkit.Eventually(t, "success", func() bool {
			var st struct {
				Data map[string]any `json:"data"`
			}
			call(t, "GET", e.URL()+"/azampay/azampay/transaction/query?externalId=SLOW-1", azHeaders(tok), nil).decode(t, &st)
			return st.Data["transactionstatus"] == "success"
		})
	})
}

// TestCaseInsensitivePaths: the ASP.NET providers route regardless of case.
func TestCaseInsensitivePaths(t *testing.T) {
	e := startEmulator(t, Options{})
	tests := []struct {
		path string
		want int
	}{
		{"/pesapal/api/auth/requesttoken", 200},
		{"/PESAPAL/API/AUTH/REQUESTTOKEN", 200},
		{"/azampay-auth/appregistration/generatetoken", 200},
		{"/clickpesa/third-parties/GENERATE-TOKEN", 404}, // not ASP.NET
	}
	body := map[string]string{"consumer_key": "k", "consumer_secret": "s", "appName": "a", "clientId": "c", "clientSecret": "s"}
	for _, tc := range tests {
		if a := call(t, "POST", e.URL()+tc.path, map[string]string{"client-id": "c", "api-key": "k"}, body); a.status != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, a.status, tc.want)
		}
	}
	tok := azTokenFor(t, e)
	if a := call(t, "GET", e.URL()+"/azampay/api/v1/partner/getpaymentpartners", azHeaders(tok), nil); a.status != 200 {
		t.Errorf("partners in lower case: %d", a.status)
	}
}
