package devmode

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func startEnv(t *testing.T) *Env {
	t.Helper()
	var out bytes.Buffer
	env, err := Start(context.Background(), Options{
		Dir: t.TempDir(), PublicAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", EmulatorAddr: "127.0.0.1:0",
		Delay: 20 * time.Millisecond, SlowAnswer: time.Second, Stdout: &lockedWriter{w: &out},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := os.Stat(env.Dir); !os.IsNotExist(err) {
			t.Errorf("state dir %s left behind", env.Dir)
		}
	})
	return env
}

func TestStartBuildsAValidDevConfig(t *testing.T) {
	t.Parallel()
	env := startEnv(t)
	cfg := env.Config
	if len(cfg.Providers) != 3 || len(cfg.IPNs) != 1 || len(cfg.Routes) != 3 {
		t.Fatalf("config: %d providers, %d ipns, %d routes", len(cfg.Providers), len(cfg.IPNs), len(cfg.Routes))
	}
	for _, id := range []string{"pesapal.ke", "clickpesa.tz", "azampay.tz"} {
		if cfg.Provider(id) == nil {
			t.Errorf("no provider %s", id)
		}
	}
	if got := cfg.IPNs[0].URL; got != env.PublicURL+"/hooks/pesapal" {
		t.Errorf("ipn url %s", got)
	}
	for _, r := range cfg.Routes {
		if r.Forward.URL != env.SinkURL || !strings.HasPrefix(r.Forward.Secret.Reveal(), "whsec_") {
			t.Errorf("route %s forwards to %s", r.Name, r.Forward.URL)
		}
	}
	if len(cfg.API.Tokens) != 1 || cfg.API.Tokens[0].Value.Reveal() != env.APIToken {
		t.Errorf("api token not the banner's")
	} else if got := cfg.API.Tokens[0].Scopes; !slices.Equal(got, config.Scopes()) {
		t.Errorf("dev token scopes %v, want every scope %v", got, config.Scopes())
	}
	if "http://"+cfg.API.Listen != env.APIURL || "http://"+cfg.Server.Listen != env.PublicURL {
		t.Errorf("listen %s %s vs %s %s", cfg.API.Listen, cfg.Server.Listen, env.APIURL, env.PublicURL)
	}
	if cfg.Schedules.SyncPayments != "@every 10s" {
		t.Errorf("sync schedule %q", cfg.Schedules.SyncPayments)
	}
	st := env.Emulator.Settings()
	if st.ClickPesaWebhook != env.PublicURL+"/hooks/clickpesa" || st.AzamPayCallback != env.PublicURL+"/hooks/azampay" {
		t.Errorf("emulator settings %+v", st)
	}
	cp := cfg.Provider("clickpesa.tz").ClickPesa
	if st.ClickPesaChecksumKey == "" || cp.ChecksumKey.Reveal() != st.ClickPesaChecksumKey {
		t.Errorf("checksum key differs between config and emulator")
	}
	// No secret in the HCL text.
	for _, s := range []string{env.APIToken, cfg.Routes[0].Forward.Secret.Reveal(), st.ClickPesaChecksumKey} {
		if bytes.Contains(env.Source, []byte(s)) {
			t.Errorf("dev config source contains a secret")
		}
	}
}

