package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// startEmulator runs the provider emulator on loopback for one test.
func startEmulator(tb testing.TB) *sandbox.Emulator {
	tb.Helper()
	e, err := sandbox.New(sandbox.Options{})
	if err != nil {
		tb.Fatalf("sandbox.New: %v", err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("sandbox start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

// countCalls counts emulator requests whose path ends with suffix.
func countCalls(e *sandbox.Emulator, suffix string) int {
	n := 0
	for _, r := range e.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// testConfig is a configuration with one PesaPal and (optionally) one
// AzamPay provider pointing at the emulator, and the given ipn blocks.
func testConfig(base string, azampay bool, ipns ...*config.IPN) *config.Config {
	cfg := &config.Config{Providers: []*config.Provider{{
		Kind: "pesapal", Name: "ke", Environment: "sandbox",
		PesaPal: &config.PesaPalConfig{ConsumerKey: secret.New("ck-canary-123"), ConsumerSecret: secret.New("cs-canary-456"), BaseURL: base + "/pesapal"},
	}}}
	if azampay {
		cfg.Providers = append(cfg.Providers, &config.Provider{
			Kind: "azampay", Name: "tz", Environment: "sandbox",
			AzamPay: &config.AzamPayConfig{AppName: "shop", ClientID: secret.New("cid"), ClientSecret: secret.New("csecret-canary"), APIKey: secret.New("apikey"),
				AuthURL: base + "/azampay-auth", BaseURL: base + "/azampay", PublicKeyURL: base + "/azampay/azampay/v1/public-key?format=Pem"},
		})
	}
	for _, i := range ipns {
		if i.Provider == "" {
			i.Provider = "pesapal.ke"
		}
		if i.NotificationType == "" {
			i.NotificationType = "POST"
		}
	}
	cfg.IPNs = ipns
	return cfg
}

func ipn(name, url string) *config.IPN { return &config.IPN{Name: name, URL: url} }

// newClientRemote builds the real provider clients for cfg.
func newClientRemote(tb testing.TB, cfg *config.Config) Remote {
	tb.Helper()
	set, err := clients.New(cfg, clients.Options{})
	if err != nil {
		tb.Fatalf("clients.New: %v", err)
	}
	return NewRemote(set)
}
