package ingest

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/state"
)

// refetchEvery bounds fetches of an AzamPay key from the provider on
// verification failures, so forged callbacks cannot make us hammer it.
const refetchEvery = 30 * time.Second

// azamPayKeys are the keys AzamPay callbacks are verified with: the key
// plan/apply and the refresh_keys schedule record in state
// (key.azampay.NAME), read once and cached; on a verification failure a
// fresh copy from the provider, asked with the request's own AzamPay
// client, at most once per refetchEvery per provider.
type azamPayKeys struct {
	store Store // where the recorded keys are read
	now   func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched map[string]time.Time
}

func newAzamPayKeys(store Store, now func() time.Time) *azamPayKeys {
	return &azamPayKeys{store: store, now: now, keys: map[string]*rsa.PublicKey{}, fetched: map[string]time.Time{}}
}

// forget drops the cached keys (state may hold newer ones).
func (k *azamPayKeys) forget() {
	k.mu.Lock()
	clear(k.keys)
	k.mu.Unlock()
}

// key returns the public key of AzamPay provider p: the cached or recorded
// one, or with refetch (or none recorded) one fetched with client.
func (k *azamPayKeys) key(ctx context.Context, p *config.Provider, client *azampay.Client, refetch bool) (*rsa.PublicKey, error) {
	id := p.ID()
	k.mu.Lock()
	defer k.mu.Unlock()
	if !refetch {
		if key := k.keys[id]; key != nil {
			return key, nil
		}
		key, err := k.recorded(ctx, p)
		if err == nil {
			k.keys[id] = key
			return key, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		// Never applied: fall through to the provider.
	}
	now := k.now()
	if last, ok := k.fetched[id]; ok && now.Sub(last) < refetchEvery {
		if key := k.keys[id]; key != nil {
			return key, nil
		}
		return nil, fmt.Errorf("azampay key of %s: fetched %s ago without success; not asking again yet", id, now.Sub(last).Round(time.Second))
	}
	k.fetched[id] = now
	if client == nil {
		return nil, fmt.Errorf("azampay key of %s: no client", id)
	}
	fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, key, err := client.FetchPublicKey(fctx)
	if err != nil {
		return nil, fmt.Errorf("fetch azampay key of %s: %w", id, err)
	}
	k.keys[id] = key
	return key, nil
}

// recorded reads p's key from its key.azampay.NAME resource in state.
func (k *azamPayKeys) recorded(ctx context.Context, p *config.Provider) (*rsa.PublicKey, error) {
	addr := "key.azampay." + p.Name
	r, err := k.store.Resource(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("read %s from state: %w", addr, err)
	}
	var attrs struct {
		PublicKeyPEM string `json:"public_key_pem"`
	}
	if err := json.Unmarshal(r.Attributes, &attrs); err != nil {
		return nil, fmt.Errorf("decode %s attributes: %w", addr, err)
	}
	key, err := azampay.ParsePublicKey([]byte(attrs.PublicKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return key, nil
}
