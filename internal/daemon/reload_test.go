package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// account is one ClickPesa merchant account in front of the emulator: it
// issues tokens only for its own client id, and counts the calls it got.
type account struct {
	srv      *httptest.Server
	clientID string
	mu       sync.Mutex
	calls    []string // "METHOD PATH" of every call it served
	refused  int      // token requests with another account's client id
}

func newAccount(t *testing.T, emu *sandbox.Emulator, clientID string) *account {
	t.Helper()
	a := &account{clientID: clientID}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		if strings.HasSuffix(r.URL.Path, "/generate-token") && r.Header.Get("client-id") != a.clientID {
			a.refused++
			a.mu.Unlock()
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		a.calls = append(a.calls, r.Method+" "+r.URL.Path)
		a.mu.Unlock()
		emu.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// seen returns the calls served so far and the token requests refused.
func (a *account) seen() ([]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...), a.refused
}

// served counts the calls whose path ends with suffix.
func served(calls []string, suffix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasSuffix(c, suffix) {
			n++
		}
	}
	return n
}

type snapshotParams struct {
	baseURL, clientEnv string // the ClickPesa account
	route, path        string // the ClickPesa route
	forward            string
	maxPerPayout       string // payouts limit "TZS"
}

func writeSnapshotConfig(t *testing.T, path, db string, p snapshotParams) {
	t.Helper()
	src := fmt.Sprintf(`
state {
  path = %q
}

server {
  listen     = "127.0.0.1:0"
  public_url = "http://127.0.0.1:1"
}

api {
  listen = "127.0.0.1:0"
  token "ops" {
    value  = env("API_TOKEN")
    scopes = ["payments", "payouts", "events"]
  }
}

provider "clickpesa" "tz" {
  client_id = env(%q)
  api_key   = env("CP_KEY")
  base_url  = %q
}

route %q {
  provider = provider.clickpesa.tz
  path     = %q

  forward {
    url    = %q
    secret = env("WHSEC")
  }
}

payouts {
  limit "TZS" {
    max_per_payout = %q
  }
}
`, db, p.clientEnv, p.baseURL+"/clickpesa", p.route, p.path, p.forward, p.maxPerPayout)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
}

