package reconcile

import "context"

// Remote is what reconcile needs from the providers, addressed by provider
// ID ("pesapal.ke"). NewRemote builds one from provider clients; tests may
// wrap it to count or break calls.
type Remote interface {
	// CheckCredentials proves a provider's credentials by obtaining a token.
	// A rejection is an error for which providers.IsAuth is true.
	CheckCredentials(ctx context.Context, providerID string) error
	// ListIPNs is PesaPal's GetIpnList: every IPN registered for the account.
	ListIPNs(ctx context.Context, providerID string) ([]RemoteIPN, error)
	// RegisterIPN is PesaPal's RegisterIPN.
	RegisterIPN(ctx context.Context, providerID, url, notificationType string) (RemoteIPN, error)
	// FetchPublicKey returns an AzamPay provider's public key as PEM.
	FetchPublicKey(ctx context.Context, providerID string) ([]byte, error)
}

// RemoteIPN is one IPN registration as PesaPal reports it.
type RemoteIPN struct {
	ID               string
	URL              string
	NotificationType string // "GET" | "POST"; "" when the listing does not say
	Active           bool   // ipn_status 1; listings that do not say count as active
	CreatedAt        string // as PesaPal sent it
}

// matches reports whether r is a registration of url with type typ.
func (r RemoteIPN) matches(url, typ string) bool {
	return r.URL == url && (r.NotificationType == "" || r.NotificationType == typ)
}
