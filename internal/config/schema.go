package config

import (
	"sort"

	"github.com/hashicorp/hcl/v2"
)

// attrSpec describes one attribute. The decoder's hcl.BodySchema, the
// "accepts:" hints in diagnostics and the reference in docs/configuration.md (checked by a
// test) all come from these tables, so they cannot drift apart.
type attrSpec struct {
	Name      string
	Type      string // as documented: string, number, list(string), duration, cron, url, reference, secret
	Required  bool
	Default   string // human-readable; "" = none
	Doc       string
	Sensitive bool // decoded into secret.Value
}

// blockSpec describes one block type (for provider: one kind).
type blockSpec struct {
	Type   string   // "state", "provider", "route", "forward" ...
	Labels []string // label names
	Kind   string   // provider kind, "" for other blocks
	Doc    string
	Attrs  []attrSpec
	Blocks []*blockSpec // nested blocks
}

// Provider kinds.
const (
	KindPesaPal   = "pesapal"
	KindClickPesa = "clickpesa"
	KindAzamPay   = "azampay"
)

// Kinds returns the provider kinds finconnectd supports, in a stable order.
func Kinds() []string { return []string{KindPesaPal, KindClickPesa, KindAzamPay} }

// Schedule names.
const (
	ScheduleReconcile    = "reconcile"
	ScheduleRefreshKeys  = "refresh_keys"
	ScheduleSyncPayments = "sync_payments"
	// ScheduleReconcilePayments: reconcile the previous day's payments
	// with the providers' records (off unless declared).
	ScheduleReconcilePayments = "reconcile_payments"
)

func scheduleNames() []string {
	return []string{ScheduleReconcile, ScheduleRefreshKeys, ScheduleSyncPayments, ScheduleReconcilePayments}
}

// language is the set of block specs, in the order docs/configuration.md documents them.
type language []*blockSpec

