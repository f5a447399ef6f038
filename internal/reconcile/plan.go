package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Action is what apply does to one resource.
type Action string

// Actions. Replace registers a new object and forgets the old one (PesaPal
// has no delete, so the old registration stays at PesaPal).
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionReplace Action = "replace"
	ActionForget  Action = "forget"
)

// FormatVersion is the version of the JSON plan format (plan -json and saved
// plan files).
const FormatVersion = "1.0"

// Plan is the set of changes that make the providers and the state match the
// configuration, made against state Lineage at Serial.
type Plan struct {
	Lineage   string
	Serial    int64
	CreatedAt time.Time
	// Refreshed is false for plan -refresh=false: remote objects were not read.
	Refreshed bool
	Changes   []ResourceChange // ordered by address

	// lists caches the GetIpnList answers of the refresh (not saved), so an
	// apply right after the plan does not list again.
	lists map[string][]RemoteIPN
	// index is lists indexed by provider, for the diff.
	index map[string]*remoteIndex
}

// remoteIndex indexes one provider's GetIpnList answer.
type remoteIndex struct {
	byID  map[string]RemoteIPN
	byURL map[string][]RemoteIPN
}

func newRemoteIndex(list []RemoteIPN) *remoteIndex {
	ix := &remoteIndex{byID: make(map[string]RemoteIPN, len(list)), byURL: make(map[string][]RemoteIPN, len(list))}
	for _, r := range list {
		if _, dup := ix.byID[r.ID]; !dup {
			ix.byID[r.ID] = r
		}
		ix.byURL[r.URL] = append(ix.byURL[r.URL], r)
	}
	return ix
}

// ResourceChange is one resource's planned change.
type ResourceChange struct {
	Address  string // "ipn.orders", "key.azampay.tz"
	Type     string // "ipn" | "key"
	Name     string // "orders", "azampay.tz"
	Provider string // provider ID
	Action   Action
	// Before and After are the resource's attributes before and after; nil
	// for a create (Before) or a forget (After).
	Before map[string]string
	After  map[string]string
	// AfterUnknown names attributes known only after apply.
	AfterUnknown []string
	// ReplacePaths names attributes whose change forces replacement.
	ReplacePaths []string
	// AdoptID is set when the change adopts an IPN already registered at
	// PesaPal with the same URL and type: no new registration is made.
	AdoptID string
	// Reason explains a change the configuration alone does not, e.g. an
	// IPN that vanished from GetIpnList.
	Reason string
}

// Counts returns how many resources the plan adds, changes and forgets (a
// replace is one add and one forget, as in Terraform).
func (p *Plan) Counts() (add, change, forget int) {
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			add++
		case ActionUpdate:
			change++
		case ActionReplace:
			add++
			forget++
		case ActionForget:
			forget++
		}
	}
	return add, change, forget
}

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 }

// PlanOptions tune Plan.
type PlanOptions struct {
	// Refresh reads the providers (one GetIpnList per PesaPal provider, one
	// token per provider, each AzamPay public key). Without it the plan is
	// made from configuration and state alone.
	Refresh bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Types limits the plan to these resource types ("ipn", "key"); nil
	// means all.
	Types []string
}

// CredentialsError says a provider rejected finconnectd's credentials. It
// names the provider block, never the secret.
type CredentialsError struct {
	Block string // `provider "pesapal" "ke"`
	Err   error
}

func (e *CredentialsError) Error() string { return "Invalid credentials for " + e.Block }
func (e *CredentialsError) Unwrap() error { return e.Err }

