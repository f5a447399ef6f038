package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/openapi/openapitest"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

const (
	testToken   = "test-api-token-1"
	testToken2  = "test-api-token-2"
	checksumKey = "daemon-test-checksum-key"
)

var testEnv = map[string]string{
	"API_TOKEN":   testToken,
	"API_TOKEN2":  testToken2,
	"CP_CLIENT":   "client",
	"CP_CLIENT2":  "client-2",
	"CP_KEY":      "key",
	"CP_CHECKSUM": checksumKey,
	"WHSEC":       "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
}

func lookup(k string) (string, bool) { v, ok := testEnv[k]; return v, ok && v != "" }

type cfgParams struct {
	api    string // api.listen
	path   string // the ClickPesa route's path
	tokens string // HCL list
	// forward is the route's forward URL (default: nowhere, 127.0.0.1:1).
	forward string
}

func writeConfig(t testing.TB, dir string, p cfgParams) string {
	t.Helper()
	if p.api == "" {
		p.api = "127.0.0.1:0"
	}
	if p.path == "" {
		p.path = "/hooks/clickpesa"
	}
	if p.tokens == "" {
		p.tokens = `[env("API_TOKEN")]`
	}
	if p.forward == "" {
		p.forward = "http://127.0.0.1:1/events"
	}
	src := fmt.Sprintf(`
state {
  path = %q
}

server {
  listen = "127.0.0.1:0"
}

api {
  listen = %q
  tokens = %s
}

provider "clickpesa" "tz" {
  client_id    = env("CP_CLIENT")
  api_key      = env("CP_KEY")
  checksum_key = env("CP_CHECKSUM")
  base_url     = "http://127.0.0.1:1/clickpesa"
}

route "cp" {
  provider = provider.clickpesa.tz
  path     = %q

  forward {
    url    = %q
    secret = env("WHSEC")
  }
}

schedule "reconcile" {
  cron = "@every 1h"
}

schedule "refresh_keys" {
  cron = "@every 1h"
}

schedule "sync_payments" {
  cron = "@every 1h"
}
`, filepath.Join(dir, "finconnect.db"), p.api, p.tokens, p.path, p.forward)
	path := filepath.Join(dir, "finconnect.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

func loadFile(path string) (*config.Config, error) {
	l := config.NewLoader(lookup)
	cfg, diags := l.Load(path)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = l.WriteDiagnostics(&b, diags, 78, false)
		return nil, fmt.Errorf("%s", b.String())
	}
	return cfg, nil
}

// sink is an operator's endpoint: it verifies each delivery's Standard
// Webhooks signature (rejecting bad ones with 401) and records the
// webhook-ids it accepted.
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids []string
	bad int
}

func newSink(t testing.TB) *sink {
	t.Helper()
	key, err := delivery.DecodeSecret(testEnv["WHSEC"])
	if err != nil {
		t.Fatalf("decode test webhook secret: %v", err)
	}
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		id := r.Header.Get("webhook-id")
		err := delivery.Verify(key, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now(), time.Minute)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		s.ids = append(s.ids, id)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) url() string { return s.srv.URL + "/events" }

// received returns the webhook-ids accepted so far and the number of
// deliveries rejected for their signature.
func (s *sink) received() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...), s.bad
}

type syncBuffer = testkit.SyncBuffer

// running is a daemon serving in the background.
type running struct {
	t      testing.TB
	d      *Daemon
	store  *teststore.Store
	sink   *sink
	logs   *syncBuffer
	cfg    string
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error
}

type runOptions struct {
	cfg       cfgParams
	lookupEnv func(string) (string, bool)
	// shutdownTimeout bounds the drain at stop (default 5 s).
	shutdownTimeout time.Duration
}

