package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Lock is a state lock the caller already holds (it planned under it);
	// nil makes Apply take one with LockOptions and release it on return.
	Lock        *Lock
	LockOptions LockOptions
	// Progress receives one line per resource step; nil is silent.
	Progress io.Writer
}

// ApplyResult says what Apply did. After a failure, Applied lists what was
// done (and is recorded in state), NotApplied what was not, the failed
// resource first.
type ApplyResult struct {
	Added, Changed, Forgotten int
	Applied                   []string
	NotApplied                []string
}

// StalePlanError refuses a plan made against another state lineage or
// serial: state moved since the plan was made.
type StalePlanError struct {
	Plan, State state.Meta
}

func (e *StalePlanError) Error() string {
	if e.Plan.Lineage != e.State.Lineage {
		return fmt.Sprintf("Saved plan is stale: it was made for state lineage %s, but the state's lineage is %s", e.Plan.Lineage, e.State.Lineage)
	}
	return fmt.Sprintf("Saved plan is stale: state has changed since the plan was made (plan serial %d, state serial %d); run plan again", e.Plan.Serial, e.State.Serial)
}

// Apply carries out p under the state lock: it checks that the state's
// lineage and serial still match the plan, then does each change in order,
// writing state after each resource. It stops at the first failure; what was
// done is in state and in the result.
func Apply(ctx context.Context, p *Plan, st state.StateStore, remote Remote, o ApplyOptions) (ApplyResult, error) {
	var res ApplyResult
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.Lock == nil {
		lo := o.LockOptions
		if lo.Now == nil {
			lo.Now = now
		}
		l, err := AcquireLock(ctx, st, lo)
		if err != nil {
			return res, err
		}
		defer l.Release(ctx) //nolint:errcheck // best effort; a failed unlock is visible via state force-unlock
	}
	meta, err := st.Meta(ctx)
	if err != nil {
		return res, fmt.Errorf("read state meta: %w", err)
	}
	if meta.Lineage != p.Lineage || meta.Serial != p.Serial {
		return res, &StalePlanError{Plan: state.Meta{Lineage: p.Lineage, Serial: p.Serial}, State: meta}
	}

	a := applier{st: st, remote: remote, now: now, progress: o.Progress, lists: map[string][]RemoteIPN{}}
	for k, v := range p.lists {
		a.lists[k] = v
	}
	for i, c := range p.Changes {
		if err := ctx.Err(); err != nil {
			res.NotApplied = remaining(p.Changes[i:])
			return res, fmt.Errorf("apply interrupted before %s: %w", c.Address, err)
		}
		if err := a.do(ctx, c); err != nil {
			res.NotApplied = remaining(p.Changes[i:])
			return res, err
		}
		res.Applied = append(res.Applied, c.Address)
		switch c.Action {
		case ActionCreate:
			res.Added++
		case ActionUpdate:
			res.Changed++
		case ActionReplace:
			res.Added++
			res.Forgotten++
		case ActionForget:
			res.Forgotten++
		}
	}
	return res, nil
}

func remaining(cs []ResourceChange) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Address)
	}
	return out
}

type applier struct {
	st       state.StateStore
	remote   Remote
	now      func() time.Time
	progress io.Writer
	lists    map[string][]RemoteIPN // GetIpnList per provider, grown by registrations
}

func (a *applier) say(format string, args ...any) {
	if a.progress != nil {
		fmt.Fprintf(a.progress, format+"\n", args...)
	}
}

// writeCtx is for the state write after a provider call succeeded: it must
// land even if the caller gives up now, or state would lose what happened.
func writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

func (a *applier) put(ctx context.Context, c ResourceChange, attrs any) error {
	raw, err := json.Marshal(attrs)
	if err != nil {
		return fmt.Errorf("encode %s: %w", c.Address, err)
	}
	wctx, cancel := writeCtx(ctx)
	defer cancel()
	if _, err := a.st.PutResource(wctx, state.Resource{Address: c.Address, Type: c.Type, Attributes: raw, UpdatedAt: a.now().UTC()}); err != nil {
		return fmt.Errorf("write %s to state: %w", c.Address, err)
	}
	return nil
}

