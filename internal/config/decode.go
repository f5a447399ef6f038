package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/finconnectd/finconnectd/internal/secret"
)

// decoder holds the state of one Load.
type decoder struct {
	lookupEnv func(string) (string, bool)
	lang      language
	cfg       *Config
	diags     hcl.Diagnostics
	secrets   map[string]struct{} // every value env()/file() produced
	ctxs      map[*srcFile]*hcl.EvalContext

	providers map[string]*Provider // by ID
	// ranges kept for cross-block checks
	ipnURLs     map[*IPN]hcl.Range
	routePaths  map[string]*Route
	singletons  map[string]hcl.Range
	scheduleSet map[string]hcl.Range
}

func newDecoder(lookupEnv func(string) (string, bool), dir string) *decoder {
	return &decoder{
		lookupEnv:   lookupEnv,
		lang:        specs(),
		cfg:         &Config{Dir: dir},
		secrets:     map[string]struct{}{},
		ctxs:        map[*srcFile]*hcl.EvalContext{},
		providers:   map[string]*Provider{},
		ipnURLs:     map[*IPN]hcl.Range{},
		routePaths:  map[string]*Route{},
		singletons:  map[string]hcl.Range{},
		scheduleSet: map[string]hcl.Range{},
	}
}

type fileBlock struct {
	f *srcFile
	b *hcl.Block
}

func (d *decoder) errorf(rng *hcl.Range, summary, detail string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng})
}

func (d *decoder) warnf(rng *hcl.Range, summary, detail string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng})
}

