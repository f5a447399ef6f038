package ingest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

const checksumKey = "test-checksum-key"

// harness is an Ingester on a loopback server, in front of the emulator.
type harness struct {
	t     testing.TB
	emu   *sandbox.Emulator
	cfg   *config.Config
	set   *clients.Set
	store *teststore.Store
	in    *Ingester
	srv   *httptest.Server
	reg   *prometheus.Registry
	logs  *syncBuffer

	// clock is the ingester's: setKeys moves it past the refetch bound.
	clock *testkit.OffsetClock
	// The AzamPay provider's public key endpoint (keySrv) answers
	// providerKey (nil: 404); refetches counts its calls.
	keySrv      *httptest.Server
	keyMu       sync.Mutex
	providerKey *rsa.PublicKey
	refetches   atomic.Int32
	// payers overrides the clients' payers when set.
	payers map[string]providers.Payer
	// rt is what the ingester serves; setConfig swaps it as a reload does.
	rt atomic.Pointer[Runtime]
}

// setConfig serves cfg's routes from now on, with the harness's clients.
func (h *harness) setConfig(cfg *config.Config) {
	h.rt.Store(&Runtime{Routes: NewRoutes(cfg), Payers: h.payer, AzamPay: h.set.AzamPay})
}

// payer is the harness's payers override, else the clients'.
func (h *harness) payer(id string) (providers.Payer, bool) {
	if h.payers != nil {
		p, ok := h.payers[id]
		return p, ok
	}
	return h.set.Payer(id)
}

type harnessOptions struct {
	signedClickPesa bool
	rate            float64
	burst           int
	settings        sandbox.Settings
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testkit.SyncBuffer

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	if o.settings.Delay == 0 {
		o.settings.Delay = sandbox.Duration(10 * time.Millisecond)
	}
	emu, err := sandbox.New(sandbox.Options{Settings: o.settings, IPNRetry: []time.Duration{time.Hour}})
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
	base := emu.URL()
	h := &harness{t: t, emu: emu, clock: &testkit.OffsetClock{}, store: teststore.New(t), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	h.keySrv = httptest.NewServer(http.HandlerFunc(h.servePublicKey))
	t.Cleanup(h.keySrv.Close)
	cp := &config.ClickPesaConfig{ClientID: secret.New("id"), APIKey: secret.New("key"), BaseURL: base + "/clickpesa", ChecksumMethod: "canonical"}
	if o.signedClickPesa {
		cp.ChecksumKey = secret.New(checksumKey)
	}
	cfg := &config.Config{
		Providers: []*config.Provider{
			{Kind: "pesapal", Name: "ke", Environment: "sandbox", PesaPal: &config.PesaPalConfig{
				ConsumerKey: secret.New("key"), ConsumerSecret: secret.New("secret"), BaseURL: base + "/pesapal"}},
			{Kind: "clickpesa", Name: "tz", ClickPesa: cp},
			{Kind: "azampay", Name: "tz", Environment: "sandbox", AzamPay: &config.AzamPayConfig{
				AppName: "shop", ClientID: secret.New("id"), ClientSecret: secret.New("secret"), APIKey: secret.New("key"),
				AuthURL: base + "/azampay-auth", BaseURL: base + "/azampay", PhoneFormat: "international",
				PublicKeyURL: h.keySrv.URL + "/public-key"}},
		},
		Routes: []*config.Route{
			{Name: "pp", Provider: "pesapal.ke", Path: "/hooks/pesapal", Events: config.EventTypes()},
			{Name: "cp", Provider: "clickpesa.tz", Path: "/hooks/clickpesa", Events: config.EventTypes()},
			{Name: "az", Provider: "azampay.tz", Path: "/hooks/azampay", Events: config.EventTypes()},
		},
	}
	set, err := clients.New(cfg, clients.Options{})
	if err != nil {
		t.Fatalf("build clients: %v", err)
	}
	h.cfg, h.set = cfg, set
	settler := settle.New(settle.Options{Store: h.store, Routes: func() []*config.Route { return cfg.Routes }})
	h.setConfig(cfg)
	in, err := New(Options{
		Runtime:    h.rt.Load,
		Settler:    settler,
		Now:        h.clock.Now,
		Store:      h.store,
		Logger:     slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: h.reg,
		RateLimit:  o.rate,
		RateBurst:  o.burst,
	})
	if err != nil {
		t.Fatalf("new ingester: %v", err)
	}
	h.in = in
	// As apply does: the emulator's key is recorded in state, and it is
	// the key the provider serves.
	pub, err := azampay.ParsePublicKey(emu.PublicKeyPEM())
	if err != nil {
		t.Fatalf("parse emulator key: %v", err)
	}
	h.setKeys(pub, pub)
	h.srv = httptest.NewServer(in.Handler())
	t.Cleanup(h.srv.Close)
	emu.UpdateSettings(func(s *sandbox.Settings) {
		s.ClickPesaWebhook = h.srv.URL + "/hooks/clickpesa"
		s.AzamPayCallback = h.srv.URL + "/hooks/azampay"
		if o.signedClickPesa {
			s.ClickPesaChecksumKey = checksumKey
		}
	})
	return h
}

// servePublicKey is the AzamPay provider's public key endpoint.
func (h *harness) servePublicKey(w http.ResponseWriter, _ *http.Request) {
	h.refetches.Add(1)
	h.keyMu.Lock()
	key := h.providerKey
	h.keyMu.Unlock()
	if key == nil {
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"publicKey": publicKeyPEM(h.t, key), "success": true})
}