func startDaemon(t testing.TB, o runOptions) *running {
	t.Helper()
	dir := t.TempDir()
	snk := newSink(t)
	if o.cfg.forward == "" {
		o.cfg.forward = snk.url()
	}
	path := writeConfig(t, dir, o.cfg)
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	r := &running{t: t, store: teststore.New(t), sink: snk, logs: &syncBuffer{}, cfg: path,
		reload: make(chan struct{}), done: make(chan error, 1)}
	if o.lookupEnv == nil {
		o.lookupEnv = func(string) (string, bool) { return "", false }
	}
	if o.shutdownTimeout == 0 {
		o.shutdownTimeout = 5 * time.Second
	}
	d, err := New(Options{
		Config:          cfg,
		Reload:          func() (*config.Config, error) { return loadFile(path) },
		Logger:          slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LookupEnv:       o.lookupEnv,
		OpenStore:       func(context.Context, *config.Config, *slog.Logger) (state.Store, error) { return r.store, nil },
		ShutdownTimeout: o.shutdownTimeout,
	})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if err := d.Start(ctx); err != nil {
		cancel()
		t.Fatalf("start: %v", err)
	}
	go func() {
		// Run's loop without Start: reuse the started daemon.
		for {
			select {
			case <-ctx.Done():
				sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
				r.done <- d.Stop(sctx)
				c()
				return
			case <-r.reload:
				_ = d.Reload(ctx)
			}
		}
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) stop() error {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		r.t.Fatalf("daemon did not stop")
		return nil
	}
}

func (r *running) public(path string) string { return "http://" + r.d.PublicAddr() + path }
func (r *running) api(path string) string    { return "http://" + r.d.APIAddr() + path }

func do(t testing.TB, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: openapitest.Transport(t, nil)}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b
}

// seed stores pending ClickPesa payments of amount TZS: a signed webhook
// is proof only about a payment the store holds.
func (r *running) seed(amount string, refs ...string) {
	for _, ref := range refs {
		r.store.Put(state.Payment{Provider: "clickpesa.tz", Reference: ref, Status: state.StatusPending, Amount: amount, Currency: "TZS"})
	}
}

func signedWebhook(t testing.TB, ref, status, amount string) []byte {
	t.Helper()
	m := map[string]any{"event": "PAYMENT RECEIVED", "data": map[string]any{
		"id": "CP" + ref, "status": status, "orderReference": ref, "collectedAmount": amount, "collectedCurrency": "TZS",
		"customer": map[string]any{"customerPhoneNumber": "255712345678"}}}
	b, _ := json.Marshal(m)
	sum, err := clickpesa.Checksum("canonical", []byte(checksumKey), b)
	if err != nil {
		t.Fatalf("checksum: %v", err)
	}
	m["checksum"] = sum
	b, _ = json.Marshal(m)
	return b
}