// specs returns the whole language. It builds fresh values on every call:
// nothing here is shared mutable state (a decoder builds it once per Load).
func specs() language {
	env := attrSpec{Name: "environment", Type: "string", Required: true,
		Doc: "`sandbox` or `live`; picks the documented base URLs. `live` requires https URLs."}
	return language{
		{Type: "state", Doc: "Where finconnectd keeps state (IPN registrations, keys, payments, events). At most one.",
			Attrs: []attrSpec{
				{Name: "backend", Type: "string", Default: `"sqlite"`, Doc: "`sqlite` or `postgres` (several replicas)."},
				{Name: "path", Type: "string", Default: "`finconnect.db` beside the configuration", Doc: "SQLite file; relative paths are resolved against the configuration's directory."},
				{Name: "dsn", Type: "secret", Sensitive: true, Doc: "PostgreSQL connection string; required when `backend = \"postgres\"`."},
			}},
		{Type: "server", Doc: "The public listener that receives provider webhooks (route paths). At most one.",
			Attrs: []attrSpec{
				{Name: "listen", Type: "string", Default: `":8080"`, Doc: "host:port to listen on."},
				{Name: "public_url", Type: "url", Doc: "The URL providers reach this listener at, e.g. `https://pay.example.com`; https when any provider is `live` (http only on a loopback or private host)."},
			}},
		{Type: "api", Doc: "The private listener: pay API, events, health, metrics. At most one.",
			Attrs: []attrSpec{
				{Name: "listen", Type: "string", Default: `"127.0.0.1:8081"`, Doc: "host:port, or `unix:/path` for a socket."},
				{Name: "tokens", Type: "list(secret)", Sensitive: true, Default: "`[]`", Doc: "Unnamed bearer tokens with the scopes `payments` and `events` (what every token could do before scopes existed); use `env()` or `file()`. Prefer `token` blocks. With neither, serve refuses every API call (warning)."},
				{Name: "access_log", Type: "string", Default: `"info"`, Doc: "Level each API request is logged at (method, route, status, duration, request ID): `debug`, `info`, `warn` or `off`; health and metrics requests one level lower. Answers of 500 and above are always logged, at error, with their error."},
			},
			Blocks: []*blockSpec{
				{Type: "token", Labels: []string{"name"}, Doc: "A named bearer token and what it may do. The name appears in logs and in the audit trail, never the value. Any number; names and values are unique.",
					Attrs: []attrSpec{
						{Name: "value", Type: "secret", Required: true, Sensitive: true, Doc: "The token, sent as `Authorization: Bearer VALUE`; use `env()` or `file()`."},
						{Name: "scopes", Type: "list(string)", Required: true, Doc: scopesDoc()},
					}},
			}},
		{Type: "provider", Labels: []string{"kind", "name"}, Kind: KindPesaPal, Doc: "A PesaPal API 3.0 account. Referenced as `provider.pesapal.NAME`.",
			Attrs: []attrSpec{
				env,
				{Name: "consumer_key", Type: "secret", Required: true, Sensitive: true, Doc: "PesaPal consumer key."},
				{Name: "consumer_secret", Type: "secret", Required: true, Sensitive: true, Doc: "PesaPal consumer secret."},
				{Name: "base_url", Type: "url", Default: "sandbox `" + pesapalSandboxURL + "`, live `" + pesapalLiveURL + "`", Doc: "Override, e.g. the emulator `http://127.0.0.1:9999/pesapal`."},
			}},
		{Type: "provider", Labels: []string{"kind", "name"}, Kind: KindClickPesa, Doc: "A ClickPesa account (Tanzania). ClickPesa has no sandbox. Referenced as `provider.clickpesa.NAME`.",
			Attrs: []attrSpec{
				{Name: "environment", Type: "string", Default: `"live"`, Doc: "`live`, or `sandbox` with `base_url` pointing at the emulator."},
				{Name: "client_id", Type: "secret", Required: true, Sensitive: true, Doc: "ClickPesa client ID."},
				{Name: "api_key", Type: "secret", Required: true, Sensitive: true, Doc: "ClickPesa API key."},
				{Name: "checksum_key", Type: "secret", Sensitive: true, Default: "none: checksums off", Doc: "Checksum key: requests are signed and webhooks verified when set."},
				{Name: "checksum_method", Type: "string", Default: `"canonical"`, Doc: "`canonical` or `legacy`: how the checksum is computed (docs/providers/clickpesa.md)."},
				{Name: "base_url", Type: "url", Default: "`" + clickpesaLiveURL + "`", Doc: "Override, e.g. the emulator `http://127.0.0.1:9999/clickpesa`; required for `sandbox`."},
				{Name: "refund_by_payout", Type: "bool", Default: "`false`", Doc: "ClickPesa has no refund of a collection: with `true`, `POST /v1/payments/{id}/refunds` pays the payer back as a mobile-money payout to the number that paid (the `payouts` limits apply)."},
			}},
		{Type: "provider", Labels: []string{"kind", "name"}, Kind: KindAzamPay, Doc: "An AzamPay account (Tanzania). Its callback public key is the state resource `key.azampay.NAME`.",
			Attrs: []attrSpec{
				env,
				{Name: "app_name", Type: "string", Required: true, Doc: "The application name registered at AzamPay."},
				{Name: "client_id", Type: "secret", Required: true, Sensitive: true, Doc: "AzamPay client ID."},
				{Name: "client_secret", Type: "secret", Required: true, Sensitive: true, Doc: "AzamPay client secret."},
				{Name: "api_key", Type: "secret", Required: true, Sensitive: true, Doc: "AzamPay API key (sent as `X-API-Key`)."},
				{Name: "auth_url", Type: "url", Default: "sandbox `" + azampayAuthSandboxURL + "`, live `" + azampayAuthLiveURL + "`", Doc: "Authenticator base URL; e.g. `http://127.0.0.1:9999/azampay-auth`."},
				{Name: "base_url", Type: "url", Default: "sandbox `" + azampaySandboxURL + "`, live `" + azampayLiveURL + "`", Doc: "Checkout base URL; e.g. `http://127.0.0.1:9999/azampay`."},
				{Name: "public_key_url", Type: "url", Default: "`base_url` + `" + azampayPublicKeyPath + "`", Doc: "Where the callback-signing public key is fetched."},
				{Name: "phone_format", Type: "string", Default: `"local"`, Doc: "`local` (07…) or `international` (2557…): the phone form sent to AzamPay."},
				{Name: "refund_by_payout", Type: "bool", Default: "`false`", Doc: "AzamPay has no refund of a checkout: with `true` (and disbursement set up), `POST /v1/payments/{id}/refunds` pays the payer back as a disbursement to the number that paid (Airtel and Tigo wallets; the `payouts` limits apply)."},
				{Name: "disbursement_url", Type: "url", Default: "sandbox `" + azampayDisburseSandboxURL + "`, live `" + azampayDisburseLiveURL + "`", Doc: "AzamPay's disbursement host; e.g. `http://127.0.0.1:9999/azampay-disbursement`."},
				{Name: "disbursement_key", Type: "secret", Sensitive: true, Doc: "The RSA public key (PEM) AzamPay gives the merchant for disbursement checksums; use `file()`. With `disbursement_account`, payouts may go out through this provider."},
				{Name: "disbursement_account", Type: "string", Doc: "The merchant's account (wallet number) disbursements are paid from, as AzamPay assigned it."},
				{Name: "disbursement_name", Type: "string", Default: "`app_name`", Doc: "The full name of that account, sent as the disbursement's source."},
				{Name: "disbursement_wallet", Type: "string", Default: `"azampesa"`, Doc: "The wallet of that account: `azampesa`, `tigo` or `airtel`."},
				{Name: "callback_proof", Type: "string", Default: `"signature_or_query"`, Doc: "What proves a callback: `signature_or_query` (a signature that verifies and matches the stored payment; an unsigned callback is confirmed with a status query), `signature` (unsigned callbacks are refused with 401) or `query` (every callback is confirmed with a status query). A signature that is present and wrong is always 401."},
			}},
		{Type: "ipn", Labels: []string{"name"}, Doc: "A PesaPal IPN endpoint that `apply` registers at PesaPal (state address `ipn.NAME`).",
			Attrs: []attrSpec{
				{Name: "provider", Type: "reference", Required: true, Doc: "A PesaPal provider: `provider.pesapal.NAME`."},
				{Name: "url", Type: "url", Required: true, Doc: "The URL PesaPal notifies; its path should be a `route` path (warning otherwise). https for live providers."},
				{Name: "notification_type", Type: "string", Default: `"POST"`, Doc: "`GET` or `POST`."},
			}},
		{Type: "route", Labels: []string{"name"}, Doc: "Where one provider's webhooks arrive (on `server.listen`) and where verified events are delivered.",
			Attrs: []attrSpec{
				{Name: "provider", Type: "reference", Required: true, Doc: "`provider.KIND.NAME`."},
				{Name: "path", Type: "string", Required: true, Doc: "URL path served on `server.listen`; starts with `/`, unique."},
				{Name: "events", Type: "list(string)", Default: "all", Doc: "Event types delivered: `payment.succeeded`, `payment.failed`, `payment.reversed`, `payment.pending`, `payment.refunded`, `payment.partially_refunded`, `payout.succeeded`, `payout.failed`, `payout.reversed`, `refund.succeeded`, `refund.failed`, `reconciliation.difference`."},
			},
			Blocks: []*blockSpec{
				{Type: "forward", Doc: "Where events are delivered (Standard Webhooks). Exactly one per route.",
					Attrs: []attrSpec{
						{Name: "url", Type: "url", Required: true, Doc: "http(s) URL. For live providers https, or http on a loopback/private address."},
						{Name: "secret", Type: "secret", Required: true, Sensitive: true, Doc: "Standard Webhooks signing secret: `whsec_` + base64 (24–64 bytes)."},
						{Name: "timeout", Type: "duration", Default: `"10s"`, Doc: "Per-attempt timeout."},
						{Name: "concurrency", Type: "number", Default: "16", Doc: "How many deliveries of this route are POSTed at once, 1 to 64. Lower it for a receiver that cannot take that many requests in parallel; events may arrive out of order whenever it is above 1."},
					}},
				{Type: "retry", Doc: "How long delivery is retried before the event is `dead`. At most one per route.",
					Attrs: []attrSpec{
						{Name: "max_attempts", Type: "number", Default: "15", Doc: "1 to 100."},
						{Name: "max_age", Type: "duration", Default: `"72h"`, Doc: "Measured from the event's creation."},
					}},
			}},
		{Type: "payouts", Doc: "Guardrails of money going out: payouts, and refunds paid as payouts (docs/money-out.md). At most one. Without it any destination is allowed and nothing is limited.",
			Attrs: []attrSpec{
				{Name: "allowed_phone_prefixes", Type: "list(string)", Default: "any number", Doc: "The only mobile-money numbers a payout may go to, as international digits (`\"2557\"`, `\"255754\"`; `0…` is read as `255…`). A refund goes back to the payer's number and is not restricted by it."},
				{Name: "allowed_banks", Type: "list(string)", Default: "any bank", Doc: "The only banks a bank payout may go to: the provider's bank codes (BIC, e.g. `\"CORUTZTZ\"`), compared without case."},
			},
			Blocks: []*blockSpec{
				{Type: "limit", Labels: []string{"currency"}, Doc: "Limits of one currency (`limit \"TZS\"`), at most one block per currency. A payout over either limit is refused with 422 naming `amount` and what is left; nothing is stored or sent. The rolling total is checked and the payout stored in one atomic step of the state store, so concurrent requests and several replicas never exceed it.",
					Attrs: []attrSpec{
						{Name: "max_per_payout", Type: "amount", Default: "no limit", Doc: "The most one payout (or refund paid as a payout) may send: a decimal, string or number, e.g. `\"500000\"`."},
						{Name: "max_per_24h", Type: "amount", Default: "no limit", Doc: "The most all payouts of the last 24 hours (rolling; failed ones do not count) may send together."},
					}},
			}},
		{Type: "schedule", Labels: []string{"name"}, Doc: "The daemon's periodic jobs: `reconcile`, `refresh_keys`, `sync_payments`, `reconcile_payments` (each run reconciles every provider's payments of the previous day, in the daemon's local time, with the provider's records; see [reconciliation.md](reconciliation.md)). Each at most once.",
			Attrs: []attrSpec{
				{Name: "cron", Type: "cron", Required: true, Default: "reconcile `*/15 * * * *`, refresh_keys `@hourly`, sync_payments `@every 1m`, reconcile_payments never", Doc: "robfig/cron spec: 5 fields, or `@every 1m`, `@hourly`, …"},
			}},
	}
}