// setKeys records key in state as apply does (nil: none recorded) and has
// the provider serve atProvider (nil: its endpoint answers 404). Cached
// keys are forgotten, as after the refresh_keys schedule, and the clock
// moves past the bound on fetches from the provider.
func (h *harness) setKeys(recorded, atProvider *rsa.PublicKey) {
	h.t.Helper()
	ctx := context.Background()
	const addr = "key.azampay.tz"
	if recorded == nil {
		if _, err := h.store.DeleteResource(ctx, addr); err != nil && !errors.Is(err, state.ErrNotFound) {
			h.t.Fatalf("delete %s: %v", addr, err)
		}
	} else {
		attrs, _ := json.Marshal(map[string]string{"provider": "azampay.tz", "public_key_pem": publicKeyPEM(h.t, recorded)})
		if _, err := h.store.PutResource(ctx, state.Resource{Address: addr, Type: "key", Attributes: attrs}); err != nil {
			h.t.Fatalf("record %s: %v", addr, err)
		}
	}
	h.keyMu.Lock()
	h.providerKey = atProvider
	h.keyMu.Unlock()
	h.in.ForgetAzamPayKeys()
	h.clock.Advance(refetchEvery)
}

func publicKeyPEM(t testing.TB, key *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatalf("encode public key: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// send makes one request to the ingester and returns status and body.
func (h *harness) send(method, path, contentType string, body []byte) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// clickPesaBody builds a PAYMENT webhook, signed with key when key != "".
func clickPesaBody(t testing.TB, key, ref, status, amount string) []byte {
	t.Helper()
	m := map[string]any{
		"event": "PAYMENT RECEIVED",
		"data": map[string]any{
			"id": "CP-" + ref, "status": status, "paymentReference": "PR" + ref, "orderReference": ref,
			"collectedAmount": amount, "collectedCurrency": "TZS", "message": "ok", "channel": "TIGO-PESA",
			"customer": map[string]any{"customerName": "Jane", "customerPhoneNumber": "255712345678"},
		},
	}
	if status == "FAILED" {
		m["event"] = "PAYMENT FAILED"
	}
	b, _ := json.Marshal(m)
	if key == "" {
		return b
	}
	sum, err := clickpesa.Checksum("canonical", []byte(key), b)
	if err != nil {
		t.Fatalf("checksum: %v", err)
	}
	m["checksum"], m["checksumMethod"] = sum, "canonical"
	b, _ = json.Marshal(m)
	return b
}

// azamPayBody builds a callback signed with priv (unsigned when nil).
func azamPayBody(t testing.TB, priv *rsa.PrivateKey, ref, status, amount string, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"msisdn": "255712345678", "amount": amount, "message": "done", "utilityref": ref, "operator": "Tigo",
		"reference": "AZ-" + ref, "externalreference": "AZ-" + ref, "transid": "AZ-" + ref, "mnoreference": "MNO1",
		"transactionstatus": status,
	}
	for k, v := range extra {
		m[k] = v
	}
	if priv != nil {
		msg := ref + "AZ-" + ref + status + "Tigo"
		sum := sha256.Sum256([]byte(msg))
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		m["signature"] = base64.StdEncoding.EncodeToString(sig)
	}
	b, _ := json.Marshal(m)
	return b
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}
