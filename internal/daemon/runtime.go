package daemon

import (
	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/ingest"
	"github.com/finconnectd/finconnectd/internal/payments"
	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
)

// runtime is one configuration as the daemon serves it: the configuration,
// the provider clients built from it, the API tokens, and what each
// component reads per request, derived from them once. It is immutable:
// Start and Reload build one and store it in Daemon.rt whole, and every
// request or schedule run reads it once, so it sees one configuration and
// that configuration's clients, never a mix of two.
type runtime struct {
	cfg     *config.Config
	clients *clients.Set
	auth    *httpapi.Authenticator

	pay     *payments.Runtime
	payouts *payouts.Runtime
	ingest  *ingest.Runtime
}

func newRuntime(cfg *config.Config, set *clients.Set) *runtime {
	rt := &runtime{cfg: cfg, clients: set, auth: newAuthenticator(cfg)}
	rt.pay = &payments.Runtime{Config: cfg, Payers: set.Payer}
	rt.payouts = &payouts.Runtime{Config: cfg, Providers: rt.payoutProvider, Refunders: rt.refunder}
	rt.ingest = &ingest.Runtime{Routes: ingest.NewRoutes(cfg), Payers: set.Payer, AzamPay: set.AzamPay}
	return rt
}

// newAuthenticator accepts the tokens of cfg's api block with their scopes.
func newAuthenticator(cfg *config.Config) *httpapi.Authenticator {
	toks := make([]httpapi.Token, 0, len(cfg.API.Tokens))
	for _, t := range cfg.API.Tokens {
		toks = append(toks, httpapi.Token{Name: t.Name, Value: t.Value, Scopes: t.Scopes})
	}
	return httpapi.NewAuthenticator(toks)
}

// payoutProvider returns the payout client of a provider ID: ClickPesa,
// or AzamPay with its disbursement settings.
func (rt *runtime) payoutProvider(id string) (payouts.Provider, bool) {
	if c := rt.clients.ClickPesa(id); c != nil {
		return payouts.ClickPesa(c), true
	}
	if c := rt.clients.AzamPay(id); c != nil && c.CanDisburse() {
		if p := rt.cfg.Provider(id); p != nil && p.AzamPay.CanDisburse() {
			return payouts.AzamPay(c, p.AzamPay), true
		}
	}
	return nil, false
}

// refunder returns the client that refunds collections of a provider ID
// itself (PesaPal only).
func (rt *runtime) refunder(id string) (*payouts.Refunder, bool) {
	c := rt.clients.PesaPal(id)
	if c == nil {
		return nil, false
	}
	return payouts.PesaPal(c), true
}

// canceller returns the client that cancels orders of a provider ID
// (PesaPal only).
func (rt *runtime) canceller(id string) (*pesapal.Client, bool) {
	c := rt.clients.PesaPal(id)
	return c, c != nil
}
