package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/devmode"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestDevModeEndToEnd runs the daemon on the dev environment (emulator,
// dev config) with the SQLite store: reconcile at start registers the
// IPN and records the AzamPay key, then one payment per provider started
// through the pay API is notified by the emulator (IPN, checksummed
// webhook, signed callback), verified, and queued as exactly one
// payment.succeeded event for its route, which delivery brings to the dev
// sink with a signature the sink verifies.
func TestDevModeEndToEnd(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := devmode.Start(ctx, devmode.Options{Logger: log, Dir: t.TempDir(),
		PublicAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Delay: 20 * time.Millisecond, SlowAnswer: time.Second, SyncEvery: time.Hour})
	if err != nil {
		t.Fatalf("devmode: %v", err)
	}
	t.Cleanup(func() {
		cctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = env.Close(cctx)
	})
	st := teststore.New(t)
	stdout := &syncBuffer{}
	d, err := New(Options{
		Config: env.Config, Logger: log, Stdout: stdout, ApplyAtStart: true, Banner: env.Banner(),
		LookupEnv: func(string) (string, bool) { return "", false },
		OpenStore: func(context.Context, *config.Config, *slog.Logger) (state.Store, error) { return st, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	testkit.Eventually(t, "the API to answer", func() bool {
		return d.APIAddr() != "" && strings.Contains(stdout.String(), "dev mode")
	})
	if _, err := st.Resource(ctx, "ipn.orders"); err != nil {
		t.Fatalf("ipn not applied at start: %v\n%s", err, logs.String())
	}
	if _, err := st.Resource(ctx, "key.azampay.tz"); err != nil {
		t.Fatalf("azampay key not recorded at start: %v", err)
	}
	for _, p := range devmode.DemoPayments() {
		code, body := do(t, "POST", "http://"+d.APIAddr()+"/v1/payments", env.APIToken, []byte(p.Body()))
		if code != 201 && code != 200 && code != 202 {
			t.Fatalf("%s: pay API answered %d: %s", p.Provider, code, body)
		}
	}
	for _, p := range devmode.DemoPayments() {
		testkit.Eventually(t, p.Provider+" payment.succeeded", func() bool {
			evs := st.EventsFor(p.Reference)
			for _, e := range evs {
				if e.Type == "payment.succeeded" {
					return true
				}
			}
			return false
		})
		var succeeded int
		for _, e := range st.EventsFor(p.Reference) {
			if e.Type == "payment.succeeded" {
				succeeded++
				var body struct {
					Data struct {
						Status, Amount, Provider string
					} `json:"data"`
				}
				if err := json.Unmarshal(e.Payload, &body); err != nil || body.Data.Status != "succeeded" || body.Data.Provider != p.Provider {
					t.Fatalf("%s event body %s (%v)", p.Provider, e.Payload, err)
				}
			}
		}
		if succeeded != 1 {
			t.Fatalf("%s: %d payment.succeeded events, want 1", p.Provider, succeeded)
		}
	}
	// Every event reaches the dev sink, which verifies its Standard
	// Webhooks signature before it logs it.
	testkit.Eventually(t, "every delivery delivered", func() bool {
		dl, err := st.ListDeliveries(ctx, state.EventFilter{Limit: 1000})
		if err != nil || len(dl) < len(devmode.DemoPayments()) {
			return false
		}
		for _, d := range dl {
			if d.Status != state.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	for _, e := range st.Events() {
		if !strings.Contains(logs.String(), e.ID) {
			t.Errorf("event %s was not logged by the sink", e.ID)
		}
	}
	if n := strings.Count(logs.String(), "received event, signature verified"); n < len(st.Events()) {
		t.Errorf("sink verified %d events, want %d", n, len(st.Events()))
	}
	if strings.Contains(logs.String(), "signature not verified") {
		t.Errorf("the sink rejected a signature:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"webhook"`) || !strings.Contains(logs.String(), "reconcile: ") {
		t.Fatalf("expected webhook and reconcile log lines")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop")
	}
	_, _ = io.Discard.Write(nil)
}