// provider returns the spec of one provider kind, or nil.
func (l language) provider(kind string) *blockSpec {
	for _, s := range l {
		if s.Type == "provider" && s.Kind == kind {
			return s
		}
	}
	return nil
}

// top returns the spec of a non-provider top-level block.
func (l language) top(typ string) *blockSpec {
	for _, s := range l {
		if s.Type == typ && s.Kind == "" {
			return s
		}
	}
	return nil
}

// bodySchema is the hcl schema of a block's body.
func (s *blockSpec) bodySchema() *hcl.BodySchema {
	bs := &hcl.BodySchema{}
	for _, a := range s.Attrs {
		// Required is checked by the decoder so its message can say how to fix it.
		bs.Attributes = append(bs.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	for _, b := range s.Blocks {
		bs.Blocks = append(bs.Blocks, hcl.BlockHeaderSchema{Type: b.Type, LabelNames: b.Labels})
	}
	return bs
}

func (s *blockSpec) attrNames() []string {
	names := make([]string, 0, len(s.Attrs))
	for _, a := range s.Attrs {
		names = append(names, a.Name)
	}
	return names
}

func (s *blockSpec) attr(name string) *attrSpec {
	for i := range s.Attrs {
		if s.Attrs[i].Name == name {
			return &s.Attrs[i]
		}
	}
	return nil
}

// topSchema is the schema of a file's top level.
func (l language) topSchema() *hcl.BodySchema {
	bs := &hcl.BodySchema{}
	seen := map[string]bool{}
	for _, s := range l {
		if seen[s.Type] {
			continue
		}
		seen[s.Type] = true
		bs.Blocks = append(bs.Blocks, hcl.BlockHeaderSchema{Type: s.Type, LabelNames: s.Labels})
	}
	return bs
}

func (l language) topBlockTypes() []string {
	var out []string
	for _, b := range l.topSchema().Blocks {
		out = append(out, b.Type)
	}
	return out
}

// otherKindsWith returns the provider kinds (other than kind) that accept
// attribute name, sorted.
func (l language) otherKindsWith(kind, name string) []string {
	var out []string
	for _, k := range Kinds() {
		if k != kind && l.provider(k).attr(name) != nil {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