// at formats a range as FILE:LINE for "the first one is at" details.
func at(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// show renders a value for a diagnostic: never a sensitive one.
func show(v string, sens bool) string {
	if sens {
		return secret.Redacted
	}
	return fmt.Sprintf("%q", v)
}

func rng(r hcl.Range) *hcl.Range { return &r }

func (d *decoder) decode(files []*srcFile) {
	byType := map[string][]fileBlock{}
	for _, f := range files {
		content, diags := f.file.Body.Content(d.lang.topSchema())
		d.diags = append(d.diags, explainUnsupported(diags, "The top level of a configuration file", d.lang.topBlockTypes(), true)...)
		for _, b := range content.Blocks {
			byType[b.Type] = append(byType[b.Type], fileBlock{f, b})
		}
	}

	// Providers first: every other block refers to them.
	provBlocks := map[*Provider]fileBlock{}
	for _, fb := range byType["provider"] {
		if p := d.declareProvider(fb.b); p != nil {
			provBlocks[p] = fb
		}
	}
	vars := d.providerVariables()
	for _, f := range files {
		d.ctxs[f] = &hcl.EvalContext{
			Variables: vars,
			Functions: functions(f.dir, d.lookupEnv, d.record),
		}
	}
	for _, p := range d.cfg.Providers {
		fb := provBlocks[p]
		d.decodeProvider(p, fb.b, d.ctxs[fb.f])
	}

	d.cfg.State = StateConfig{Backend: defaultStateBackend, Path: filepath.Join(d.cfg.Dir, defaultStateFile)}
	d.cfg.Server = ServerConfig{Listen: defaultServerListen}
	d.cfg.API = APIConfig{Listen: defaultAPIListen, AccessLog: defaultAccessLog}
	d.cfg.Schedules = DefaultSchedules()

	for _, fb := range byType["state"] {
		if d.singleton(fb.b) {
			d.decodeState(fb.b, d.ctxs[fb.f])
		}
	}
	for _, fb := range byType["server"] {
		if d.singleton(fb.b) {
			d.decodeServer(fb.b, d.ctxs[fb.f])
		}
	}
	apiSeen := false
	for _, fb := range byType["api"] {
		if d.singleton(fb.b) {
			apiSeen = true
			d.decodeAPI(fb.b, d.ctxs[fb.f])
		}
	}
	if !apiSeen {
		d.warnf(nil, "No API tokens", "There is no api block, so the API accepts no token and serve refuses every API call. Add api { token \"shop\" { value = env(\"SHOP_TOKEN\") scopes = [\"payments\"] } }.")
	}
	for _, fb := range byType["ipn"] {
		d.decodeIPN(fb.b, d.ctxs[fb.f])
	}
	for _, fb := range byType["route"] {
		d.decodeRoute(fb.b, d.ctxs[fb.f])
	}
	for _, fb := range byType["schedule"] {
		d.decodeSchedule(fb.b, d.ctxs[fb.f])
	}
	for _, fb := range byType["payouts"] {
		if d.singleton(fb.b) {
			d.decodePayouts(fb.b, d.ctxs[fb.f])
		}
	}
	d.checkIPNPaths()
}

// record remembers a value env() or file() produced, for scrub.
func (d *decoder) record(s string) {
	if s != "" {
		d.secrets[s] = struct{}{}
	}
}

// explainUnsupported appends to hcl's "Unsupported argument/block type"
// details the list of what the block accepts.
func explainUnsupported(diags hcl.Diagnostics, what string, blocks []string, topLevel bool) hcl.Diagnostics {
	for _, dg := range diags {
		switch {
		case strings.HasPrefix(dg.Summary, "Missing name for ") || strings.HasPrefix(dg.Summary, "Extraneous label for "):
			dg.Detail += " Write it as " + labelExample(strings.TrimPrefix(strings.TrimPrefix(dg.Summary, "Missing name for "), "Extraneous label for ")) + "."
			continue
		}
		switch dg.Summary {
		case "Unsupported argument":
			if topLevel {
				dg.Detail += fmt.Sprintf(" %s holds only blocks (%s); move the argument into one of them.", what, strings.Join(blocks, ", "))
			}
		case "Unsupported block type":
			if len(blocks) == 0 {
				dg.Detail += fmt.Sprintf(" %s takes no nested blocks; remove it.", what)
			} else {
				dg.Detail += fmt.Sprintf(" %s accepts the blocks %s.", what, strings.Join(blocks, ", "))
			}
		}
	}
	return diags
}

// body decodes b's body against spec, reporting unknown arguments and
// blocks with what the block accepts, and missing required arguments.
func (d *decoder) body(b *hcl.Block, spec *blockSpec, what string, ctx *hcl.EvalContext) *attrReader {
	content, diags := b.Body.Content(spec.bodySchema())
	if content == nil {
		content = &hcl.BodyContent{}
	}
	var nested []string
	for _, nb := range spec.Blocks {
		nested = append(nested, nb.Type)
	}
	for _, dg := range diags {
		if dg.Summary == "Unsupported argument" {
			dg.Detail += fmt.Sprintf(" %s accepts: %s.", capitalize(what), strings.Join(spec.attrNames(), ", "))
		}
	}
	d.diags = append(d.diags, explainUnsupported(diags, capitalize(what), nested, false)...)
	r := &attrReader{d: d, ctx: ctx, attrs: content.Attributes, blocks: content.Blocks, what: what}
	for _, a := range spec.Attrs {
		if !a.Required {
			continue
		}
		if _, ok := content.Attributes[a.Name]; !ok {
			example := `"..."`
			switch {
			case a.Sensitive:
				example = fmt.Sprintf(`env("%s")`, strings.ToUpper(a.Name))
			case a.Type == "reference":
				example = "provider.KIND.NAME"
			case a.Type == "list(string)":
				example = `["..."]`
			}
			d.errorf(rng(b.DefRange), "Missing required argument",
				"%s needs %s: %s Add %s = %s to the block.", capitalize(what), a.Name, strings.ReplaceAll(a.Doc, "`", ""), a.Name, example)
		}
	}
	return r
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// singleton reports whether b is the first block of its type; later ones are
// diagnosed.
func (d *decoder) singleton(b *hcl.Block) bool {
	if first, ok := d.singletons[b.Type]; ok {
		d.errorf(rng(b.DefRange), "Duplicate "+b.Type+" block",
			"A configuration has at most one %s block, and the first one is at %s. Merge the two blocks.", b.Type, at(first))
		return false
	}
	d.singletons[b.Type] = b.DefRange
	return true
}

// validName checks a block label used as a name.
func (d *decoder) validName(b *hcl.Block, i int, what string) bool {
	if hclsyntax.ValidIdentifier(b.Labels[i]) {
		return true
	}
	d.errorf(rng(b.LabelRanges[i]), "Invalid "+what+" name",
		"%q is not a valid name: a name starts with a letter and contains only letters, digits, underscores and dashes. Rename it.", b.Labels[i])
	return false
}

// ---- providers ----

func (d *decoder) declareProvider(b *hcl.Block) *Provider {
	kind, name := b.Labels[0], b.Labels[1]
	if d.lang.provider(kind) == nil {
		d.errorf(rng(b.LabelRanges[0]), "Unknown provider kind",
			"finconnectd supports the provider kinds %s; %q is not one of them. Fix the first label.", quoteListAnd(Kinds()), kind)
		return nil
	}
	if !d.validName(b, 1, "provider") {
		return nil
	}
	p := &Provider{Kind: kind, Name: name, DeclRange: b.DefRange}
	if first, ok := d.providers[p.ID()]; ok {
		d.errorf(rng(b.DefRange), "Duplicate provider",
			"A %s block is already declared at %s; each kind and name pair must be unique. Rename or remove one of them.", p.Block(), at(first.DeclRange))
		return nil
	}
	d.providers[p.ID()] = p
	d.cfg.Providers = append(d.cfg.Providers, p)
	return p
}

// providerVariables is the `provider` variable: provider.KIND.NAME objects.
func (d *decoder) providerVariables() map[string]cty.Value {
	byKind := map[string]map[string]cty.Value{}
	for _, p := range d.cfg.Providers {
		if byKind[p.Kind] == nil {
			byKind[p.Kind] = map[string]cty.Value{}
		}
		byKind[p.Kind][p.Name] = cty.ObjectVal(map[string]cty.Value{
			"id":   cty.StringVal(p.ID()),
			"kind": cty.StringVal(p.Kind),
			"name": cty.StringVal(p.Name),
		})
	}
	kinds := map[string]cty.Value{}
	for k, m := range byKind {
		kinds[k] = cty.ObjectVal(m)
	}
	return map[string]cty.Value{"provider": cty.ObjectVal(kinds)}
}

func (d *decoder) decodeProvider(p *Provider, b *hcl.Block, ctx *hcl.EvalContext) {
	spec := d.lang.provider(p.Kind)
	what := fmt.Sprintf("a %s provider", p.Kind)

	// Arguments of another kind get a precise message instead of hcl's
	// generic one.
	foreign := map[hcl.Pos]bool{}
	var foreignDiags hcl.Diagnostics
	if sb, ok := b.Body.(*hclsyntax.Body); ok {
		for name, attr := range sb.Attributes {
			if spec.attr(name) != nil {
				continue
			}
			if others := d.lang.otherKindsWith(p.Kind, name); len(others) > 0 {
				foreign[attr.NameRange.Start] = true
				foreignDiags = append(foreignDiags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Unsupported argument", Subject: rng(attr.NameRange),
					Detail: fmt.Sprintf("%s is an argument of %s providers, not of %s providers. A %s provider accepts: %s.",
						name, strings.Join(others, " and "), p.Kind, p.Kind, strings.Join(spec.attrNames(), ", ")),
				})
			}
		}
	}
	before := len(d.diags)
	r := d.body(b, spec, what, ctx)
	// Replace hcl's generic message for arguments of another kind.
	kept := d.diags[:before]
	for _, dg := range d.diags[before:] {
		if dg.Summary == "Unsupported argument" && dg.Subject != nil && foreign[dg.Subject.Start] {
			continue
		}
		kept = append(kept, dg)
	}
	d.diags = append(kept, foreignDiags...)

	envAttr, envOK := r.attrs["environment"]
	env, _, ok := r.enum("environment", []string{EnvSandbox, EnvLive})
	switch {
	case !ok && envOK:
		// invalid value, already reported
	case !envOK && p.Kind == KindClickPesa:
		env = defaultClickPesaEnv
	}
	p.Environment = env
	live := env == EnvLive
	base, auth, known := defaultBaseURLs(p.Kind, env)

	switch p.Kind {
	case KindPesaPal:
		c := &PesaPalConfig{}
		c.ConsumerKey, _ = r.secret("consumer_key")
		c.ConsumerSecret, _ = r.secret("consumer_secret")
		c.BaseURL = r.providerURL("base_url", base, live)
		p.PesaPal = c
	case KindClickPesa:
		c := &ClickPesaConfig{}
		c.ClientID, _ = r.secret("client_id")
		c.APIKey, _ = r.secret("api_key")
		c.ChecksumKey, _ = r.secret("checksum_key")
		c.ChecksumMethod = defaultChecksumMethod
		if v, _, ok := r.enum("checksum_method", []string{"canonical", "legacy"}); ok {
			c.ChecksumMethod = v
		}
		c.BaseURL = r.providerURL("base_url", base, live)
		c.RefundByPayout, _ = r.boolean("refund_by_payout")
		if !known && envOK && env == EnvSandbox && c.BaseURL == "" {
			d.errorf(rng(envAttr.Expr.Range()), "ClickPesa has no sandbox",
				"ClickPesa does not offer a sandbox environment. Point base_url at the emulator (finconnectd sandbox), e.g. base_url = \"http://127.0.0.1:9999/clickpesa\", or use environment = \"live\".")
		}
		p.ClickPesa = c
	case KindAzamPay:
		c := &AzamPayConfig{PhoneFormat: defaultPhoneFormat}
		c.AppName, _, _ = r.str("app_name")
		c.ClientID, _ = r.secret("client_id")
		c.ClientSecret, _ = r.secret("client_secret")
		c.APIKey, _ = r.secret("api_key")
		c.AuthURL = r.providerURL("auth_url", auth, live)
		c.BaseURL = r.providerURL("base_url", base, live)
		pk := ""
		if c.BaseURL != "" {
			pk = strings.TrimSuffix(c.BaseURL, "/") + azampayPublicKeyPath
		}
		c.PublicKeyURL = r.providerURL("public_key_url", pk, live)
		if v, _, ok := r.enum("phone_format", []string{"local", "international"}); ok {
			c.PhoneFormat = v
		}
		c.RefundByPayout, _ = r.boolean("refund_by_payout")
		c.CallbackProof = ProofSignatureOrQuery
		if v, _, ok := r.enum("callback_proof", []string{ProofSignatureOrQuery, ProofSignature, ProofQuery}); ok {
			c.CallbackProof = v
		}
		dsb := azampayDisburseSandboxURL
		if live {
			dsb = azampayDisburseLiveURL
		}
		c.DisbursementURL = r.providerURL("disbursement_url", dsb, live)
		if k, ok := r.secret("disbursement_key"); ok {
			if msg := checkPublicKeyPEM(k.Reveal()); msg != "" {
				d.errorf(rng(r.attrs["disbursement_key"].Expr.Range()), "Invalid disbursement key", "%s", msg)
			} else {
				c.DisbursementKey = k
			}
		}
		c.DisbursementAccount, _, _ = r.str("disbursement_account")
		c.DisbursementAccount = strings.TrimSpace(c.DisbursementAccount)
		c.DisbursementName, _, _ = r.str("disbursement_name")
		if strings.TrimSpace(c.DisbursementName) == "" {
			c.DisbursementName = c.AppName
		}
		c.DisbursementWallet = "azampesa"
		if v, _, ok := r.enum("disbursement_wallet", []string{"azampesa", "tigo", "airtel"}); ok {
			c.DisbursementWallet = v
		}
		_, hasKey := r.attrs["disbursement_key"]
		_, hasAcct := r.attrs["disbursement_account"]
		if hasKey != hasAcct {
			d.errorf(rng(b.DefRange), "Incomplete disbursement settings",
				"Payouts through %s need both disbursement_key and disbursement_account; add the missing one, or remove the other.", p.Block())
		}
		p.AzamPay = c
	}
}

// ---- state, server, api ----

func (d *decoder) decodeState(b *hcl.Block, ctx *hcl.EvalContext) {
	r := d.body(b, d.lang.top("state"), "the state block", ctx)
	s := &d.cfg.State
	if v, _, ok := r.enum("backend", []string{"sqlite", "postgres"}); ok {
		s.Backend = v
	}
	if v, _, rg, ok := r.strAt("path"); ok {
		if strings.TrimSpace(v) == "" {
			d.errorf(rng(rg), "Empty state path", "state.path must name a file; remove it to use finconnect.db beside the configuration.")
		} else if !filepath.IsAbs(v) {
			s.Path = filepath.Join(d.cfg.Dir, v)
		} else {
			s.Path = filepath.Clean(v)
		}
	}
	dsn, hasDSN := r.secret("dsn")
	s.DSN = dsn
	switch s.Backend {
	case "postgres":
		if !hasDSN || dsn.IsZero() {
			rg := b.DefRange
			if a, ok := r.attrs["backend"]; ok {
				rg = a.Expr.Range()
			}
			d.errorf(rng(rg), "Missing PostgreSQL connection string",
				"The postgres backend needs dsn, the connection string. Add dsn = env(\"FINCONNECT_DATABASE_URL\") to the state block.")
		}
		if a, ok := r.attrs["path"]; ok {
			d.warnf(rng(a.NameRange), "Argument ignored", "path is used only by the sqlite backend; remove it.")
		}
	case "sqlite":
		if a, ok := r.attrs["dsn"]; ok {
			d.warnf(rng(a.NameRange), "Argument ignored", "dsn is used only by the postgres backend; remove it, or set backend = \"postgres\".")
		}
	}
}

func (d *decoder) decodeServer(b *hcl.Block, ctx *hcl.EvalContext) {
	r := d.body(b, d.lang.top("server"), "the server block", ctx)
	if v, sens, rg, ok := r.strAt("listen"); ok {
		if checkListen(v, false) {
			d.cfg.Server.Listen = v
		} else {
			d.errorf(rng(rg), "Invalid listen address",
				"%s is not a listen address; write host:port, e.g. \":8080\" or \"0.0.0.0:8080\".", show(v, sens))
		}
	}
	// Providers call public_url: with any live provider it must be https
	// (plain http only on a loopback or private host, e.g. behind a proxy).
	live := false
	for _, p := range d.cfg.Providers {
		live = live || p.Environment == EnvLive
	}
	if v, ok := r.url("public_url", live, true); ok {
		d.cfg.Server.PublicURL = strings.TrimSuffix(v, "/")
	}
}

func (d *decoder) decodeAPI(b *hcl.Block, ctx *hcl.EvalContext) {
	r := d.body(b, d.lang.top("api"), "the api block", ctx)
	if v, sens, rg, ok := r.strAt("listen"); ok {
		if checkListen(v, true) {
			d.cfg.API.Listen = v
		} else {
			d.errorf(rng(rg), "Invalid listen address",
				"%s is not a listen address; write host:port, e.g. \"127.0.0.1:8081\", or unix:/absolute/path for a socket.", show(v, sens))
		}
	}
	if v, _, ok := r.enum("access_log", AccessLogLevels()); ok {
		d.cfg.API.AccessLog = v
	}
	spec := d.lang.top("api")
	for _, tb := range r.blocks {
		if tb.Type == "token" {
			d.decodeToken(tb, spec.Blocks[0], ctx)
		}
	}
	toks, rg, ok := r.secretList("tokens")
	for i, v := range toks {
		d.addToken(APIToken{Name: fmt.Sprintf("tokens[%d]", i), Value: v, Scopes: ListTokenScopes(), DeclRange: *rg}, rg)
	}
	switch {
	case len(d.cfg.API.Tokens) > 0:
	case !ok && rg == nil:
		if !blocksHave(r.blocks, "token") {
			d.warnf(rng(b.DefRange), "No API tokens",
				"The api block has no tokens, so serve refuses every API call. Add a token block, e.g. token \"shop\" { value = env(\"SHOP_TOKEN\") scopes = [\"payments\"] }.")
		}
	case ok && len(toks) == 0:
		d.warnf(rg, "No API tokens",
			"tokens is empty, so serve refuses every API call. Add a token block, e.g. token \"shop\" { value = env(\"SHOP_TOKEN\") scopes = [\"payments\"] }.")
	}
}

func blocksHave(bs hcl.Blocks, typ string) bool {
	for _, b := range bs {
		if b.Type == typ {
			return true
		}
	}
	return false
}

// decodeToken reads a token "NAME" block of the api block.
func (d *decoder) decodeToken(b *hcl.Block, spec *blockSpec, ctx *hcl.EvalContext) {
	name := b.Labels[0]
	validName := d.validName(b, 0, "token")
	what := fmt.Sprintf("token %q", name)
	r := d.body(b, spec, what, ctx)
	tok := APIToken{Name: name, DeclRange: b.DefRange}
	value, valueOK := r.secret("value")
	tok.Value = value
	scopesOK := false
	if scopes, sens, rg, ok := r.strList("scopes"); ok {
		scopesOK = true
		if len(scopes) == 0 {
			d.errorf(rg, "No scopes", "scopes is empty, so %s could do nothing. List what it may do: %s.", what, quoteList(Scopes()))
			scopesOK = false
		}
		seen := map[string]bool{}
		for _, sc := range scopes {
			switch {
			case !contains(Scopes(), sc):
				hint := ""
				for _, known := range Scopes() {
					if !sens && strings.EqualFold(known, sc) {
						hint = fmt.Sprintf(" (did you mean %q?)", known)
					}
				}
				d.errorf(rg, "Unknown scope", "%s is not a scope%s; use %s.", show(sc, sens), hint, quoteList(Scopes()))
				scopesOK = false
			case seen[sc]:
				d.errorf(rg, "Duplicate scope", "%s is listed twice; remove one.", show(sc, sens))
				scopesOK = false
			}
			seen[sc] = true
		}
		tok.Scopes = scopes
	}
	if !validName || !valueOK || !scopesOK {
		return
	}
	for _, other := range d.cfg.API.Tokens {
		if other.Name == name {
			d.errorf(rng(b.LabelRanges[0]), "Duplicate token",
				"A token %q is already declared at %s; token names must be unique. Rename or remove one of them.", name, at(other.DeclRange))
			return
		}
	}
	d.addToken(tok, rng(r.attrs["value"].Expr.Range()))
}

// addToken appends tok unless another token has the same value: a request
// must name exactly one caller.
func (d *decoder) addToken(tok APIToken, rg *hcl.Range) {
	for _, other := range d.cfg.API.Tokens {
		if other.Value.Reveal() == tok.Value.Reveal() {
			d.errorf(rg, "Duplicate token value",
				"%s has the same value as token %q (%s); each token needs its own value so that requests name one caller. Give one of them another value.", tokenLabel(tok.Name), other.Name, at(other.DeclRange))
			return
		}
	}
	d.cfg.API.Tokens = append(d.cfg.API.Tokens, tok)
}

func tokenLabel(name string) string {
	if strings.HasPrefix(name, "tokens[") {
		return "The element " + name
	}
	return fmt.Sprintf("Token %q", name)
}

// ---- ipn, route, schedule ----

func (d *decoder) decodeIPN(b *hcl.Block, ctx *hcl.EvalContext) {
	name := b.Labels[0]
	validName := d.validName(b, 0, "ipn")
	r := d.body(b, d.lang.top("ipn"), fmt.Sprintf("ipn %q", name), ctx)
	ipn := &IPN{Name: name, NotificationType: defaultNotificationType, DeclRange: b.DefRange}
	p := r.providerRef("provider", KindPesaPal, "An ipn registers a URL at PesaPal, so it needs a pesapal provider")
	live := false
	if p != nil {
		ipn.Provider = p.ID()
		live = p.Environment == EnvLive
	}
	if v, ok := r.url("url", live, false); ok {
		ipn.URL = v
		d.ipnURLs[ipn] = r.attrs["url"].Expr.Range()
	}
	if v, _, ok := r.enum("notification_type", []string{"GET", "POST"}); ok {
		ipn.NotificationType = v
	}
	if !validName {
		return
	}
	for _, other := range d.cfg.IPNs {
		if other.Name == name {
			d.errorf(rng(b.DefRange), "Duplicate ipn",
				"An ipn %q is already declared at %s; ipn names must be unique. Rename or remove one of them.", name, at(other.DeclRange))
			return
		}
		if ipn.URL != "" && other.URL == ipn.URL && other.Provider == ipn.Provider {
			d.errorf(rng(d.ipnURLs[ipn]), "Duplicate IPN URL",
				"The ipn %q at %s already registers this URL at the same provider; PesaPal keeps one registration per URL. Remove one of them.", other.Name, at(other.DeclRange))
			return
		}
	}
	d.cfg.IPNs = append(d.cfg.IPNs, ipn)
}

func (d *decoder) decodeRoute(b *hcl.Block, ctx *hcl.EvalContext) {
	name := b.Labels[0]
	validName := d.validName(b, 0, "route")
	spec := d.lang.top("route")
	what := fmt.Sprintf("route %q", name)
	r := d.body(b, spec, what, ctx)
	rt := &Route{
		Name:      name,
		Events:    EventTypes(),
		Forward:   Forward{Timeout: defaultForwardTimeout, Concurrency: DefaultForwardConcurrency},
		Retry:     Retry{MaxAttempts: defaultRetryMaxAttempts, MaxAge: defaultRetryMaxAge},
		DeclRange: b.DefRange,
	}
	p := r.providerRef("provider", "", "")
	live := false
	if p != nil {
		rt.Provider = p.ID()
		live = p.Environment == EnvLive
	}
	pathOK := false
	if v, sens, rg, ok := r.strAt("path"); ok {
		if msg := checkRoutePath(v); msg != "" {
			d.errorf(rng(rg), "Invalid route path", "%s %s.", show(v, sens), msg)
		} else {
			rt.Path = v
			pathOK = true
		}
	}
	if evs, sens, rg, ok := r.strList("events"); ok {
		if len(evs) == 0 {
			d.errorf(rg, "No events", "events is empty, so this route would never deliver anything. List event types, or remove events to deliver them all.")
		}
		valid := EventTypes()
		seen := map[string]bool{}
		good := true
		for _, e := range evs {
			switch {
			case !contains(valid, e):
				d.errorf(rg, "Unknown event type", "%s is not an event type; use %s.", show(e, sens), quoteList(valid))
				good = false
			case seen[e]:
				d.errorf(rg, "Duplicate event type", "%s is listed twice; remove one.", show(e, sens))
				good = false
			}
			seen[e] = true
		}
		if good && len(evs) > 0 {
			rt.Events = evs
		}
	}

	var fwd, retry []*hcl.Block
	for _, nb := range r.blocks {
		switch nb.Type {
		case "forward":
			fwd = append(fwd, nb)
		case "retry":
			retry = append(retry, nb)
		}
	}
	switch {
	case len(fwd) == 0:
		d.errorf(rng(b.DefRange), "Missing forward block",
			"A route delivers events to a forward block; add forward { url = \"https://...\" secret = env(\"WEBHOOK_SECRET\") } to %s.", what)
	default:
		for _, extra := range fwd[1:] {
			d.errorf(rng(extra.DefRange), "Duplicate forward block",
				"A route has exactly one forward block, and the first one is at %s. Use another route to deliver to a second URL.", at(fwd[0].DefRange))
		}
		d.decodeForward(&rt.Forward, fwd[0], spec.Blocks[0], what, live, ctx)
	}
	if len(retry) > 0 {
		for _, extra := range retry[1:] {
			d.errorf(rng(extra.DefRange), "Duplicate retry block",
				"A route has at most one retry block, and the first one is at %s. Merge them.", at(retry[0].DefRange))
		}
		d.decodeRetry(&rt.Retry, retry[0], spec.Blocks[1], what, ctx)
	}

	if !validName {
		return
	}
	for _, other := range d.cfg.Routes {
		if other.Name == name {
			d.errorf(rng(b.DefRange), "Duplicate route",
				"A route %q is already declared at %s; route names must be unique. Rename or remove one of them.", name, at(other.DeclRange))
			return
		}
	}
	if pathOK {
		if other, ok := d.routePaths[rt.Path]; ok {
			d.errorf(rng(r.attrs["path"].Expr.Range()), "Duplicate route path",
				"The route %q at %s already serves %q; each path is served by one route. Choose another path.", other.Name, at(other.DeclRange), rt.Path)
			return
		}
		d.routePaths[rt.Path] = rt
	}
	d.cfg.Routes = append(d.cfg.Routes, rt)
}

func (d *decoder) decodeForward(f *Forward, b *hcl.Block, spec *blockSpec, route string, live bool, ctx *hcl.EvalContext) {
	r := d.body(b, spec, "the forward block of "+route, ctx)
	if v, ok := r.url("url", live, true); ok {
		f.URL = v
	}
	if s, ok := r.secret("secret"); ok {
		if msg, warn := checkWebhookSecret(s.Reveal()); msg != "" {
			a := r.attrs["secret"]
			if warn {
				d.warnf(rng(a.Expr.Range()), "Weak webhook secret", "%s", msg)
			} else {
				d.errorf(rng(a.Expr.Range()), "Invalid webhook secret", "%s", msg)
			}
		}
		f.Secret = s
	}
	if v, ok := r.duration("timeout"); ok {
		f.Timeout = v
	}
	if n, rg, ok := r.integer("concurrency"); ok {
		if n < 1 || n > MaxForwardConcurrency {
			d.errorf(rg, "Invalid concurrency", "concurrency is %d; it must be between 1 and %d.", n, MaxForwardConcurrency)
		} else {
			f.Concurrency = int(n)
		}
	}
}

func (d *decoder) decodeRetry(rt *Retry, b *hcl.Block, spec *blockSpec, route string, ctx *hcl.EvalContext) {
	r := d.body(b, spec, "the retry block of "+route, ctx)
	if n, rg, ok := r.integer("max_attempts"); ok {
		if n < 1 || n > maxRetryAttempts {
			d.errorf(rg, "Invalid max_attempts", "max_attempts is %d; it must be between 1 and %d.", n, maxRetryAttempts)
		} else {
			rt.MaxAttempts = int(n)
		}
	}
	if v, ok := r.duration("max_age"); ok {
		rt.MaxAge = v
	}
}

func (d *decoder) decodeSchedule(b *hcl.Block, ctx *hcl.EvalContext) {
	name := b.Labels[0]
	if !contains(scheduleNames(), name) {
		d.errorf(rng(b.LabelRanges[0]), "Unknown schedule",
			"finconnectd runs the schedules %s; %q is not one of them. Fix the label or remove the block.", quoteListAnd(scheduleNames()), name)
		return
	}
	if first, ok := d.scheduleSet[name]; ok {
		d.errorf(rng(b.DefRange), "Duplicate schedule",
			"The schedule %q is already declared at %s. Remove one of them.", name, at(first))
		return
	}
	d.scheduleSet[name] = b.DefRange
	r := d.body(b, d.lang.top("schedule"), fmt.Sprintf("schedule %q", name), ctx)
	v, sens, rg, ok := r.strAt("cron")
	if !ok {
		return
	}
	if err := checkCron(v); err != nil {
		why := err.Error()
		if sens {
			why = "details hidden: the value is sensitive"
		}
		d.errorf(rng(rg), "Invalid cron spec",
			"%s is not a cron spec (%s). Write 5 fields (minute hour day-of-month month day-of-week), e.g. \"*/15 * * * *\", or a descriptor such as \"@hourly\" or \"@every 1m\".", show(v, sens), why)
		return
	}
	switch name {
	case ScheduleReconcile:
		d.cfg.Schedules.Reconcile = v
	case ScheduleRefreshKeys:
		d.cfg.Schedules.RefreshKeys = v
	case ScheduleSyncPayments:
		d.cfg.Schedules.SyncPayments = v
	case ScheduleReconcilePayments:
		d.cfg.Schedules.ReconcilePayments = v
	}
}

// ---- payouts ----

// checkPublicKeyPEM says what is wrong with an RSA public key in PEM, or "".
func checkPublicKeyPEM(s string) string {
	b, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if b == nil {
		return "The value is not a PEM block (-----BEGIN PUBLIC KEY-----); read the file AzamPay gave you with file(\"PATH\")."
	}
	if _, err := x509.ParsePKCS1PublicKey(b.Bytes); err == nil {
		return ""
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return "The PEM block is not a public key; use the disbursement public key AzamPay gave you."
	}
	if _, ok := pub.(*rsa.PublicKey); !ok {
		return "The key is not an RSA key; AzamPay's disbursement checksums use RSA."
	}
	return ""
}

var (
	currencyRE    = regexp.MustCompile(`^[A-Z]{3}$`)
	limitAmountRE = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,2})?$`)
	bankCodeRE    = regexp.MustCompile(`^[A-Za-z0-9]{2,20}$`)
)

func (d *decoder) decodePayouts(b *hcl.Block, ctx *hcl.EvalContext) {
	spec := d.lang.top("payouts")
	r := d.body(b, spec, "the payouts block", ctx)
	pc := &d.cfg.Payouts
	pc.DeclRange = b.DefRange
	if list, sens, rg, ok := r.strList("allowed_phone_prefixes"); ok {
		if len(list) == 0 {
			d.errorf(rg, "No phone prefixes", "allowed_phone_prefixes is empty, so no mobile-money payout could be sent. List prefixes such as \"2557\", or remove the attribute to allow any number.")
		}
		for _, raw := range list {
			p := strings.TrimPrefix(strings.TrimSpace(raw), "+")
			if strings.HasPrefix(p, "0") {
				p = "255" + p[1:]
			}
			if p == "" || len(p) > 12 || strings.Trim(p, "0123456789") != "" {
				d.errorf(rg, "Invalid phone prefix", "%s is not a phone prefix: write the first digits of an international number, e.g. \"2557\" or \"255754\".", show(raw, sens))
				continue
			}
			if contains(pc.AllowedPhonePrefixes, p) {
				d.errorf(rg, "Duplicate phone prefix", "%s is listed twice; remove one.", show(raw, sens))
				continue
			}
			pc.AllowedPhonePrefixes = append(pc.AllowedPhonePrefixes, p)
		}
	}
	if list, sens, rg, ok := r.strList("allowed_banks"); ok {
		if len(list) == 0 {
			d.errorf(rg, "No banks", "allowed_banks is empty, so no bank payout could be sent. List bank codes such as \"CORUTZTZ\", or remove the attribute to allow any bank.")
		}
		for _, raw := range list {
			code := strings.ToUpper(strings.TrimSpace(raw))
			if !bankCodeRE.MatchString(code) {
				d.errorf(rg, "Invalid bank code", "%s is not a bank code: write the provider's code of the bank (its BIC, letters and digits), e.g. \"CORUTZTZ\".", show(raw, sens))
				continue
			}
			if contains(pc.AllowedBanks, code) {
				d.errorf(rg, "Duplicate bank", "%s is listed twice; remove one.", show(raw, sens))
				continue
			}
			pc.AllowedBanks = append(pc.AllowedBanks, code)
		}
	}
	for _, lb := range r.blocks {
		if lb.Type == "limit" {
			d.decodePayoutLimit(lb, spec.Blocks[0], ctx)
		}
	}
}

func (d *decoder) decodePayoutLimit(b *hcl.Block, spec *blockSpec, ctx *hcl.EvalContext) {
	cur := b.Labels[0]
	what := fmt.Sprintf("limit %q", cur)
	r := d.body(b, spec, what, ctx)
	curOK := currencyRE.MatchString(cur)
	if !curOK {
		hint := ""
		if currencyRE.MatchString(strings.ToUpper(cur)) {
			hint = fmt.Sprintf(" (did you mean %q?)", strings.ToUpper(cur))
		}
		d.errorf(rng(b.LabelRanges[0]), "Invalid currency",
			"%q is not a currency code%s: write the three upper-case letters of ISO 4217, e.g. limit \"TZS\".", cur, hint)
	}
	lim := PayoutLimit{Currency: cur, DeclRange: b.DefRange}
	amount := func(name string) (string, *big.Rat) {
		v, sens, rg, ok := r.strAt(name)
		if !ok {
			return "", nil
		}
		v = strings.TrimSpace(v)
		a, good := new(big.Rat).SetString(v)
		if !limitAmountRE.MatchString(v) || !good || a.Sign() <= 0 {
			d.errorf(rng(rg), "Invalid amount", "%s is not an amount: write a decimal greater than 0 with at most 2 decimals, e.g. \"500000\".", show(v, sens))
			return "", nil
		}
		return v, a
	}
	var perPayout, per24h *big.Rat
	lim.MaxPerPayout, perPayout = amount("max_per_payout")
	lim.MaxPer24h, per24h = amount("max_per_24h")
	_, hasPer := r.attrs["max_per_payout"]
	_, has24 := r.attrs["max_per_24h"]
	if !hasPer && !has24 {
		d.errorf(rng(b.DefRange), "Empty limit",
			"%s limits nothing. Add max_per_payout, max_per_24h or both, e.g. max_per_24h = \"5000000\".", capitalize(what))
	}
	if perPayout != nil && per24h != nil && perPayout.Cmp(per24h) > 0 {
		d.errorf(rng(r.attrs["max_per_payout"].Expr.Range()), "Limit above the daily limit",
			"max_per_payout (%s) is more than max_per_24h (%s), so it could never be reached. Lower it, or raise max_per_24h.", lim.MaxPerPayout, lim.MaxPer24h)
	}
	if !curOK {
		return
	}
	if first := d.cfg.Payouts.Limit(cur); first != nil {
		d.errorf(rng(b.LabelRanges[0]), "Duplicate limit",
			"A limit %q is already declared at %s; each currency has at most one. Merge the two blocks.", cur, at(first.DeclRange))
		return
	}
	d.cfg.Payouts.Limits = append(d.cfg.Payouts.Limits, lim)
}

// checkIPNPaths warns about an ipn whose URL path no route of its provider
// serves: PesaPal's notifications would get 404.
func (d *decoder) checkIPNPaths() {
	for _, ipn := range d.cfg.IPNs {
		rg, ok := d.ipnURLs[ipn]
		if !ok {
			continue
		}
		path := urlPath(ipn.URL)
		rt, ok := d.routePaths[path]
		switch {
		case !ok:
			d.warnf(rng(rg), "IPN URL not served by any route",
				"No route serves the path %q of this URL, so PesaPal's notifications would get 404. Add a route with path = %q and provider = provider.%s, or fix the URL.", path, path, ipn.Provider)
		case ipn.Provider != "" && rt.Provider != "" && rt.Provider != ipn.Provider:
			d.warnf(rng(rg), "IPN URL served by another provider's route",
				"The route %q serving %q is for %s, not %s, so it would reject PesaPal's notifications. Point the URL at a route of provider.%s.", rt.Name, path, rt.Provider, ipn.Provider, ipn.Provider)
		}
	}
}

// ---- attribute reading ----

// attrReader evaluates the attributes of one block body.
type attrReader struct {
	d      *decoder
	ctx    *hcl.EvalContext
	attrs  hcl.Attributes
	blocks hcl.Blocks
	what   string
}

// eval evaluates attribute name and converts it to ty. ok is false when the
// attribute is absent, null, or has errors (reported).
func (r *attrReader) eval(name string, ty cty.Type) (v cty.Value, sens bool, a *hcl.Attribute, ok bool) {
	a, present := r.attrs[name]
	if !present {
		return cty.NilVal, false, nil, false
	}
	val, diags := a.Expr.Value(r.ctx)
	r.d.diags = append(r.d.diags, polishFunctionDiags(diags)...)
	if diags.HasErrors() {
		return cty.NilVal, false, a, false
	}
	sens = isSensitive(val)
	val, _ = val.UnmarkDeep()
	if val.IsNull() {
		return cty.NilVal, sens, a, false
	}
	if !val.IsWhollyKnown() {
		r.d.errorf(rng(a.Expr.Range()), "Unknown value", "The value of %s cannot be known when the configuration is read; use a literal, env() or file().", name)
		return cty.NilVal, sens, a, false
	}
	cv, err := convert.Convert(val, ty)
	if err != nil {
		r.d.errorf(rng(a.Expr.Range()), "Incorrect attribute value type",
			"Inappropriate value for %s: %s. Change it to a %s.", name, err, ty.FriendlyName())
		return cty.NilVal, sens, a, false
	}
	return cv, sens, a, true
}

func (r *attrReader) str(name string) (string, bool, bool) {
	v, sens, _, ok := r.strAt(name)
	return v, sens, ok
}

func (r *attrReader) strAt(name string) (string, bool, hcl.Range, bool) {
	v, sens, a, ok := r.eval(name, cty.String)
	if !ok {
		return "", sens, hcl.Range{}, false
	}
	return v.AsString(), sens, a.Expr.Range(), true
}

// enum reads a string that must be one of allowed.
func (r *attrReader) enum(name string, allowed []string) (string, hcl.Range, bool) {
	v, sens, rg, ok := r.strAt(name)
	if !ok {
		return "", rg, false
	}
	if !contains(allowed, v) {
		hint := ""
		for _, a := range allowed {
			if strings.EqualFold(a, v) && !sens {
				hint = fmt.Sprintf(" (did you mean %q?)", a)
			}
		}
		r.d.errorf(rng(rg), "Invalid "+name,
			"%s is not a valid %s%s; use %s.", show(v, sens), name, hint, quoteList(allowed))
		return "", rg, false
	}
	return v, rg, true
}

// secret reads a credential. Literal credentials get a warning: they belong
// in env() or file(), not in files kept in git.
func (r *attrReader) secret(name string) (secret.Value, bool) {
	v, sens, a, ok := r.eval(name, cty.String)
	if !ok {
		return secret.Value{}, false
	}
	s := strings.TrimSpace(v.AsString())
	if s == "" {
		r.d.errorf(rng(a.Expr.Range()), "Empty credential",
			"%s is empty. Check the environment variable or file it comes from.", name)
		return secret.Value{}, false
	}
	if !sens {
		r.d.warnf(rng(a.Expr.Range()), "Credential written literally",
			"%s is written in the configuration. Read it with env(\"NAME\") or file(\"PATH\") so the configuration can be kept in git without secrets.", name)
	}
	return secret.New(s), true
}

// secretList reads a list of credentials. rg is nil when the attribute is
// absent.
func (r *attrReader) secretList(name string) ([]secret.Value, *hcl.Range, bool) {
	v, sens, a, ok := r.eval(name, cty.List(cty.String))
	if a == nil {
		return nil, nil, false
	}
	ar := rng(a.Expr.Range())
	if !ok {
		return nil, ar, false
	}
	var out []secret.Value
	good := true
	for it := v.ElementIterator(); it.Next(); {
		_, el := it.Element()
		if el.IsNull() || strings.TrimSpace(el.AsString()) == "" {
			r.d.errorf(ar, "Empty credential", "An element of %s is empty or null. Check the environment variables or files it comes from.", name)
			good = false
			continue
		}
		out = append(out, secret.New(strings.TrimSpace(el.AsString())))
	}
	if !sens && len(out) > 0 {
		r.d.warnf(ar, "Credential written literally",
			"%s is written in the configuration. Read it with env(\"NAME\") or file(\"PATH\") so the configuration can be kept in git without secrets.", name)
	}
	return out, ar, good
}

func (r *attrReader) strList(name string) ([]string, bool, *hcl.Range, bool) {
	v, sens, a, ok := r.eval(name, cty.List(cty.String))
	if !ok {
		return nil, sens, nil, false
	}
	ar := rng(a.Expr.Range())
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, el := it.Element()
		if el.IsNull() {
			r.d.errorf(ar, "Null list element", "An element of %s is null; remove it.", name)
			return nil, sens, ar, false
		}
		out = append(out, el.AsString())
	}
	return out, sens, ar, true
}

// boolean reads a bool (true or false).
func (r *attrReader) boolean(name string) (bool, bool) {
	v, _, _, ok := r.eval(name, cty.Bool)
	if !ok {
		return false, false
	}
	return v.True(), true
}

func (r *attrReader) integer(name string) (int64, *hcl.Range, bool) {
	v, _, a, ok := r.eval(name, cty.Number)
	if !ok {
		return 0, nil, false
	}
	ar := rng(a.Expr.Range())
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		r.d.errorf(ar, "Whole number required", "%s must be a whole number.", name)
		return 0, ar, false
	}
	if bf.Cmp(big.NewFloat(1<<31)) >= 0 || bf.Cmp(big.NewFloat(-(1<<31))) <= 0 {
		r.d.errorf(ar, "Number out of range", "%s is far out of range; it must be between 1 and %d.", name, maxRetryAttempts)
		return 0, ar, false
	}
	n, _ := bf.Int64()
	return n, ar, true
}

func (r *attrReader) duration(name string) (durationValue, bool) {
	v, sens, rg, ok := r.strAt(name)
	if !ok {
		return 0, false
	}
	dur, msg := parseDuration(v)
	if msg != "" {
		r.d.errorf(rng(rg), "Invalid duration", "%s %s; write a Go duration such as \"10s\", \"5m\" or \"72h\".", show(v, sens), msg)
		return 0, false
	}
	return dur, true
}

// url reads an absolute http(s) URL. When live, plain http is refused,
// except on loopback or private hosts when allowPrivateHTTP.
func (r *attrReader) url(name string, live, allowPrivateHTTP bool) (string, bool) {
	v, sens, rg, ok := r.strAt(name)
	if !ok {
		return "", false
	}
	if msg := checkURL(v, live, allowPrivateHTTP); msg != "" {
		r.d.errorf(rng(rg), urlSummary(msg), "%s %s", show(v, sens), msg)
		return "", false
	}
	return v, true
}

// providerURL reads an optional provider URL override, else returns def.
// Overrides of live providers may be plain http only on loopback or private
// hosts (the emulator, a proxy).
func (r *attrReader) providerURL(name, def string, live bool) string {
	if _, present := r.attrs[name]; !present {
		return def
	}
	v, ok := r.url(name, live, true)
	if !ok {
		return def
	}
	return strings.TrimSuffix(v, "/")
}

// providerRef resolves a provider.KIND.NAME traversal. wantKind, when set,
// is the only kind accepted, and why says why.
func (r *attrReader) providerRef(name, wantKind, why string) *Provider {
	a, ok := r.attrs[name]
	if !ok {
		return nil
	}
	const how = "Refer to a provider block without quotes as provider.KIND.NAME, for example provider.pesapal.ke."
	trav, diags := hcl.AbsTraversalForExpr(a.Expr)
	if diags.HasErrors() || len(trav) != 3 || trav.RootName() != "provider" {
		r.d.errorf(rng(a.Expr.Range()), "Invalid provider reference", "%s", how)
		return nil
	}
	kind, ok1 := trav[1].(hcl.TraverseAttr)
	pname, ok2 := trav[2].(hcl.TraverseAttr)
	if !ok1 || !ok2 {
		r.d.errorf(rng(a.Expr.Range()), "Invalid provider reference", "%s", how)
		return nil
	}
	id := kind.Name + "." + pname.Name
	p := r.d.providers[id]
	if p == nil {
		var ids []string
		for _, q := range r.d.cfg.Providers {
			ids = append(ids, "provider."+q.ID())
		}
		sort.Strings(ids)
		declared := "No provider is declared."
		if len(ids) > 0 {
			declared = "Declared providers: " + strings.Join(ids, ", ") + "."
		}
		r.d.errorf(rng(a.Expr.Range()), "Reference to undeclared provider",
			"There is no provider %q %q block. Declare it, or fix the reference. %s", kind.Name, pname.Name, declared)
		return nil
	}
	if wantKind != "" && p.Kind != wantKind {
		r.d.errorf(rng(a.Expr.Range()), "Wrong provider kind",
			"%s; %s is a %s provider. Refer to a %s provider.", why, p.Address(), p.Kind, wantKind)
		return nil
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quoteList joins quoted items with "or"; quoteListAnd with "and".
func quoteList(list []string) string { return joinQuoted(list, "or") }

func quoteListAnd(list []string) string { return joinQuoted(list, "and") }

func joinQuoted(list []string, conj string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

// polishFunctionDiags gives env() and file() failures a summary that names
// the problem instead of hcl's generic "Error in function call".
func polishFunctionDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, dg := range diags {
		if dg.Summary != "Error in function call" {
			continue
		}
		for fn, summary := range map[string]string{"env": "Environment variable not set", "file": "Cannot read file"} {
			prefix := fmt.Sprintf("Call to function %q failed: ", fn)
			if rest, ok := strings.CutPrefix(dg.Detail, prefix); ok && !strings.HasPrefix(rest, "an argument comes from") {
				dg.Summary = summary
				dg.Detail = capitalize(rest)
			}
		}
	}
	return diags
}

// labelExample shows a block header with its labels.
func labelExample(typ string) string {
	switch typ {
	case "provider":
		return `provider "KIND" "NAME" { ... }, e.g. provider "pesapal" "ke"`
	case "state", "server", "api":
		return typ + " { ... }, without labels"
	case "forward", "retry":
		return typ + " { ... } inside a route, without labels"
	}
	return typ + ` "NAME" { ... }`
}
