// Package clients builds one provider client per provider block of a
// configuration and keeps them for reuse: a client owns its token cache, so
// building it once is what makes tokens be reused across calls, requests
// and schedules.
//
// It wires; it does not call providers (New sends nothing) and holds no
// package-level state.
package clients

import (
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// Options are shared by every client of the set.
type Options struct {
	// HTTPClient sends every provider request (default: a client with no
	// redirects followed that keeps up to idleConnsPerHost connections to
	// each provider open between calls; each call is bounded by the
	// client's own timeout).
	HTTPClient *http.Client
	// Observer is told about every provider call, for metrics.
	Observer providers.CallObserver
}

// idleConnsPerHost is how many idle connections to one provider host the
// default transport keeps. Go's default of 2 makes every call beyond two
// at once open (and, over TLS, handshake) a new connection and close it
// after: under load most payments paid for a connection of their own.
const idleConnsPerHost = 64

// newTransport is Go's default transport keeping idleConnsPerHost idle
// connections per host.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * idleConnsPerHost
	t.MaxIdleConnsPerHost = idleConnsPerHost
	return t
}

// Set holds the clients of one configuration, by provider ID ("pesapal.ke").
// It is immutable after New and safe for concurrent use. A configuration
// reload builds a new Set (tokens are then fetched afresh).
type Set struct {
	pesapal   map[string]*pesapal.Client
	clickpesa map[string]*clickpesa.Client
	azampay   map[string]*azampay.Client
	payers    map[string]providers.Payer
	kinds     map[string]providers.Kind
}

// New builds a client for every provider block in cfg. It sends nothing.
// Errors name the provider block.
func New(cfg *config.Config, o Options) (*Set, error) {
	s := &Set{
		pesapal:   map[string]*pesapal.Client{},
		clickpesa: map[string]*clickpesa.Client{},
		azampay:   map[string]*azampay.Client{},
		payers:    map[string]providers.Payer{},
		kinds:     map[string]providers.Kind{},
	}
	if cfg == nil {
		return s, nil
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Transport:     newTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	var errs []error
	for _, p := range cfg.Providers {
		if p == nil {
			continue
		}
		id := p.ID()
		if _, dup := s.payers[id]; dup {
			errs = append(errs, fmt.Errorf("%s: declared twice", p.Block()))
			continue
		}
		var (
			payer providers.Payer
			err   error
		)
		switch providers.Kind(p.Kind) {
		case providers.PesaPal:
			if p.PesaPal == nil {
				err = errors.New("no pesapal settings")
				break
			}
			var c *pesapal.Client
			c, err = pesapal.New(pesapal.Options{
				BaseURL:        p.PesaPal.BaseURL,
				ConsumerKey:    p.PesaPal.ConsumerKey,
				ConsumerSecret: p.PesaPal.ConsumerSecret,
				HTTPClient:     hc,
				Observer:       o.Observer,
				Block:          p.Block(),
			})
			if err == nil {
				s.pesapal[id], payer = c, c
			}
		case providers.ClickPesa:
			if p.ClickPesa == nil {
				err = errors.New("no clickpesa settings")
				break
			}
			var c *clickpesa.Client
			c, err = clickpesa.New(clickpesa.Options{
				BaseURL:        p.ClickPesa.BaseURL,
				ClientID:       p.ClickPesa.ClientID,
				APIKey:         p.ClickPesa.APIKey,
				ChecksumKey:    p.ClickPesa.ChecksumKey,
				ChecksumMethod: p.ClickPesa.ChecksumMethod,
				HTTPClient:     hc,
				Observer:       o.Observer,
				Block:          p.Block(),
			})
			if err == nil {
				s.clickpesa[id], payer = c, c
			}
		case providers.AzamPay:
			if p.AzamPay == nil {
				err = errors.New("no azampay settings")
				break
			}
			var (
				c      *azampay.Client
				dsbURL string
				dsbKey secret.Value
			)
			if p.AzamPay.CanDisburse() {
				dsbURL, dsbKey = p.AzamPay.DisbursementURL, p.AzamPay.DisbursementKey
			}
			c, err = azampay.New(azampay.Options{
				DisbursementURL: dsbURL,
				DisbursementKey: dsbKey,
				AuthURL:         p.AzamPay.AuthURL,
				BaseURL:         p.AzamPay.BaseURL,
				AppName:         p.AzamPay.AppName,
				ClientID:        p.AzamPay.ClientID,
				ClientSecret:    p.AzamPay.ClientSecret,
				APIKey:          p.AzamPay.APIKey,
				PublicKeyURL:    p.AzamPay.PublicKeyURL,
				PhoneFormat:     p.AzamPay.PhoneFormat,
				HTTPClient:      hc,
				Observer:        o.Observer,
				Block:           p.Block(),
			})
			if err == nil {
				s.azampay[id], payer = c, c
			}
		default:
			err = fmt.Errorf("unknown provider kind %q", p.Kind)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Block(), err))
			continue
		}
		s.payers[id] = payer
		s.kinds[id] = providers.Kind(p.Kind)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build provider clients: %w", err)
	}
	return s, nil
}

// Payer returns the client for a provider ID ("pesapal.ke").
func (s *Set) Payer(providerID string) (providers.Payer, bool) {
	if s == nil {
		return nil, false
	}
	p, ok := s.payers[providerID]
	return p, ok
}

// Kind returns the provider kind of a provider ID.
func (s *Set) Kind(providerID string) (providers.Kind, bool) {
	if s == nil {
		return "", false
	}
	k, ok := s.kinds[providerID]
	return k, ok
}

// IDs lists the provider IDs in the set, sorted.
func (s *Set) IDs() []string {
	if s == nil {
		return nil
	}
	ids := make([]string, 0, len(s.payers))
	for id := range s.payers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// PesaPal returns the PesaPal client for a provider ID, or nil.
func (s *Set) PesaPal(providerID string) *pesapal.Client {
	if s == nil {
		return nil
	}
	return s.pesapal[providerID]
}

// ClickPesa returns the ClickPesa client for a provider ID, or nil.
func (s *Set) ClickPesa(providerID string) *clickpesa.Client {
	if s == nil {
		return nil
	}
	return s.clickpesa[providerID]
}

// AzamPay returns the AzamPay client for a provider ID, or nil.
func (s *Set) AzamPay(providerID string) *azampay.Client {
	if s == nil {
		return nil
	}
	return s.azampay[providerID]
}