func TestDevProvidersWorkAgainstTheEmulator(t *testing.T) {
	t.Parallel()
	env := startEnv(t)
	set, err := clients.New(env.Config, clients.Options{})
	if err != nil {
		t.Fatalf("clients: %v", err)
	}
	ctx := context.Background()
	if _, err := set.PesaPal("pesapal.ke").RegisterIPN(ctx, env.Config.IPNs[0].URL, "POST"); err != nil {
		t.Fatalf("register ipn: %v", err)
	}
	for _, d := range DemoPayments()[:2] { // clickpesa (checksummed) and azampay
		payer, _ := set.Payer(d.Provider)
		res, err := payer.InitiatePayment(ctx, providers.PaymentRequest{Reference: d.Reference, Amount: d.Amount, Currency: d.Currency, Phone: d.Phone, MNO: "Tigo"})
		if err != nil {
			t.Fatalf("%s initiate: %v", d.Provider, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := payer.QueryPayment(ctx, providers.PaymentQuery{Reference: d.Reference, ProviderReference: res.ProviderReference, MNO: "Tigo"})
			if err == nil && st.Status == providers.StatusSucceeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not succeeded: %+v %v", d.Provider, st, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestBanner(t *testing.T) {
	t.Parallel()
	env := startEnv(t)
	b := env.Banner()
	export := "export API=" + env.APIURL + " TOKEN=" + env.APIToken
	for _, want := range []string{"\n  " + export + "\n", `"$API/v1/payments"`, `Authorization: Bearer $TOKEN`,
		`"provider":"clickpesa.tz"`, `"provider":"azampay.tz"`, `"provider":"pesapal.ke"`, `"phone":"255712345670"`, env.SinkURL,
		env.Emulator.URL() + "/_sandbox/requests", "finconnectd payments list -dev", "finconnectd events list -dev"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "Note:") {
		t.Errorf("banner has a note though every address was free:\n%s", b)
	}
}

// TestEmulatorAddress: the emulator listens where asked; unasked, on
// DefaultEmulatorAddr, or on a free port with a note in the banner when
// that is taken.
func TestEmulatorAddress(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, addr string) (*Env, error) {
		t.Helper()
		env, err := Start(context.Background(), Options{Dir: t.TempDir(), PublicAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", EmulatorAddr: addr})
		if err == nil {
			t.Cleanup(func() { _ = env.Close(context.Background()) })
		}
		return env, err
	}
	t.Run("asked", func(t *testing.T) {
		addr := testkit.FreeAddr(t)
		env, err := start(t, addr)
		if err != nil {
			t.Fatal(err)
		}
		if env.Emulator.URL() != "http://"+addr || len(env.Notes) != 0 {
			t.Fatalf("emulator at %s (notes %q), want %s", env.Emulator.URL(), env.Notes, addr)
		}
	})
	t.Run("asked but taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if _, err := start(t, ln.Addr().String()); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
			t.Fatalf("err = %v, want one naming %s", err, ln.Addr())
		}
	})
	t.Run("default taken", func(t *testing.T) {
		// Hold the default port (or find it held by someone else).
		if ln, err := net.Listen("tcp", DefaultEmulatorAddr); err == nil {
			defer ln.Close()
		}
		env, err := start(t, "")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimPrefix(env.Emulator.URL(), "http://")
		want := DefaultEmulatorAddr + " is in use, so the emulator listens on " + got + " instead."
		if got == DefaultEmulatorAddr || !strings.Contains(env.Banner(), "Note: "+want) {
			t.Fatalf("emulator at %s; banner:\n%s", got, env.Banner())
		}
	})
}

// TestRecordFile: while an Env runs, CurrentStore finds its store through
// the record file; Close removes the record, and a record replaced by a
// later Env is left alone.
func TestRecordFile(t *testing.T) {
	t.Parallel()
	rec := filepath.Join(t.TempDir(), "cache", "finconnectd", "dev-state")
	if _, err := CurrentStore(rec); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("before start: %v, want ErrNotRunning", err)
	}
	open := func() *Env {
		env, err := Start(context.Background(), Options{Dir: t.TempDir(), RecordFile: rec,
			PublicAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", EmulatorAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	a := open()
	// The daemon creates the store; here an empty file stands for it.
	if err := os.WriteFile(a.Config.State.Path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := CurrentStore(rec); err != nil || got != a.Config.State.Path {
		t.Fatalf("CurrentStore = %q, %v; want %s", got, err, a.Config.State.Path)
	}
	b := open()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(rec); strings.TrimSpace(string(got)) != b.Config.State.Path {
		t.Fatalf("closing the first env changed the second's record: %q", got)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Fatalf("record left after Close: %v", err)
	}
	if got := RecordFile(func(k string) (string, bool) { return map[string]string{"HOME": "/home/u"}[k], true }); runtime.GOOS == "linux" && got != "/home/u/.cache/finconnectd/dev-state" {
		t.Errorf("RecordFile = %q", got)
	}
}

// TestSinkReportsEachEventOnce: with a Stdout the event is one stdout line
// and no info log line; without one, one info log line.
func TestSinkReportsEachEventOnce(t *testing.T) {
	t.Parallel()
	secret := "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	key, err := delivery.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"payment.succeeded","data":{"payment_id":"pay_x","provider":"clickpesa.tz","reference":"R1","status":"succeeded"}}`)
	for _, withStdout := range []bool{true, false} {
		t.Run(fmt.Sprint("stdout=", withStdout), func(t *testing.T) {
			var logs, out bytes.Buffer
			o := SinkOptions{Secret: secret, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
			if withStdout {
				o.Stdout = &out
			}
			s, err := NewSink(o)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			req := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(body))
			req.Header.Set("webhook-id", "evt_1")
			req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
			req.Header.Set("webhook-signature", delivery.Sign(key, "evt_1", now, body))
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status %d", rec.Code)
			}
			n := strings.Count(out.String(), "pay_x") + strings.Count(logs.String(), "pay_x")
			if n != 1 {
				t.Fatalf("event reported %d times:\nstdout: %s\nlog: %s", n, out.String(), logs.String())
			}
		})
	}
}

func TestSinkVerifiesSignatures(t *testing.T) {
	t.Parallel()
	env := startEnv(t)
	key, err := delivery.DecodeSecret(env.Config.Routes[0].Forward.Secret.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"payment.succeeded","timestamp":"2026-11-22T10:00:00Z","data":{"payment_id":"pay_x","provider":"clickpesa.tz","reference":"R1","status":"succeeded"}}`)
	now := time.Now()
	cases := []struct {
		name   string
		sig    string
		ts     time.Time
		body   []byte
		status int
	}{
		{"valid", delivery.Sign(key, "evt_1", now, body), now, body, http.StatusNoContent},
		{"several signatures, one valid", "v1,AAAA " + delivery.Sign(key, "evt_1", now, body), now, body, http.StatusNoContent},
		{"wrong key", delivery.Sign([]byte("other"), "evt_1", now, body), now, body, http.StatusUnauthorized},
		{"tampered body", delivery.Sign(key, "evt_1", now, body), now, append([]byte(" "), body...), http.StatusUnauthorized},
		{"stale", delivery.Sign(key, "evt_1", now.Add(-time.Hour), body), now.Add(-time.Hour), body, http.StatusUnauthorized},
		{"missing", "", now, body, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.SinkURL, bytes.NewReader(c.body))
			req.Header.Set("webhook-id", "evt_1")
			req.Header.Set("webhook-timestamp", fmt.Sprint(c.ts.Unix()))
			if c.sig != "" {
				req.Header.Set("webhook-signature", c.sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
	evs := env.Events()
	if len(evs) != 2 || evs[0].Type != "payment.succeeded" || evs[0].PaymentID != "pay_x" || evs[0].Reference != "R1" {
		t.Fatalf("events %+v", evs)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSourceQuotesPaths(t *testing.T) {
	t.Parallel()
	odd := t.TempDir() + `/we"ird ${x} %{y} \dir/finconnect.db`
	src := Source(SourceParams{StatePath: odd, PublicListen: "127.0.0.1:18080", APIListen: "127.0.0.1:18081",
		EmulatorURL: "http://127.0.0.1:19999", SinkURL: "http://127.0.0.1:19998/events", SyncEvery: 10 * time.Second})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FINCONNECT_DEV_WEBHOOK_SECRET": "whsec_ZGV2",
		"FINCONNECT_DEV_AZAMPAY_DISBURSEMENT_KEY": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	cfg, diags := config.NewLoader(func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return "x", true
	}).LoadSource("dev.hcl", []byte(src), t.TempDir())
	if diags.HasErrors() {
		t.Fatalf("load: %v\n%s", diags, src)
	}
	if cfg.State.Path != odd {
		t.Fatalf("state path %q, want %q", cfg.State.Path, odd)
	}
}
