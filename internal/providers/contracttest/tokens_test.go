package contracttest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// tokenCase is one provider's read operation and token endpoint, with the
// client built on the given clocks.
type tokenCase struct {
	name      string
	tokenPath string
	build     func(t *testing.T, e *sandbox.Emulator, now func() time.Time) func(ctx context.Context) error
}

func tokenCases() []tokenCase {
	return []tokenCase{
		{"pesapal", "/pesapal/api/Auth/RequestToken", func(t *testing.T, e *sandbox.Emulator, now func() time.Time) func(context.Context) error {
			c := newPesaPal(t, e, func(o *pesapal.Options) { o.Now = now })
			return func(ctx context.Context) error { _, err := c.GetIPNList(ctx); return err }
		}},
		{"clickpesa", "/clickpesa/third-parties/generate-token", func(t *testing.T, e *sandbox.Emulator, now func() time.Time) func(context.Context) error {
			c := newClickPesa(t, e, func(o *clickpesa.Options) { o.Now = now })
			return func(ctx context.Context) error {
				_, err := c.PreviewUSSDPush(ctx, clickpesa.USSDPushRequest{Amount: "1000", Currency: "TZS", OrderReference: "PREVIEW1"})
				return err
			}
		}},
		{"azampay", "/azampay-auth/AppRegistration/GenerateToken", func(t *testing.T, e *sandbox.Emulator, now func() time.Time) func(context.Context) error {
			c := newAzamPay(t, e, func(o *azampay.Options) { o.Now = now })
			return func(ctx context.Context) error { _, err := c.PaymentPartners(ctx); return err }
		}},
	}
}

func countPath(e *sandbox.Emulator, path string) (n int) {
	for _, r := range e.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// TestTokenReusedAndOneRefreshForManyCallers: calls reuse one token; when
// it has expired, 100 concurrent calls cause exactly one token request,
// counted by the emulator.
func TestTokenReusedAndOneRefreshForManyCallers(t *testing.T) {
	for _, tc := range tokenCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmulator(t, sandbox.Settings{}, nil)
			clk := newClock()
			call := tc.build(t, e, clk.Now)
			ctx := context.Background()
			for range 5 {
				if err := call(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if n := countPath(e, tc.tokenPath); n != 1 {
				t.Fatalf("token requests after 5 calls = %d, want 1", n)
			}
			clk.Advance(3 * time.Hour) // every provider's token has expired for the client

			began := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for range 100 {
				wg.Go(func() {
					if err := call(ctx); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			t.Logf("100 calls took %v", time.Since(began))
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := countPath(e, tc.tokenPath); n != 2 {
				t.Fatalf("token requests after 100 concurrent calls on an expired token = %d, want 2 (one refresh)", n)
			}
		})
	}
}

// TestUnauthorizedMidSession: the emulator's clock jumps so the token the
// client holds is refused with 401; the client refreshes once and succeeds.
func TestUnauthorizedMidSession(t *testing.T) {
	for _, tc := range tokenCases() {
		t.Run(tc.name, func(t *testing.T) {
			emuClock := newClock()
			e := startEmulator(t, sandbox.Settings{}, emuClock.Now)
			call := tc.build(t, e, nil)
			ctx := context.Background()
			if err := call(ctx); err != nil {
				t.Fatal(err)
			}
			emuClock.Advance(3 * time.Hour)
			if err := call(ctx); err != nil {
				t.Fatalf("call after the token expired at the provider: %v", err)
			}
			if n := countPath(e, tc.tokenPath); n != 2 {
				t.Fatalf("token requests = %d, want 2 (one refresh after the 401)", n)
			}
			unauthorized := 0
			for _, r := range e.Requests() {
				if r.Status == 401 {
					unauthorized++
				}
			}
			if unauthorized != 1 {
				t.Fatalf("401 answers = %d, want exactly 1", unauthorized)
			}
		})
	}
}

// TestClientSetAgainstEmulator builds the clients from a configuration the
// way the daemon does and pays through providers.Payer only.
func TestClientSetAgainstEmulator(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	rcv := newReceiver(t)
	cfg := &config.Config{Providers: []*config.Provider{
		{Kind: "pesapal", Name: "ke", Environment: "sandbox", PesaPal: &config.PesaPalConfig{
			ConsumerKey: secret.New("k"), ConsumerSecret: secret.New("s"), BaseURL: e.URL() + "/pesapal"}},
		{Kind: "clickpesa", Name: "tz", ClickPesa: &config.ClickPesaConfig{
			ClientID: secret.New("i"), APIKey: secret.New("a"), BaseURL: e.URL() + "/clickpesa"}},
		{Kind: "azampay", Name: "tz", Environment: "sandbox", AzamPay: &config.AzamPayConfig{
			AppName: "app", ClientID: secret.New("i"), ClientSecret: secret.New("s"), APIKey: secret.New("a"),
			AuthURL: e.URL() + "/azampay-auth", BaseURL: e.URL() + "/azampay", PublicKeyURL: e.URL() + "/azampay/azampay/v1/public-key?format=Pem"}},
	}}
	var mu sync.Mutex
	observed := map[string]int{}
	set, err := clients.New(cfg, clients.Options{HTTPClient: httpClient(t), Observer: func(p providers.Kind, op, outcome string, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		observed[string(p)+"/"+op+"/"+outcome]++
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := set.PesaPal("pesapal.ke").RegisterIPN(ctx, rcv.URL("/pesapal/ipn"), "POST")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := set.AzamPay("azampay.tz").FetchPublicKey(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range set.IDs() {
		t.Run(id, func(t *testing.T) {
			p, ok := set.Payer(id)
			if !ok {
				t.Fatal("no payer")
			}
			ref := "SET" + strings.ReplaceAll(id, ".", "")
			res, err := p.InitiatePayment(ctx, providers.PaymentRequest{Reference: ref, Amount: "500", Currency: "TZS", Phone: "255712345670",
				CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID})
			if err != nil {
				t.Fatal(err)
			}
			st := settle(t, p, providers.PaymentQuery{Reference: ref, ProviderReference: res.ProviderReference})
			if st.Status != providers.StatusSucceeded {
				t.Fatalf("status %+v", st)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, key := range []string{"pesapal/request_token/ok", "pesapal/submit_order/ok", "clickpesa/generate_token/ok", "clickpesa/initiate_ussd_push/ok", "azampay/mno_checkout/ok", "azampay/transaction_status/ok"} {
		if observed[key] == 0 {
			t.Errorf("observer never saw %s (saw %v)", key, observed)
		}
	}
	if observed["pesapal/request_token/ok"] != 1 || observed["clickpesa/generate_token/ok"] != 1 || observed["azampay/generate_token/ok"] != 1 {
		t.Errorf("tokens not reused across calls: %v", observed)
	}
}
