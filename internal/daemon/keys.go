package daemon

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/reconcile"
	"github.com/finconnectd/finconnectd/internal/state"
)

// refetchEvery bounds fetches of an AzamPay key from the provider on
// verification failures, so forged callbacks cannot make us hammer it.
const refetchEvery = 30 * time.Second

// keyCache is ingest's AzamPay key source: the key recorded in state by
// plan/apply and refresh_keys, cached; on a verification failure a fresh
// copy from the provider, at most once per refetchEvery per provider.
type keyCache struct {
	store   state.StateStore    // where plan/apply and refresh_keys record keys
	clients func() *clients.Set // the current provider clients (reload swaps them)
	now     func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched map[string]time.Time
}

func newKeyCache(store state.StateStore, clients func() *clients.Set, now func() time.Time) *keyCache {
	return &keyCache{store: store, clients: clients, now: now, keys: map[string]*rsa.PublicKey{}, fetched: map[string]time.Time{}}
}

// reset forgets cached keys (state may hold newer ones).
func (k *keyCache) reset() {
	k.mu.Lock()
	clear(k.keys)
	k.mu.Unlock()
}

func (k *keyCache) key(ctx context.Context, providerID string, refetch bool) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !refetch {
		if key := k.keys[providerID]; key != nil {
			return key, nil
		}
		key, err := reconcile.AzamPayKey(ctx, k.store, providerID)
		if err == nil {
			k.keys[providerID] = key
			return key, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		// Never applied: fall through to the provider.
	}
	now := k.now()
	if last, ok := k.fetched[providerID]; ok && now.Sub(last) < refetchEvery {
		if key := k.keys[providerID]; key != nil {
			return key, nil
		}
		return nil, fmt.Errorf("azampay key of %s: fetched %s ago without success; not asking again yet", providerID, now.Sub(last).Round(time.Second))
	}
	k.fetched[providerID] = now
	set := k.clients()
	if set == nil {
		return nil, fmt.Errorf("azampay key of %s: no clients", providerID)
	}
	c := set.AzamPay(providerID)
	if c == nil {
		return nil, fmt.Errorf("azampay key of %s: no such azampay provider", providerID)
	}
	fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, key, err := c.FetchPublicKey(fctx)
	if err != nil {
		return nil, fmt.Errorf("fetch azampay key of %s: %w", providerID, err)
	}
	k.keys[providerID] = key
	return key, nil
}
