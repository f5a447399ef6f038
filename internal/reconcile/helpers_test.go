package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
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

// newClientRemote builds the real provider clients for cfg.
func newClientRemote(tb testing.TB, cfg *config.Config) Remote {
	tb.Helper()
	set, err := clients.New(cfg, clients.Options{})
	if err != nil {
		tb.Fatalf("clients.New: %v", err)
	}
	return NewRemote(set)
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
