package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
)

// cachedToken is a client's token through its cache (each of the three
// clients has one): a credential check costs a token request only when
// none is cached.
type cachedToken interface {
	Token(ctx context.Context) (string, error)
}

// NewRemote returns the Remote backed by a set of provider clients. It
// shares the clients' token caches, so the daemon can pass the set it
// already uses.
func NewRemote(set *clients.Set) Remote { return &clientRemote{set: set} }

type clientRemote struct{ set *clients.Set }

// CheckCredentials obtains a token through the provider client's cache.
func (r *clientRemote) CheckCredentials(ctx context.Context, providerID string) error {
	var c cachedToken
	switch {
	case r.set.PesaPal(providerID) != nil:
		c = r.set.PesaPal(providerID)
	case r.set.AzamPay(providerID) != nil:
		c = r.set.AzamPay(providerID)
	case r.set.ClickPesa(providerID) != nil:
		c = r.set.ClickPesa(providerID)
	default:
		return fmt.Errorf("no client for provider %q", providerID)
	}
	_, err := c.Token(ctx)
	return err
}

func (r *clientRemote) pesapal(providerID string) (*pesapal.Client, error) {
	if c := r.set.PesaPal(providerID); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no PesaPal client for provider %q", providerID)
}

func (r *clientRemote) ListIPNs(ctx context.Context, providerID string) ([]RemoteIPN, error) {
	c, err := r.pesapal(providerID)
	if err != nil {
		return nil, err
	}
	list, err := c.GetIPNList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RemoteIPN, 0, len(list))
	for _, reg := range list {
		out = append(out, fromRegistration(reg))
	}
	return out, nil
}

func (r *clientRemote) RegisterIPN(ctx context.Context, providerID, url, notificationType string) (RemoteIPN, error) {
	c, err := r.pesapal(providerID)
	if err != nil {
		return RemoteIPN{}, err
	}
	reg, err := c.RegisterIPN(ctx, url, notificationType)
	if err != nil {
		return RemoteIPN{}, err
	}
	return fromRegistration(reg), nil
}

func (r *clientRemote) FetchPublicKey(ctx context.Context, providerID string) ([]byte, error) {
	c := r.set.AzamPay(providerID)
	if c == nil {
		return nil, fmt.Errorf("no AzamPay client for provider %q", providerID)
	}
	pemBytes, _, err := c.FetchPublicKey(ctx)
	return pemBytes, err
}

// fromRegistration maps the client's registration. A listing that does not
// carry ipn_status (GetIpnList documents only five fields) counts as active.
func fromRegistration(reg pesapal.IPNRegistration) RemoteIPN {
	active := reg.IPNStatus == 1
	if !active && len(reg.Raw) > 0 {
		var probe map[string]json.RawMessage
		if json.Unmarshal(reg.Raw, &probe) == nil {
			if _, has := probe["ipn_status"]; !has {
				active = true
			}
		}
	}
	return RemoteIPN{ID: reg.IPNID, URL: reg.URL, NotificationType: reg.NotificationTypeDescription, Active: active, CreatedAt: reg.CreatedDate}
}