func (a *applier) do(ctx context.Context, c ResourceChange) error {
	start := a.now()
	took := func() string { return a.now().Sub(start).Round(time.Second).String() }
	switch {
	case c.Action == ActionForget:
		a.say("%s: Forgetting...", c.Address)
		wctx, cancel := writeCtx(ctx)
		defer cancel()
		if _, err := a.st.DeleteResource(wctx, c.Address); err != nil && !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("forget %s: %w", c.Address, err)
		}
		if c.Type == TypeIPN {
			a.say("%s: Forgotten (it stays registered at PesaPal)", c.Address)
		} else {
			a.say("%s: Forgotten", c.Address)
		}
		return nil
	case c.Type == TypeIPN:
		return a.doIPN(ctx, c, took)
	case c.Type == TypeKey:
		verb, done := "Creating...", "Creation complete"
		if c.Action == ActionUpdate {
			verb, done = "Modifying...", "Modifications complete"
		}
		a.say("%s: %s", c.Address, verb)
		attrs := keyFromMap(c.After)
		if attrs.PublicKeyPEM == "" {
			if a.remote == nil {
				return fmt.Errorf("fetch public key for %s: no provider clients", c.Address)
			}
			pemBytes, err := a.remote.FetchPublicKey(ctx, c.Provider)
			if err != nil {
				return fmt.Errorf("fetch public key for %s: %w", c.Address, err)
			}
			attrs.PublicKeyPEM = string(pemBytes)
			attrs.FetchedAt = a.now().UTC().Format(time.RFC3339)
		}
		_, fp, err := parsePublicKey([]byte(attrs.PublicKeyPEM))
		if err != nil {
			return fmt.Errorf("%s: %w", c.Address, err)
		}
		attrs.Fingerprint = fp
		attrs.Provider = c.Provider
		if err := a.put(ctx, c, attrs); err != nil {
			return err
		}
		a.say("%s: %s after %s [fingerprint=%s]", c.Address, done, took(), fp)
		return nil
	}
	return fmt.Errorf("%s: cannot %s a resource of type %q", c.Address, c.Action, c.Type)
}

func (a *applier) doIPN(ctx context.Context, c ResourceChange, took func() string) error {
	verb, done := "Creating...", "Creation complete"
	if c.Action == ActionReplace {
		verb, done = "Replacing...", "Replacement complete"
	}
	a.say("%s: %s", c.Address, verb)
	want := ipnFromMap(c.After)
	want.Provider = c.Provider
	adopted := c.AdoptID != ""
	if !adopted {
		list, ok := a.lists[c.Provider]
		if !ok {
			// A saved plan, or one made with -refresh=false: list once before
			// registering so an IPN that is already there is adopted, never
			// registered twice.
			if a.remote == nil {
				return fmt.Errorf("register %s: no provider clients", c.Address)
			}
			l, err := a.remote.ListIPNs(ctx, c.Provider)
			if err != nil {
				return fmt.Errorf("register %s: list IPNs of %s: %w", c.Address, c.Provider, err)
			}
			list = l
			a.lists[c.Provider] = list
		}
		if r, ok := findRemote(list, want.URL, want.NotificationType); ok {
			want.IPNID, want.Status, want.RegisteredAt = r.ID, ipnStatus(r.Active), r.CreatedAt
			adopted = true
		} else {
			r, err := a.remote.RegisterIPN(ctx, c.Provider, want.URL, want.NotificationType)
			if err != nil {
				return fmt.Errorf("register %s at %s: %w", c.Address, c.Provider, err)
			}
			if r.URL == "" {
				r.URL = want.URL
			}
			if r.NotificationType == "" {
				r.NotificationType = want.NotificationType
			}
			a.lists[c.Provider] = append(a.lists[c.Provider], r)
			want.IPNID, want.Status, want.RegisteredAt = r.ID, ipnStatus(r.Active), r.CreatedAt
		}
	}
	if err := a.put(ctx, c, want); err != nil {
		return err
	}
	note := ""
	if adopted {
		note = ", adopted"
	}
	if c.Action == ActionReplace && c.Before != nil && c.Before["ipn_id"] != "" && c.Before["ipn_id"] != want.IPNID {
		a.say("%s: %s after %s [ipn_id=%s%s]; the old ipn_id %s stays registered at PesaPal", c.Address, done, took(), want.IPNID, note, c.Before["ipn_id"])
		return nil
	}
	a.say("%s: %s after %s [ipn_id=%s%s]", c.Address, done, took(), want.IPNID, note)
	return nil
}