// MakePlan reads the state (and, with o.Refresh, the providers) and returns
// the changes that make them match cfg. It writes nothing. remote may be nil
// when o.Refresh is false. (It is not called Plan because the type is.)
func MakePlan(ctx context.Context, cfg *config.Config, st state.StateStore, remote Remote, o PlanOptions) (*Plan, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	want := func(typ string) bool { return o.Types == nil || slices.Contains(o.Types, typ) }

	meta, err := st.Meta(ctx)
	if err != nil {
		return nil, fmt.Errorf("read state meta: %w", err)
	}
	resources, err := st.Resources(ctx)
	if err != nil {
		return nil, fmt.Errorf("read state resources: %w", err)
	}
	current := make(map[string]map[string]string, len(resources))
	var addrs []string
	for _, r := range resources {
		m, err := attrMap(r)
		if err != nil {
			return nil, err
		}
		current[r.Address] = m
		addrs = append(addrs, r.Address)
	}

	p := &Plan{Lineage: meta.Lineage, Serial: meta.Serial, CreatedAt: now().UTC(), Refreshed: o.Refresh}
	keys := map[string]KeyAttributes{} // fetched keys by provider ID
	if o.Refresh {
		if remote == nil {
			return nil, errors.New("plan: refresh needs a remote")
		}
		p.lists = map[string][]RemoteIPN{}
		for _, prov := range cfg.Providers {
			if err := refreshProvider(ctx, prov, remote, want, now, p.lists, keys); err != nil {
				return nil, err
			}
		}
	}

	p.index = make(map[string]*remoteIndex, len(p.lists))
	for id, list := range p.lists {
		p.index[id] = newRemoteIndex(list)
	}
	inConfig := map[string]bool{}
	if want(TypeIPN) {
		for _, ipn := range cfg.IPNs {
			inConfig[ipn.Address()] = true
			c, ok := p.diffIPN(ipn, current[ipn.Address()])
			if ok {
				p.Changes = append(p.Changes, c)
			}
		}
	}
	if want(TypeKey) {
		for _, prov := range cfg.Providers {
			if prov.Kind != string(providers.AzamPay) {
				continue
			}
			addr := AzamPayKeyAddress(prov.Name)
			inConfig[addr] = true
			fetched, have := keys[prov.ID()]
			c, ok := diffKey(addr, prov, current[addr], fetched, have, now())
			if ok {
				p.Changes = append(p.Changes, c)
			}
		}
	}
	for _, addr := range addrs {
		typ, name, _ := strings.Cut(addr, ".")
		if inConfig[addr] || !want(typ) {
			continue
		}
		before := current[addr]
		c := ResourceChange{Address: addr, Type: typ, Name: name, Provider: before["provider"], Action: ActionForget, Before: before}
		if typ == TypeIPN {
			c.Reason = "it stays registered at PesaPal; PesaPal has no delete"
		}
		p.Changes = append(p.Changes, c)
	}
	sort.Slice(p.Changes, func(i, j int) bool { return p.Changes[i].Address < p.Changes[j].Address })
	return p, nil
}

func refreshProvider(ctx context.Context, prov *config.Provider, remote Remote, want func(string) bool,
	now func() time.Time, lists map[string][]RemoteIPN, keys map[string]KeyAttributes) error {
	id := prov.ID()
	if err := remote.CheckCredentials(ctx, id); err != nil {
		if providers.IsAuth(err) {
			return &CredentialsError{Block: prov.Block(), Err: err}
		}
		return fmt.Errorf("refresh %s: request token: %w", prov.Block(), err)
	}
	switch providers.Kind(prov.Kind) {
	case providers.PesaPal:
		if !want(TypeIPN) {
			return nil
		}
		list, err := remote.ListIPNs(ctx, id)
		if err != nil {
			if providers.IsAuth(err) {
				return &CredentialsError{Block: prov.Block(), Err: err}
			}
			return fmt.Errorf("refresh %s: list IPNs: %w", prov.Block(), err)
		}
		lists[id] = list
	case providers.AzamPay:
		if !want(TypeKey) {
			return nil
		}
		pemBytes, err := remote.FetchPublicKey(ctx, id)
		if err != nil {
			if providers.IsAuth(err) {
				return &CredentialsError{Block: prov.Block(), Err: err}
			}
			return fmt.Errorf("refresh %s: fetch public key: %w", prov.Block(), err)
		}
		_, fp, err := parsePublicKey(pemBytes)
		if err != nil {
			return fmt.Errorf("refresh %s: %w", prov.Block(), err)
		}
		keys[id] = KeyAttributes{Provider: id, Fingerprint: fp, FetchedAt: now().UTC().Format(time.RFC3339), PublicKeyPEM: string(pemBytes)}
	}
	return nil
}