// TestReloadIsOneSnapshot reloads a configuration that moves the ClickPesa
// provider to another account (base URL and credentials) and renames and
// moves its route, the payouts limit changed too, in one go. Every request
// after the reload works with the new configuration and the clients built
// from it: the pay API initiates through the new account, the webhook on
// the new path is confirmed through it and its event goes to the new
// route only, a payout preview follows the new limit and asks the new
// account, a refresh of a payment made before the reload asks the new
// account; the old account is not called again and the old path is gone.
func TestReloadIsOneSnapshot(t *testing.T) {
	emu, err := sandbox.New(sandbox.Options{Settings: sandbox.Settings{Delay: sandbox.Duration(20 * time.Millisecond)}})
	if err != nil {
		t.Fatalf("new emulator: %v", err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Stop(ctx)
	})
	oldAcct, newAcct := newAccount(t, emu, testEnv["CP_CLIENT"]), newAccount(t, emu, testEnv["CP_CLIENT2"])
	oldSink, newSink := newSink(t), newSink(t)

	dir := t.TempDir()
	path, db := filepath.Join(dir, "finconnect.hcl"), filepath.Join(dir, "finconnect.db")
	writeSnapshotConfig(t, path, db, snapshotParams{baseURL: oldAcct.srv.URL, clientEnv: "CP_CLIENT",
		route: "cp", path: "/hooks/cp-old", forward: oldSink.url(), maxPerPayout: "500"})
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	st := teststore.New(t)
	d, err := New(Options{
		Config:    cfg,
		Reload:    func() (*config.Config, error) { return loadFile(path) },
		LookupEnv: func(string) (string, bool) { return "", false },
		OpenStore: func(context.Context, *config.Config, *slog.Logger) (state.Store, error) { return st, nil },
	})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = d.Stop(sctx)
	})
	api := func(method, p string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		if body == nil {
			b = nil
		}
		return do(t, method, "http://"+d.APIAddr()+p, testToken, b)
	}
	pay := func(ref string) string {
		t.Helper()
		code, body := api("POST", "/v1/payments", map[string]any{"provider": "clickpesa.tz", "reference": ref,
			"amount": "1000", "currency": "TZS", "phone": "255712345670"})
		if code != http.StatusCreated {
			t.Fatalf("pay %s: %d %s", ref, code, body)
		}
		var p struct{ ID string }
		_ = json.Unmarshal(body, &p)
		return p.ID
	}
	delivered := func(ref string) func() bool {
		return func() bool {
			for _, e := range st.EventsFor(ref) {
				if e.Type != "payment.succeeded" {
					continue
				}
				ds, err := st.ListDeliveries(ctx, state.EventFilter{Limit: 100})
				if err != nil {
					return false
				}
				for _, dl := range ds {
					if dl.EventID == e.ID && dl.Status == state.DeliveryDelivered {
						return true
					}
				}
			}
			return false
		}
	}
	preview := func(amount string) (int, []byte) {
		return api("POST", "/v1/payouts/preview", map[string]any{"provider": "clickpesa.tz", "reference": "PV" + amount,
			"amount": amount, "currency": "TZS", "destination": map[string]any{"type": "mobile_money", "phone": "0712345670"}})
	}

	// Before the reload: the old account, the old route.
	emu.UpdateSettings(func(s *sandbox.Settings) { s.ClickPesaWebhook = "http://" + d.PublicAddr() + "/hooks/cp-old" })
	before := pay("ORDOLD")
	testkit.Eventually(t, "ORDOLD's event delivered to the old route", delivered("ORDOLD"))
	if code, body := preview("1000"); code != http.StatusUnprocessableEntity {
		t.Fatalf("preview over the old limit: %d %s", code, body)
	}

	writeSnapshotConfig(t, path, db, snapshotParams{baseURL: newAcct.srv.URL, clientEnv: "CP_CLIENT2",
		route: "cp2", path: "/hooks/cp-new", forward: newSink.url(), maxPerPayout: "5000"})
	emu.UpdateSettings(func(s *sandbox.Settings) { s.ClickPesaWebhook = "http://" + d.PublicAddr() + "/hooks/cp-new" })
	if err := d.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	oldCalls, _ := oldAcct.seen()

	// The pay API initiates through the new account; its webhook, on the
	// new path, is confirmed through the new account, and the event goes
	// to the new route only.
	pay("ORDNEW")
	testkit.Eventually(t, "ORDNEW's event delivered", delivered("ORDNEW"))
	evs := st.EventsFor("ORDNEW")
	var evID string
	for _, e := range evs {
		if e.Type == "payment.succeeded" {
			evID = e.ID
		}
	}
	ds, err := st.ListDeliveries(ctx, state.EventFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range ds {
		if dl.EventID == evID && dl.Route != "cp2" {
			t.Errorf("ORDNEW's event has a delivery to route %q, want cp2 only", dl.Route)
		}
	}
	testkit.Eventually(t, "the event at the new forward", func() bool {
		ids, _ := newSink.received()
		return len(ids) == 1 && ids[0] == evID
	})
	if ids, _ := oldSink.received(); len(ids) != 1 {
		t.Errorf("the old forward got %d events, want ORDOLD's only", len(ids))
	}
	ntfs, err := st.PaymentNotifications(ctx, mustPayment(t, st, "ORDNEW").ID)
	if err != nil || len(ntfs) == 0 {
		t.Fatalf("ORDNEW's notifications: %v %v", ntfs, err)
	}
	for _, n := range ntfs {
		if n.Route != "cp2" {
			t.Errorf("notification recorded on route %q, want cp2", n.Route)
		}
	}
	if code, _ := do(t, "POST", "http://"+d.PublicAddr()+"/hooks/cp-old", "", []byte(`{}`)); code != http.StatusNotFound {
		t.Errorf("old path answers %d, want 404", code)
	}

	// Payouts: the new limit, the new account.
	if code, body := preview("1000"); code != http.StatusOK {
		t.Fatalf("preview under the new limit: %d %s", code, body)
	}
	// A payment made before the reload is asked about through the new account.
	if code, body := api("GET", "/v1/payments/"+before+"?refresh=true", nil); code != http.StatusOK {
		t.Fatalf("refresh: %d %s", code, body)
	}

	newCalls, refused := newAcct.seen()
	if now, _ := oldAcct.seen(); len(now) != len(oldCalls) {
		t.Errorf("the old account was called after the reload: %v", now[len(oldCalls):])
	}
	if refused != 0 {
		t.Errorf("the new account refused %d token requests (old credentials)", refused)
	}
	for _, want := range []string{"/generate-token", "/initiate-ussd-push-request", "/preview-mobile-money-payout"} {
		if served(newCalls, want) == 0 {
			t.Errorf("the new account got no %s call; it got %v", want, newCalls)
		}
	}
	if served(newCalls, "/payments/ORDNEW")+served(newCalls, "/payments/ORDOLD") < 2 {
		t.Errorf("the webhook confirmation and the refresh did not ask the new account: %v", newCalls)
	}
}

func mustPayment(t *testing.T, st *teststore.Store, ref string) state.Payment {
	t.Helper()
	p, ok := st.ByRef("clickpesa.tz", ref)
	if !ok {
		t.Fatalf("no payment %s", ref)
	}
	return p
}
