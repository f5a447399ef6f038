package config

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/finconnectd/finconnectd/internal/secret"
)

// Config is a decoded, validated configuration. Defaults are already filled
// in (see defaults.go); consumers never re-derive them.
type Config struct {
	// Files are the HCL files it was read from, in load order.
	Files []string
	// Dir is the directory relative paths (state.path) are resolved against.
	Dir string

	State     StateConfig
	Server    ServerConfig
	API       APIConfig
	Providers []*Provider // in declaration order
	IPNs      []*IPN
	Routes    []*Route
	Schedules Schedules
	// Payouts are the guardrails of money going out (payouts and refunds
	// paid as payouts): per-currency limits and allowed destinations.
	Payouts PayoutsConfig
}

// PayoutsConfig is the payouts block. The zero value allows any
// destination and sets no limit.
type PayoutsConfig struct {
	// Limits are the per-currency limits, in declaration order, at most
	// one per currency.
	Limits []PayoutLimit
	// AllowedPhonePrefixes, when not empty, are the only mobile-money
	// numbers a payout may go to: international digits ("2557", "25565").
	AllowedPhonePrefixes []string
	// AllowedBanks, when not empty, are the only banks a bank payout may
	// go to (bank codes as the provider names them, upper case).
	AllowedBanks []string
	DeclRange    hcl.Range
}

// PayoutLimit is one limit "CURRENCY" block: decimal strings, "" = none.
type PayoutLimit struct {
	Currency string
	// MaxPerPayout is the most one payout may send.
	MaxPerPayout string
	// MaxPer24h is the most the payouts of the last 24 hours (rolling,
	// all but failed ones) may send together.
	MaxPer24h string
	DeclRange hcl.Range
}

// Limit returns the limit of currency, or nil when it has none.
func (c PayoutsConfig) Limit(currency string) *PayoutLimit {
	for i := range c.Limits {
		if c.Limits[i].Currency == currency {
			return &c.Limits[i]
		}
	}
	return nil
}

// PhoneAllowed reports whether a payout may go to phone (international
// digits, "255712345678").
func (c PayoutsConfig) PhoneAllowed(phone string) bool {
	if len(c.AllowedPhonePrefixes) == 0 {
		return true
	}
	for _, p := range c.AllowedPhonePrefixes {
		if strings.HasPrefix(phone, p) {
			return true
		}
	}
	return false
}

// BankAllowed reports whether a bank payout may go to bank.
func (c PayoutsConfig) BankAllowed(bank string) bool {
	if len(c.AllowedBanks) == 0 {
		return true
	}
	for _, b := range c.AllowedBanks {
		if strings.EqualFold(b, bank) {
			return true
		}
	}
	return false
}

// StateConfig is the state block.
type StateConfig struct {
	Backend string       // "sqlite" (default) or "postgres"
	Path    string       // sqlite file, absolute after loading; default finconnect.db beside the config
	DSN     secret.Value // postgres connection string
}

// ServerConfig is the public listener that receives provider webhooks.
type ServerConfig struct {
	Listen    string // default ":8080"
	PublicURL string // optional
}

// APIConfig is the private listener: pay API, events, health, metrics.
type APIConfig struct {
	Listen string     // default "127.0.0.1:8081"; "unix:/path" for a socket
	Tokens []APIToken // bearer tokens accepted: token blocks, then the tokens list
	// AccessLog is the level API requests are logged at: "debug", "info"
	// (default), "warn" or "off". Answers of 500 and above are always
	// logged, at error.
	AccessLog string
}

// APIToken is one bearer token of the API and what it may do.
type APIToken struct {
	// Name is the token block's label, or "tokens[N]" for the Nth element
	// of the tokens list. Logs and the audit trail name a caller by it.
	Name   string
	Value  secret.Value
	Scopes []string // known scopes (see Scopes), no duplicates
	// DeclRange is the token block, or the tokens attribute.
	DeclRange hcl.Range
}

// Has reports whether the token was granted scope.
func (t APIToken) Has(scope string) bool { return contains(t.Scopes, scope) }

// Provider is one provider "KIND" "NAME" block. Exactly one of the per-kind
// pointers is set, matching Kind.
type Provider struct {
	Kind        string // "pesapal" | "clickpesa" | "azampay"
	Name        string
	Environment string // "sandbox" | "live"

	PesaPal   *PesaPalConfig
	ClickPesa *ClickPesaConfig
	AzamPay   *AzamPayConfig

	DeclRange hcl.Range
}

// ID is the provider's reference name as used in the API and events: "pesapal.ke".
func (p *Provider) ID() string { return p.Kind + "." + p.Name }

// Address is the HCL traversal: "provider.pesapal.ke".
func (p *Provider) Address() string { return "provider." + p.Kind + "." + p.Name }

// Block is how diagnostics and errors name it: `provider "pesapal" "ke"`.
func (p *Provider) Block() string { return `provider "` + p.Kind + `" "` + p.Name + `"` }

