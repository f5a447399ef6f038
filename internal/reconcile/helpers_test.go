package reconcile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
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

// httpRemote is a small test-side Remote speaking the providers' wire
// formats to the emulator, independent of the provider clients.
type httpRemote struct {
	cfg    *config.Config
	client *http.Client
	mu     sync.Mutex
	tokens map[string]string
}

func newHTTPRemote(cfg *config.Config) *httpRemote {
	return &httpRemote{cfg: cfg, client: &http.Client{Timeout: 10 * time.Second}, tokens: map[string]string{}}
}

func (h *httpRemote) do(ctx context.Context, method, url, token string, hdr map[string]string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, &providers.Error{Op: method + " " + url, Kind: providers.Retryable, Err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", url, err)
		}
	}
	return resp.StatusCode, nil
}

func (h *httpRemote) token(ctx context.Context, providerID string) (string, error) {
	h.mu.Lock()
	t := h.tokens[providerID]
	h.mu.Unlock()
	if t != "" {
		return t, nil
	}
	p := h.cfg.Provider(providerID)
	switch p.Kind {
	case "pesapal":
		var out struct{ Token string }
		code, err := h.do(ctx, "POST", p.PesaPal.BaseURL+"/api/Auth/RequestToken", "", nil,
			map[string]string{"consumer_key": p.PesaPal.ConsumerKey.Reveal(), "consumer_secret": p.PesaPal.ConsumerSecret.Reveal()}, &out)
		if err != nil {
			return "", err
		}
		if code != 200 || out.Token == "" {
			return "", &providers.Error{Provider: providers.PesaPal, Op: "request token", Kind: providers.Auth, HTTPStatus: code}
		}
		t = out.Token
	case "azampay":
		var out struct {
			Data struct{ AccessToken string }
		}
		a := p.AzamPay
		code, err := h.do(ctx, "POST", a.AuthURL+"/AppRegistration/GenerateToken", "", map[string]string{"X-API-Key": a.APIKey.Reveal()},
			map[string]string{"appName": a.AppName, "clientId": a.ClientID.Reveal(), "clientSecret": a.ClientSecret.Reveal()}, &out)
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", &providers.Error{Provider: providers.AzamPay, Op: "generate token", Kind: providers.Auth, HTTPStatus: code}
		}
		t = out.Data.AccessToken
	default:
		return "ok", nil
	}
	h.mu.Lock()
	h.tokens[providerID] = t
	h.mu.Unlock()
	return t, nil
}

func (h *httpRemote) CheckCredentials(ctx context.Context, providerID string) error {
	_, err := h.token(ctx, providerID)
	return err
}

type wireIPN struct {
	URL         string `json:"url"`
	CreatedDate string `json:"created_date"`
	IPNID       string `json:"ipn_id"`
	TypeDesc    string `json:"ipn_notification_type_description"`
	IPNStatus   *int   `json:"ipn_status"`
}

func (w wireIPN) remote() RemoteIPN {
	return RemoteIPN{ID: w.IPNID, URL: w.URL, NotificationType: w.TypeDesc, Active: w.IPNStatus == nil || *w.IPNStatus == 1, CreatedAt: w.CreatedDate}
}

func (h *httpRemote) ListIPNs(ctx context.Context, providerID string) ([]RemoteIPN, error) {
	t, err := h.token(ctx, providerID)
	if err != nil {
		return nil, err
	}
	var list []wireIPN
	code, err := h.do(ctx, "GET", h.cfg.Provider(providerID).PesaPal.BaseURL+"/api/URLSetup/GetIpnList", t, nil, nil, &list)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GetIpnList: HTTP %d", code)
	}
	out := make([]RemoteIPN, 0, len(list))
	for _, w := range list {
		out = append(out, w.remote())
	}
	return out, nil
}

func (h *httpRemote) RegisterIPN(ctx context.Context, providerID, url, typ string) (RemoteIPN, error) {
	t, err := h.token(ctx, providerID)
	if err != nil {
		return RemoteIPN{}, err
	}
	var w wireIPN
	code, err := h.do(ctx, "POST", h.cfg.Provider(providerID).PesaPal.BaseURL+"/api/URLSetup/RegisterIPN", t, nil,
		map[string]string{"url": url, "ipn_notification_type": typ}, &w)
	if err != nil {
		return RemoteIPN{}, err
	}
	if code != 200 || w.IPNID == "" {
		return RemoteIPN{}, fmt.Errorf("RegisterIPN: HTTP %d", code)
	}
	return w.remote(), nil
}

func (h *httpRemote) FetchPublicKey(ctx context.Context, providerID string) ([]byte, error) {
	t, err := h.token(ctx, providerID)
	if err != nil {
		return nil, err
	}
	a := h.cfg.Provider(providerID).AzamPay
	var out struct{ PublicKey string }
	code, err := h.do(ctx, "GET", a.PublicKeyURL, t, map[string]string{"X-API-Key": a.APIKey.Reveal()}, nil, &out)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("public key: HTTP %d", code)
	}
	return []byte(out.PublicKey), nil
}

// memStore is an in-memory StateStore with the real one's lock semantics,
// for tests that inject failures.
type memStore struct {
	mu        sync.Mutex
	meta      state.Meta
	resources map[string]state.Resource
	lock      *state.LockInfo
	failPut   func(addr string) error
}

func newMemStore() *memStore {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &memStore{meta: state.Meta{Lineage: hex.EncodeToString(b[:])}, resources: map[string]state.Resource{}}
}

func (m *memStore) Meta(context.Context) (state.Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta, nil
}

func (m *memStore) Resources(context.Context) ([]state.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]state.Resource, 0, len(m.resources))
	for _, r := range m.resources {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}

func (m *memStore) Resource(_ context.Context, addr string) (state.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.resources[addr]
	if !ok {
		return r, fmt.Errorf("resource %s: %w", addr, state.ErrNotFound)
	}
	return r, nil
}

func (m *memStore) PutResource(_ context.Context, r state.Resource) (state.Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut != nil {
		if err := m.failPut(r.Address); err != nil {
			return m.meta, err
		}
	}
	m.resources[r.Address] = r
	m.meta.Serial++
	return m.meta, nil
}

func (m *memStore) DeleteResource(_ context.Context, addr string) (state.Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.resources[addr]; !ok {
		return m.meta, state.ErrNotFound
	}
	delete(m.resources, addr)
	m.meta.Serial++
	return m.meta, nil
}

func (m *memStore) Lock(_ context.Context, info state.LockInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock != nil {
		return &state.LockedError{Holder: *m.lock}
	}
	m.lock = &info
	return nil
}

func (m *memStore) Unlock(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock != nil && m.lock.ID == id {
		m.lock = nil
	}
	return nil
}

func (m *memStore) ForceUnlock(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock == nil || m.lock.ID != id {
		return state.ErrNotFound
	}
	m.lock = nil
	return nil
}

func (m *memStore) LockHolder(context.Context) (state.LockInfo, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock == nil {
		return state.LockInfo{}, false, nil
	}
	return *m.lock, true, nil
}

var _ state.StateStore = (*memStore)(nil)
