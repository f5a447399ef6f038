package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/devmode"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// TestDevModeDemoPayments runs the banner's demo payments, with the banner's
// token, against the pay API built on the dev configuration: each is
// accepted and settles as succeeded with one event.
func TestDevModeDemoPayments(t *testing.T) {
	t.Parallel()
	env, err := devmode.Start(context.Background(), devmode.Options{Dir: t.TempDir(), PublicAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Delay: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("devmode.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.Close(ctx)
	})
	set, err := clients.New(env.Config, clients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := teststore.New(t)
	reg, err := set.PesaPal("pesapal.ke").RegisterIPN(context.Background(), env.Config.IPNs[0].URL, "POST")
	if err != nil {
		t.Fatal(err)
	}
	attrs, _ := json.Marshal(map[string]string{"ipn_id": reg.IPNID})
	if _, err := store.PutResource(context.Background(), state.Resource{Address: "ipn.orders", Type: "ipn", Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Config: env.Config, Payers: set.Payer}
	svc, err := New(Options{Store: store, Runtime: func() *Runtime { return rt },
		Settler: settle.New(settle.Options{Store: store, Routes: func() []*config.Route { return env.Config.Routes }})})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.RegisterAPI(mux)
	var toks []httpapi.Token
	for _, tok := range env.Config.API.Tokens {
		toks = append(toks, httpapi.Token{Name: tok.Name, Value: tok.Value, Scopes: tok.Scopes})
	}
	srv := httptest.NewServer(httpapi.NewAuthenticator(toks).Require(mux))
	t.Cleanup(srv.Close)

	for _, d := range devmode.DemoPayments() {
		t.Run(d.Provider, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/payments", bytes.NewReader([]byte(d.Body())))
			req.Header.Set("Authorization", "Bearer "+env.APIToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("demo payment: %d %s", resp.StatusCode, body)
			}
			var p Payment
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "demo payment to succeed", func() bool {
				stored, err := store.Payment(context.Background(), p.ID)
				if err != nil {
					t.Fatal(err)
				}
				payer, _ := set.Payer(d.Provider)
				got, err := svc.query(context.Background(), payer, stored, state.SourceStatusQuery)
				return err == nil && got.Status == state.StatusSucceeded
			})
			if ev := store.EventsOf(p.ID); len(ev) != 1 || ev[0].Type != "payment.succeeded" {
				t.Fatalf("events %+v", ev)
			}
		})
	}
}