func TestServe(t *testing.T) {
	r := startDaemon(t, runOptions{})
	r.seed("1000", "ORD1", "ORD2", "ORD3", "ORD4")
	tests := []struct {
		name, method, url, token string
		body                     []byte
		want                     int
		contains                 string
	}{
		{"healthz open", "GET", r.api("/healthz"), "", nil, 200, `"ok"`},
		{"readyz open", "GET", r.api("/readyz"), "", nil, 200, `"ready"`},
		{"pay API needs a token", "GET", r.api("/v1/payments"), "", nil, 401, "Bearer"},
		{"wrong token", "GET", r.api("/v1/payments"), "nope", nil, 401, ""},
		{"pay API with token", "GET", r.api("/v1/payments"), testToken, nil, 200, ""},
		{"webhook accepted", "POST", r.public("/hooks/clickpesa"), "", signedWebhook(t, "ORD1", "SUCCESS", "1000"), 200, "received"},
		{"duplicate acked", "POST", r.public("/hooks/clickpesa"), "", signedWebhook(t, "ORD1", "SUCCESS", "1000"), 200, "received"},
		{"forged", "POST", r.public("/hooks/clickpesa"), "", bytes.Replace(signedWebhook(t, "ORD2", "SUCCESS", "1000"), []byte("ORD2"), []byte("ORD3"), 1), 401, ""},
		{"api not on public listener", "GET", r.public("/healthz"), "", nil, 404, ""},
		{"webhooks not on api listener", "POST", r.api("/hooks/clickpesa"), "", signedWebhook(t, "ORD4", "SUCCESS", "1"), 404, ""},
		{"metrics open", "GET", r.api("/metrics"), "", nil, 200, `finconnectd_webhooks_rejected_total{reason="bad_signature",route="cp"} 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, tc.url, tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("code = %d (%s), want %d", code, body, tc.want)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Fatalf("body does not contain %q:\n%.2000s", tc.contains, body)
			}
		})
	}
	if n := len(r.store.EventsFor("ORD1")); n != 1 {
		t.Fatalf("events for ORD1 = %d, want 1", n)
	}
	if r.store.EventCount() != 1 {
		t.Fatalf("events = %d, want 1", r.store.EventCount())
	}
	ev := r.store.EventsFor("ORD1")[0]
	testkit.Eventually(t, "the event at the sink", func() bool {
		ids, _ := r.sink.received()
		return len(ids) == 1 && ids[0] == ev.ID
	})
	// The sink has answered; the attempt is recorded just after.
	testkit.Eventually(t, "the delivery recorded as delivered at the first attempt", func() bool {
		d, err := r.store.ListDeliveries(context.Background(), state.EventFilter{Route: "cp"})
		return err == nil && len(d) == 1 && d[0].Status == state.DeliveryDelivered && d[0].Attempts == 1
	})
	for _, s := range []string{"finconnectd_webhooks_received_total", "go_goroutines", "process_open_fds", "finconnectd_up 1"} {
		if _, body := do(t, "GET", r.api("/metrics"), "", nil); !strings.Contains(string(body), s) {
			t.Errorf("metrics lack %s", s)
		}
	}
	// The store's commits are counted: the notification, its delivery's
	// record and more, each write once.
	_, body := do(t, "GET", r.api("/metrics"), "", nil)
	commits, writes := metricValue(t, body, "finconnectd_store_commit_duration_seconds_count"), metricValue(t, body, "finconnectd_store_committed_writes_total")
	if commits < 1 || writes < commits {
		t.Errorf("store commits %v carrying %v writes, want at least one commit and a write per commit", commits, writes)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !r.store.Closed() {
		t.Fatalf("store not closed at stop")
	}
	if !strings.Contains(r.logs.String(), "event delivery stopped") {
		t.Fatalf("event delivery not stopped at stop")
	}
	if _, bad := r.sink.received(); bad != 0 {
		t.Fatalf("the sink rejected %d signatures", bad)
	}
	for _, secret := range []string{testToken, checksumKey, "255712345678"} {
		if strings.Contains(r.logs.String(), secret) {
			t.Fatalf("logs contain %q", secret)
		}
	}
}

func TestReadyzWhenStoreDown(t *testing.T) {
	r := startDaemon(t, runOptions{})
	r.store.SetPingErr(fmt.Errorf("disk gone"))
	if code, body := do(t, "GET", r.api("/readyz"), "", nil); code != 503 || !strings.Contains(string(body), "unreachable") {
		t.Fatalf("readyz = %d %s, want 503", code, body)
	}
}

func TestReload(t *testing.T) {
	r := startDaemon(t, runOptions{})
	r.seed("5", "R1", "R2", "R3")
	dir := filepath.Dir(r.cfg)

	// A good config: the route moves, its forward moves to another sink, a
	// second token is accepted.
	sink2 := newSink(t)
	writeConfig(t, dir, cfgParams{path: "/hooks/cp-v2", tokens: `[env("API_TOKEN"), env("API_TOKEN2")]`, forward: sink2.url()})
	r.reload <- struct{}{}
	testkit.Eventually(t, "the new route", func() bool {
		code, _ := do(t, "POST", r.public("/hooks/cp-v2"), "", signedWebhook(t, "R1", "SUCCESS", "5"))
		return code == 200
	})
	if code, _ := do(t, "POST", r.public("/hooks/clickpesa"), "", signedWebhook(t, "R2", "SUCCESS", "5")); code != 404 {
		t.Fatalf("old path still served: %d", code)
	}
	if code, _ := do(t, "GET", r.api("/v1/payments"), testToken2, nil); code != 200 {
		t.Fatalf("new token: %d", code)
	}
	// Delivery follows the reloaded route: R1's event goes to the new sink.
	r1 := r.store.EventsFor("R1")
	if len(r1) != 1 {
		t.Fatalf("events for R1 = %d, want 1", len(r1))
	}
	testkit.Eventually(t, "R1's event at the new forward", func() bool {
		ids, _ := sink2.received()
		return len(ids) == 1 && ids[0] == r1[0].ID
	})
	if ids, _ := r.sink.received(); len(ids) != 0 {
		t.Fatalf("the old forward got %v after the reload", ids)
	}

	// A bad config: kept running the previous one, the diagnostics logged.
	if err := os.WriteFile(r.cfg, []byte("route \"x\" {\n  provider = provider.nope.nope\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.reload <- struct{}{}
	testkit.Eventually(t, "the failed reload to be logged", func() bool {
		return strings.Contains(r.logs.String(), "config reload failed")
	})
	if code, _ := do(t, "POST", r.public("/hooks/cp-v2"), "", signedWebhook(t, "R3", "SUCCESS", "5")); code != 200 {
		t.Fatalf("after a bad reload the running route answers %d", code)
	}
	if code, _ := do(t, "GET", r.api("/v1/payments"), testToken2, nil); code != 200 {
		t.Fatalf("after a bad reload the token answers %d", code)
	}
	if _, body := do(t, "GET", r.api("/metrics"), "", nil); !strings.Contains(string(body), `finconnectd_config_reloads_total{outcome="error"} 1`) ||
		!strings.Contains(string(body), `finconnectd_config_reloads_total{outcome="ok"} 1`) {
		t.Fatalf("reload metrics wrong:\n%s", grep(string(body), "reloads"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestSystemdNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(map[bool]string{false: "path", true: "abstract"}[abstract], func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "notify.sock")
			env := name
			addr := &net.UnixAddr{Name: name, Net: "unixgram"}
			if abstract {
				tag := fmt.Sprintf("finconnectd-test-%d-%d", os.Getpid(), time.Now().UnixNano())
				env, addr = "@"+tag, &net.UnixAddr{Name: "\x00" + tag, Net: "unixgram"}
			}
			conn, err := net.ListenUnixgram("unixgram", addr)
			if err != nil {
				t.Fatalf("listen unixgram: %v", err)
			}
			defer conn.Close()
			got := make(chan string, 100)
			go func() {
				buf := make([]byte, 4096)
				for {
					n, _, err := conn.ReadFromUnix(buf)
					if err != nil {
						close(got)
						return
					}
					got <- string(buf[:n])
				}
			}()
			r := startDaemon(t, runOptions{lookupEnv: func(k string) (string, bool) {
				switch k {
				case "NOTIFY_SOCKET":
					return env, true
				case "WATCHDOG_USEC":
					return "100000", true // ping every 50 ms
				}
				return "", false
			}})
			expect := func(want string) {
				t.Helper()
				deadline := time.After(10 * time.Second)
				for {
					select {
					case msg := <-got:
						if strings.Contains(msg, want) {
							return
						}
					case <-deadline:
						t.Fatalf("no %s datagram", want)
					}
				}
			}
			expect("READY=1")
			expect("WATCHDOG=1")
			if err := r.stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			expect("STOPPING=1")
		})
	}
}

func TestUnixSocketAPI(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	r := startDaemon(t, runOptions{cfg: cfgParams{api: "unix:" + sock}})
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://finconnectd/healthz")
	if err != nil {
		t.Fatalf("healthz over the socket: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v (%v), want 0660", fi.Mode(), err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestStartFailsCleanlyWhenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := writeConfig(t, t.TempDir(), cfgParams{api: ln.Addr().String()})
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := teststore.New(t)
	logs := &syncBuffer{}
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		OpenStore: func(context.Context, *config.Config, *slog.Logger) (state.Store, error) { return st, nil }})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "api.listen") {
		t.Fatalf("err = %v, want a listen error naming api.listen", err)
	}
	if !st.Closed() {
		t.Fatalf("store left open after a failed start")
	}
	checkStartFailureLog(t, logs.String(), "api.listen")
}

// TestStartFailsWhenStoreWillNotOpen: the opener's error is the first
// thing logged, with nothing about stopping before it.
func TestStartFailsWhenStoreWillNotOpen(t *testing.T) {
	path := writeConfig(t, t.TempDir(), cfgParams{})
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		OpenStore: func(context.Context, *config.Config, *slog.Logger) (state.Store, error) {
			return nil, errors.New("sqlite: open state store /nowhere/state.db: directory /nowhere does not exist; create it first")
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "/nowhere") {
		t.Fatalf("err = %v, want the opener's error", err)
	}
	checkStartFailureLog(t, logs.String(), "/nowhere does not exist")
}

// checkStartFailureLog: the first line logged at info or above is the
// error naming cause; the clean-up after it says nothing at info.
func checkStartFailureLog(t *testing.T, logs, cause string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], `"level":"ERROR"`) || !strings.Contains(lines[0], cause) {
		t.Fatalf("first log line %q; want the error naming %q\n%s", lines[0], cause, logs)
	}
	for _, l := range lines {
		if strings.Contains(l, "stopping:") || strings.Contains(l, `"msg":"stopped"`) {
			t.Errorf("a failed start logs its clean-up at info: %s", l)
		}
	}
}

func TestGracefulShutdownUnderLoad(t *testing.T) {
	r := startDaemon(t, runOptions{})
	const workers, per = 8, 25
	for w := range workers {
		for i := range per {
			r.seed("10", fmt.Sprintf("L%d-%d", w, i))
		}
	}
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	started := make(chan struct{})
	var once sync.Once
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for i := range per {
				ref := fmt.Sprintf("L%d-%d", w, i)
				resp, err := c.Post(r.public("/hooks/clickpesa"), "application/json", bytes.NewReader(signedWebhook(t, ref, "SUCCESS", "10")))
				if err != nil {
					return // the listener closed: stop
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, ref)
					mu.Unlock()
					once.Do(func() { close(started) })
				}
			}
		}()
	}
	<-started
	if err := r.stop(); err != nil {
		t.Fatalf("stop under load: %v", err)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatalf("nothing acked")
	}
	for _, ref := range acked {
		if n := len(r.store.EventsFor(ref)); n != 1 {
			t.Fatalf("acked %s has %d events, want 1", ref, n)
		}
	}
	t.Logf("%d notifications acked before the stop, all recorded", len(acked))
}

// TestStopClosesUnusedConnections: a connection that was opened but never
// sent a request (HTTP clients leave these behind) must not hold the drain:
// http.Server.Shutdown alone waits five seconds for one, longer than this
// test's drain bound, and Stop would fail with a deadline error.
func TestStopClosesUnusedConnections(t *testing.T) {
	r := startDaemon(t, runOptions{shutdownTimeout: 2 * time.Second})
	var open []net.Conn
	for _, addr := range []string{r.d.PublicAddr(), r.d.APIAddr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer c.Close()
		open = append(open, c)
	}
	// Wait until both servers have accepted their connection (a request
	// on a fresh connection is served after it in accept order).
	for _, u := range []string{r.api("/healthz"), r.public("/nope")} {
		if code, _ := do(t, "GET", u, "", nil); code == 0 {
			t.Fatalf("GET %s failed", u)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop with unused connections open: %v", err)
	}
	for _, c := range open {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("unused connection still open after stop (read %d bytes)", n)
		}
	}
}

// metricValue is the value of the unlabelled series name in a /metrics body.
func metricValue(t *testing.T, body []byte, name string) float64 {
	t.Helper()
	for line := range strings.Lines(string(body)) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		return f
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}