// PesaPalConfig holds PesaPal API 3.0 settings.
type PesaPalConfig struct {
	ConsumerKey    secret.Value
	ConsumerSecret secret.Value
	BaseURL        string // resolved: override, else documented sandbox/live URL
}

// ClickPesaConfig holds ClickPesa settings. ClickPesa has no sandbox.
type ClickPesaConfig struct {
	ClientID       secret.Value
	APIKey         secret.Value
	ChecksumKey    secret.Value // optional; zero means checksums off
	ChecksumMethod string       // "canonical" (default) | "legacy"
	BaseURL        string       // resolved
	// RefundByPayout lets POST /v1/payments/{id}/refunds pay a ClickPesa
	// payment back as a payout to the payer's number.
	RefundByPayout bool
}

// AzamPayConfig holds AzamPay settings.
type AzamPayConfig struct {
	AppName      string
	ClientID     secret.Value
	ClientSecret secret.Value
	APIKey       secret.Value
	AuthURL      string // resolved authenticator base URL
	BaseURL      string // resolved checkout base URL
	PublicKeyURL string // resolved; default BaseURL + "/azampay/v1/public-key?format=Pem"
	PhoneFormat  string // "local" (07...) default | "international" (2557...)
	// RefundByPayout lets refunds of AzamPay payments be paid back as a
	// disbursement to the payer's number.
	RefundByPayout bool
	// CallbackProof is what proves a callback: ProofSignatureOrQuery
	// (default), ProofSignature or ProofQuery.
	CallbackProof string
	// Disbursement (payouts): the host, the merchant's disbursement public
	// key (PEM) for request checksums, and the account money leaves from.
	// Payouts through AzamPay need DisbursementKey and DisbursementAccount.
	DisbursementURL     string // resolved
	DisbursementKey     secret.Value
	DisbursementAccount string
	DisbursementName    string // default AppName
	DisbursementWallet  string // azampesa (default) | tigo | airtel
}

// CanDisburse reports whether payouts may go out through this AzamPay account.
func (c *AzamPayConfig) CanDisburse() bool {
	return c != nil && !c.DisbursementKey.IsZero() && c.DisbursementAccount != ""
}

// AzamPay callback proof modes (AzamPayConfig.CallbackProof).
const (
	ProofSignatureOrQuery = "signature_or_query"
	ProofSignature        = "signature"
	ProofQuery            = "query"
)

// IPN is one ipn block: a PesaPal IPN registration.
type IPN struct {
	Name             string
	Provider         string // provider ID, "pesapal.ke"
	URL              string
	NotificationType string // "GET" | "POST"
	DeclRange        hcl.Range
}

// Address is the state address "ipn.NAME".
func (i *IPN) Address() string { return "ipn." + i.Name }

// Route is one route block: where a provider's webhooks arrive and where the
// verified events go.
type Route struct {
	Name      string
	Provider  string   // provider ID
	Path      string   // served on server.listen
	Events    []string // event types; default all
	Forward   Forward
	Retry     Retry
	DeclRange hcl.Range
}

// Matches reports whether an event of this provider and type goes to this route.
func (r *Route) Matches(providerID, eventType string) bool {
	if r.Provider != providerID {
		return false
	}
	for _, e := range r.Events {
		if e == eventType {
			return true
		}
	}
	return false
}

// Forward is where events are delivered.
type Forward struct {
	URL     string
	Secret  secret.Value  // Standard Webhooks secret, "whsec_" + base64
	Timeout time.Duration // default 10s
	// Concurrency is how many POSTs of the route are in flight at once
	// (default 16, 1 to 64).
	Concurrency int
}

// Retry bounds delivery.
type Retry struct {
	MaxAttempts int           // default 15
	MaxAge      time.Duration // default 72h
}

// Schedules are the daemon's cron specs (robfig/cron syntax), already checked.
type Schedules struct {
	Reconcile    string // default "*/15 * * * *"
	RefreshKeys  string // default "@hourly"
	SyncPayments string // default "@every 1m"
	// ReconcilePayments reconciles every provider's payments of the day
	// before with the provider's records; "" (the default) runs it never.
	ReconcilePayments string
}

// EventTypes returns all event types, in a stable order.
func EventTypes() []string {
	return []string{"payment.succeeded", "payment.failed", "payment.reversed", "payment.pending",
		"payment.refunded", "payment.partially_refunded",
		"payout.succeeded", "payout.failed", "payout.reversed", "refund.succeeded", "refund.failed",
		"reconciliation.difference"}
}

// Provider returns the provider with the given ID ("pesapal.ke"), or nil.
func (c *Config) Provider(id string) *Provider {
	for _, p := range c.Providers {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// Route returns the route with the given name, or nil.
func (c *Config) Route(name string) *Route {
	for _, r := range c.Routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// IPN returns the ipn with the given name, or nil.
func (c *Config) IPN(name string) *IPN {
	for _, i := range c.IPNs {
		if i.Name == name {
			return i
		}
	}
	return nil
}
