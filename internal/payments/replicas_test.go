package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state/postgres"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// pgTestDSN is the PostgreSQL test server ($FINCONNECTD_TEST_POSTGRES_DSN,
// default the local one: trust auth, database test).
func pgTestDSN() string {
	if v := os.Getenv("FINCONNECTD_TEST_POSTGRES_DSN"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=5"
}

// TestSyncTwoReplicasQueryEachPaymentOnce: two services (two replicas)
// on one PostgreSQL schema run sync_payments at the same moment; between
// them the provider is asked about each due payment once, not once per
// replica.
func TestSyncTwoReplicasQueryEachPaymentOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgTestDSN())
	if err != nil {
		t.Skipf("PostgreSQL test server not reachable: %v", err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "fc_sync_" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_ = admin.Close(context.Background())
	})

	// Every answer takes a moment, so the two rounds overlap; no payment
	// settles on its own.
	emu, err := sandbox.New(sandbox.Options{Settings: sandbox.Settings{
		Delay: sandbox.Duration(time.Hour), SlowAnswer: sandbox.Duration(2 * time.Second), Latency: sandbox.Duration(30 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Stop(sctx)
	})
	cfg := &config.Config{
		Providers: []*config.Provider{{Kind: "clickpesa", Name: "tz", ClickPesa: &config.ClickPesaConfig{
			ClientID: secret.New("id"), APIKey: secret.New("key"), BaseURL: emu.URL() + "/clickpesa"}}},
		Server: config.ServerConfig{PublicURL: "http://127.0.0.1:1"},
		Routes: []*config.Route{{Name: "cp", Provider: "clickpesa.tz", Path: "/hooks/clickpesa", Events: config.EventTypes()}},
	}
	clk := &testkit.OffsetClock{}
	replica := func() *Service {
		t.Helper()
		st, err := postgres.Open(ctx, secret.New(pgTestDSN()), postgres.Options{Schema: schema, Now: clk.Now})
		if err != nil {
			t.Fatalf("open the shared schema: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		payers := testPayers(t, cfg)
		svc, err := New(Options{
			Store: st, Now: clk.Now,
			Runtime: func() *Runtime {
				return &Runtime{Config: cfg, Payers: func(id string) (providers.Payer, bool) { p, ok := payers[id]; return p, ok }}
			},
			Settler: settle.New(settle.Options{Store: st, Routes: func() []*config.Route { return cfg.Routes }, Now: clk.Now}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := replica(), replica()

	// Payments started through replica A: pending at the provider.
	mux := http.NewServeMux()
	a.RegisterAPI(mux)
	srv := httptest.NewServer(httpapi.NewAuthenticator([]httpapi.Token{
		{Name: "shop", Value: secret.New(testToken), Scopes: []string{config.ScopePayments}},
	}).Require(mux))
	t.Cleanup(srv.Close)
	const n = 12
	var refs []string
	for i := range n {
		ref := fmt.Sprintf("SYNCREP%02d", i)
		body, _ := json.Marshal(paymentBody("clickpesa.tz", ref, phoneFor("clickpesa.tz", 0)))
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/payments", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("start %s: %d", ref, resp.StatusCode)
		}
		refs = append(refs, ref)
	}
	queries := func(ref string) int {
		k := 0
		for _, r := range emu.Requests() {
			if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/payments/"+ref) {
				k++
			}
		}
		return k
	}
	for _, ref := range refs {
		if q := queries(ref); q != 0 {
			t.Fatalf("%s queried %d times before it was due", ref, q)
		}
	}

	// Every payment is due (first sync 1 minute after creation); both
	// replicas run the schedule at once.
	clk.Advance(2 * time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, svc := range []*Service{a, b} {
		wg.Go(func() { errs[i] = svc.Sync(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sync on replica %c: %v", 'A'+i, err)
		}
	}
	for _, ref := range refs {
		if q := queries(ref); q != 1 {
			t.Errorf("%s: the provider was asked %d times by the two replicas' sync, want once", ref, q)
		}
	}
}