// findRemote returns the first active registration of url/typ in list.
func findRemote(list []RemoteIPN, url, typ string) (RemoteIPN, bool) {
	for _, r := range list {
		if r.Active && r.matches(url, typ) {
			return r, true
		}
	}
	return RemoteIPN{}, false
}

// diffIPN plans one ipn block against its state entry (nil when absent).
func (p *Plan) diffIPN(ipn *config.IPN, cur map[string]string) (ResourceChange, bool) {
	c := ResourceChange{Address: ipn.Address(), Type: TypeIPN, Name: ipn.Name, Provider: ipn.Provider, Action: ActionCreate}
	ix, refreshed := p.index[ipn.Provider]
	if !refreshed {
		ix = newRemoteIndex(nil)
	}
	// newAfter fills After for a new registration: adopted or to be made.
	newAfter := func() {
		a := IPNAttributes{Provider: ipn.Provider, URL: ipn.URL, NotificationType: ipn.NotificationType}
		if r, ok := findRemote(ix.byURL[ipn.URL], ipn.URL, ipn.NotificationType); ok {
			a.IPNID, a.Status, a.RegisteredAt = r.ID, ipnStatus(r.Active), r.CreatedAt
			c.AdoptID = r.ID
		} else {
			c.AfterUnknown = []string{"ipn_id", "registered_at", "status"}
		}
		c.After = a.toMap()
		if c.AdoptID == "" {
			for _, k := range c.AfterUnknown {
				delete(c.After, k)
			}
		}
	}
	if cur == nil {
		newAfter()
		return c, true
	}
	old := ipnFromMap(cur)
	c.Before = cur
	if old.Provider != ipn.Provider {
		c.ReplacePaths = append(c.ReplacePaths, "provider")
	}
	if old.URL != ipn.URL {
		c.ReplacePaths = append(c.ReplacePaths, "url")
	}
	if old.NotificationType != ipn.NotificationType {
		c.ReplacePaths = append(c.ReplacePaths, "notification_type")
	}
	if len(c.ReplacePaths) > 0 {
		c.Action = ActionReplace
		c.Reason = fmt.Sprintf("the old registration, ipn_id %s, stays registered at PesaPal; PesaPal has no delete", old.IPNID)
		newAfter()
		return c, true
	}
	if !refreshed {
		return c, false
	}
	found, listed := ix.byID[old.IPNID]
	switch {
	case !listed:
		c.Action = ActionReplace
		c.Reason = fmt.Sprintf("ipn_id %s is no longer listed by PesaPal's GetIpnList", old.IPNID)
	case !found.Active:
		c.Action = ActionReplace
		c.Reason = fmt.Sprintf("ipn_id %s is inactive at PesaPal and stays registered there; PesaPal has no delete", old.IPNID)
	default:
		return c, false
	}
	c.ReplacePaths = []string{"ipn_id"}
	newAfter()
	return c, true
}

// diffKey plans one AzamPay public key.
func diffKey(addr string, prov *config.Provider, cur map[string]string, fetched KeyAttributes, have bool, now time.Time) (ResourceChange, bool) {
	c := ResourceChange{Address: addr, Type: TypeKey, Name: strings.TrimPrefix(addr, TypeKey+"."), Provider: prov.ID(), Action: ActionCreate}
	after := func() {
		if have {
			c.After = fetched.toMap()
			return
		}
		c.After = map[string]string{"provider": prov.ID()}
		c.AfterUnknown = []string{"fetched_at", "fingerprint", "public_key_pem"}
	}
	if cur == nil {
		after()
		return c, true
	}
	old := keyFromMap(cur)
	c.Before = cur
	stale := true
	if t, err := time.Parse(time.RFC3339, old.FetchedAt); err == nil {
		stale = now.Sub(t) > KeyMaxAge
	}
	switch {
	case have && fetched.Fingerprint != old.Fingerprint:
		c.Reason = "the provider's public key changed"
	case stale:
		c.Reason = fmt.Sprintf("the key was fetched more than %d hours ago", int(KeyMaxAge.Hours()))
	default:
		return c, false
	}
	c.Action = ActionUpdate
	after()
	return c, true
}
