package recon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/money"
	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// EventType is the event a difference emits when it opens.
const EventType = "reconciliation.difference"

// Defaults.
const (
	DefaultLease     = 2 * time.Minute
	DefaultQueryRate = 5 // status queries per second (PesaPal, AzamPay)
	// ourPage is how many of our payments one store read returns.
	ourPage = 200
)

// Settler applies a statement the provider's record proves
// (settle.Settler and payouts' refund-aware settler do).
type Settler interface {
	Apply(ctx context.Context, st settle.Statement) (state.StatusResult, error)
}

// Options wire an Engine.
type Options struct {
	Store state.Store
	// Settler heals payments through the store's status rule: the
	// refund-aware settler (payouts.Service.RefundAware), so that a
	// reversal a pending refund explains is recorded as the refund.
	Settler Settler
	// Payer and ClickPesa return a provider's client; ClickPesa nil for
	// other kinds.
	Payer     func(providerID string) (providers.Payer, bool)
	ClickPesa func(providerID string) *clickpesa.Client
	// Routes are the configured routes (difference events go to those
	// whose provider and events match).
	Routes func() []*config.Route
	Now    func() time.Time
	Logger *slog.Logger
	// QueryRate bounds status queries per second (default DefaultQueryRate).
	QueryRate float64
	// PageSize is the ClickPesa list page asked for (default clickpesa.DefaultPageSize).
	PageSize int
	// Lease is how long a run holds its provider without a checkpoint
	// (default DefaultLease).
	Lease time.Duration
	// Owner names this process's leases (default delivery.LocalOwner()).
	Owner string
	// Progress is called after each page or batch of queries.
	Progress func(Progress)
	// Row, when set, receives one row per transaction compared.
	Row func(Row)
	// Notify wakes the delivery workers after an event.
	Notify func()
	// Payouts applies what a provider's payout records prove, through
	// ApplyStatus: the payouts' status rule, with the payout's event and
	// its routes, the same path as payout sync (a refund paid as a payout
	// also moves its payment). Nil leaves payouts out of the runs.
	Payouts *payouts.Service
}

// Engine runs reconciliations. Safe for concurrent use (the store's lease
// keeps runs of one provider apart).
type Engine struct{ o Options }

// New returns an Engine; it starts nothing.
func New(o Options) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueryRate <= 0 {
		o.QueryRate = DefaultQueryRate
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Owner == "" {
		o.Owner = delivery.LocalOwner()
	}
	if o.Routes == nil {
		o.Routes = func() []*config.Route { return nil }
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.ClickPesa == nil {
		o.ClickPesa = func(string) *clickpesa.Client { return nil }
	}
	return &Engine{o: o}
}

// Progress is where a run is.
type Progress struct {
	RunID    string
	Provider string
	Phase    string
	Counters state.ReconCounters
}

// Row is one transaction compared, for the CSV export: both sides' fields
// and what the run concluded.
type Row struct {
	// Kind is state.SubjectPayment or state.SubjectPayout.
	Kind           string
	Provider       string
	Reference      string
	PaymentID      string
	PayoutID       string
	OurStatus      string
	OurAmount      string
	OurCurrency    string
	ProviderTxn    string
	ProviderStatus string
	ProviderAmount string
	ProviderCurr   string
	// Outcome is "matched", "healed", or the difference class.
	Outcome string
}

// Summary is what a run did.
type Summary struct {
	Run     state.ReconRun
	Resumed bool
	// New counts the differences this run opened, per class.
	New map[state.DiffClass]int `json:"new"`
	// Healed counts the payments and payouts whose status this run applied.
	Healed int `json:"healed"`
	// Open counts the open differences of the provider over this window
	// (found by this run or an earlier one), per class.
	Open map[state.DiffClass]int `json:"open"`
}

// OpenTotal is how many differences remain open.
func (s Summary) OpenTotal() int {
	n := 0
	for _, v := range s.Open {
		n += v
	}
	return n
}

// run is one run in progress.
type run struct {
	e      *Engine
	r      state.ReconRun
	payer  providers.Payer
	sum    *Summary
	routes []string
}

// Run reconciles provider over [from, to): it resumes the provider's
// unfinished run over the same window (a crashed one), or starts one. A
// run of the provider held by another live process is a
// *state.ReconBusyError.
func (e *Engine) Run(ctx context.Context, provider string, from, to time.Time) (Summary, error) {
	payer, ok := e.o.Payer(provider)
	if !ok {
		return Summary{}, fmt.Errorf("reconcile %s: no such provider in the configuration", provider)
	}
	self := e.o.Owner
	r, resumed, err := e.o.Store.StartReconRun(ctx, state.ReconStart{
		Provider: provider, From: from.UTC(), To: to.UTC(), Owner: self, Lease: e.o.Lease, Now: e.o.Now().UTC(),
		Dead: func(owner string) bool { return delivery.OwnerDead(owner, self, procscope.Gone) },
	})
	if err != nil {
		return Summary{}, fmt.Errorf("reconcile %s: %w", provider, err)
	}
	sum := &Summary{Run: r, Resumed: resumed, New: map[state.DiffClass]int{}}
	x := &run{e: e, r: r, payer: payer, sum: sum}
	for _, rt := range e.o.Routes() {
		if rt.Matches(provider, EventType) {
			x.routes = append(x.routes, rt.Name)
		}
	}
	log := e.o.Logger.With("run_id", r.ID, "provider", provider, "from", from, "to", to)
	if resumed {
		log.Info("reconciliation resumed", "phase", r.Phase, "cursor", r.Cursor)
	}
	if cp := e.o.ClickPesa(provider); cp != nil {
		err = x.clickpesa(ctx, cp)
	} else {
		err = x.queries(ctx)
	}
	status, errText := state.RunDone, ""
	if err != nil {
		status, errText = state.RunFailed, err.Error()
	}
	// A run whose context ended stays running: the next run resumes it.
	if ctx.Err() == nil {
		fin, ferr := e.o.Store.FinishReconRun(ctx, x.r, status, errText, e.o.Now().UTC())
		if ferr != nil {
			err = errors.Join(err, ferr)
		} else {
			x.r = fin
		}
	}
	sum.Run = x.r
	if open, oerr := e.openCounts(ctx, provider, from, to); oerr == nil {
		sum.Open = open
	} else {
		err = errors.Join(err, oerr)
	}
	if err != nil {
		return *sum, fmt.Errorf("reconcile %s: %w", provider, err)
	}
	log.Info("reconciliation done", "healed", sum.Healed, "new", sum.New, "open", sum.OpenTotal(),
		"provider_calls", x.r.Counters.ProviderCalls)
	return *sum, nil
}

// openCounts counts the provider's open differences over the window.
func (e *Engine) openCounts(ctx context.Context, provider string, from, to time.Time) (map[state.DiffClass]int, error) {
	out := map[state.DiffClass]int{}
	after := ""
	for {
		ds, err := e.o.Store.ListDifferences(ctx, state.DifferenceFilter{Provider: provider, State: state.DiffOpen, From: from, To: to, Limit: 500, After: after})
		if err != nil {
			return nil, fmt.Errorf("count open differences: %w", err)
		}
		for _, d := range ds {
			out[d.Class]++
		}
		if len(ds) < 500 {
			return out, nil
		}
		after = ds[len(ds)-1].ID
	}
}

// checkpoint stores the run's progress and reports it.
func (x *run) checkpoint(ctx context.Context, phase, cursor string) error {
	x.r.Phase, x.r.Cursor = phase, cursor
	if err := x.e.o.Store.CheckpointReconRun(ctx, x.r, x.e.o.Lease, x.e.o.Now().UTC()); err != nil {
		return err
	}
	if x.e.o.Progress != nil {
		x.e.o.Progress(Progress{RunID: x.r.ID, Provider: x.r.Provider, Phase: phase, Counters: x.r.Counters})
	}
	return nil
}

// ---------------------------------------------------------------------------
// ClickPesa: the list both ways.

const (
	phaseList = "provider_list"
	phaseOurs = "ours"
)

func (x *run) clickpesa(ctx context.Context, c *clickpesa.Client) error {
	phase := x.r.Phase
	if phase == "" || phase == phaseList {
		skip, _ := strconv.Atoi(x.r.Cursor)
		err := c.ListPayments(ctx, clickpesa.ListOptions{From: x.r.From, To: x.r.To, Skip: skip, PageSize: x.e.o.PageSize},
			func(p clickpesa.ListPage) error {
				x.r.Counters.ProviderCalls++
				x.r.Counters.Total = p.TotalCount
				if err := x.page(ctx, p.Items); err != nil {
					return err
				}
				return x.checkpoint(ctx, phaseList, strconv.Itoa(p.Next))
			})
		if err != nil {
			return fmt.Errorf("read clickpesa's payments: %w", err)
		}
		if err := x.checkpoint(ctx, phaseOurs, ""); err != nil {
			return err
		}
		phase = phaseOurs
	}
	if phase == phaseOurs {
		if err := x.ours(ctx, x.notAtProvider, state.WindowFilter{UnseenIn: x.r.ID}); err != nil {
			return err
		}
		if x.e.o.Payouts == nil {
			return nil
		}
		if err := x.checkpoint(ctx, phasePayoutList, ""); err != nil {
			return err
		}
		phase = phasePayoutList
	}
	return x.clickpesaPayouts(ctx, c, phase)
}

// page matches one page of the provider's transactions.
func (x *run) page(ctx context.Context, items []clickpesa.Payment) error {
	seen := make([]state.SeenTxn, 0, len(items))
	refs := make([]string, 0, len(items))
	for _, it := range items {
		seen = append(seen, state.SeenTxn{ProviderTxn: it.ID, Reference: it.OrderReference})
		refs = append(refs, it.OrderReference)
	}
	dups, err := x.e.o.Store.RecordSeen(ctx, x.r.ID, seen)
	if err != nil {
		return err
	}
	ours, err := x.e.o.Store.PaymentsByReferences(ctx, x.r.Provider, refs)
	if err != nil {
		return err
	}
	byRef := make(map[string]*state.Payment, len(ours))
	for i := range ours {
		byRef[ours[i].Reference] = &ours[i]
	}
	for _, it := range items {
		x.r.Counters.ProviderItems++
		phone := it.PaymentPhoneNumber
		if phone == "" {
			phone = it.Customer.Phone
		}
		theirs := providers.PaymentStatus{
			Status: clickpesa.MapStatus(it.Status), Reference: it.OrderReference, ProviderReference: it.ID,
			Amount: it.CollectedAmount, Currency: it.CollectedCurrency, Phone: phone,
			ConfirmationCode: it.PaymentReference, Message: it.Message, Raw: it.Raw,
		}
		if err := x.compare(ctx, byRef[it.OrderReference], theirs, it.Status); err != nil {
			return err
		}
	}
	for _, ref := range dups {
		p := byRef[ref]
		d := state.Difference{Class: state.DiffDuplicateAtProvider, Key: "duplicate_at_provider:" + ref, Reference: ref,
			Detail: "the provider holds more than one transaction for this reference"}
		if p != nil {
			d.PaymentID, d.Ours = p.ID, ourSide(*p)
		}
		if err := x.record(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// ours walks our payments of the window (those f selects) from the checkpoint.
func (x *run) ours(ctx context.Context, each func(context.Context, state.Payment) error, f state.WindowFilter) error {
	return walkWindow(ctx, x, phaseOurs, &x.r.Counters.OurPayments, x.e.o.Store.WindowPayments,
		func(p state.Payment) (time.Time, string) { return p.CreatedAt, p.ID }, each, f)
}

// walkWindow walks our records of the window (those f selects, read by
// list a page at a time in (created, ID) order) from the checkpoint,
// counting them in count and checkpointing phase as it goes.
func walkWindow[T any](ctx context.Context, x *run, phase string, count *int,
	list func(context.Context, state.WindowFilter) ([]T, error), key func(T) (time.Time, string),
	each func(context.Context, T) error, f state.WindowFilter) error {
	f.Provider, f.From, f.To, f.Limit = x.r.Provider, x.r.From, x.r.To, ourPage
	f.AfterCreated, f.AfterID = parseKeyset(x.r.Cursor)
	for {
		items, err := list(ctx, f)
		if err != nil {
			return err
		}
		for _, it := range items {
			*count++
			if err := each(ctx, it); err != nil {
				return err
			}
			f.AfterCreated, f.AfterID = key(it)
			if *count%50 == 0 {
				if err := x.checkpoint(ctx, phase, keyset(f.AfterCreated, f.AfterID)); err != nil {
					return err
				}
			}
		}
		if err := x.checkpoint(ctx, phase, keyset(f.AfterCreated, f.AfterID)); err != nil {
			return err
		}
		if len(items) < f.Limit {
			return nil
		}
	}
}

func keyset(at time.Time, id string) string {
	if id == "" {
		return ""
	}
	return strconv.FormatInt(at.UnixNano(), 10) + "|" + id
}

func parseKeyset(s string) (time.Time, string) {
	ns, id, ok := strings.Cut(s, "|")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil {
		return time.Time{}, ""
	}
	return time.Unix(0, n).UTC(), id
}

// notAtProvider classifies a payment of ours the provider has no record of.
func (x *run) notAtProvider(ctx context.Context, p state.Payment) error {
	class := classifyMissing(p)
	if class == "" {
		x.row(&p, providers.PaymentStatus{}, "", "matched")
		x.r.Counters.Matched++
		return nil
	}
	x.row(&p, providers.PaymentStatus{}, "", string(class))
	return x.record(ctx, state.Difference{Class: class, Key: string(class) + ":" + p.Reference, Reference: p.Reference,
		PaymentID: p.ID, Ours: ourSide(p),
		Detail: fmt.Sprintf("we hold it as %s; the provider has no record of it", p.Status)})
}

// ---------------------------------------------------------------------------
// PesaPal, AzamPay: a status query per payment not proven settled.

const phaseQueries = "queries"

func (x *run) queries(ctx context.Context) error {
	every := time.Duration(float64(time.Second) / x.e.o.QueryRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	return x.ours(ctx, func(ctx context.Context, p state.Payment) error {
		if p.ProviderReference == "" {
			if !p.Status.Open() {
				x.r.Counters.Matched++
				return nil
			}
			x.row(&p, providers.PaymentStatus{}, "", string(state.DiffStuckUnknown))
			return x.record(ctx, state.Difference{Class: state.DiffStuckUnknown, Key: "stuck_unknown:" + p.Reference,
				Reference: p.Reference, PaymentID: p.ID, Ours: ourSide(p),
				Detail: fmt.Sprintf("we hold it as %s without the provider's reference to ask with", p.Status)})
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		x.r.Counters.ProviderCalls++
		st, err := x.payer.QueryPayment(ctx, providers.PaymentQuery{Reference: p.Reference, ProviderReference: p.ProviderReference, MNO: p.MNO})
		switch {
		case providers.IsNotFound(err):
			return x.notAtProvider(ctx, p)
		case err != nil:
			x.e.o.Logger.Warn("reconciliation: status query failed; the payment is left for the next run",
				"payment_id", p.ID, "err", err)
			return nil
		}
		x.r.Counters.ProviderItems++
		if st.Reference == "" {
			st.Reference = p.Reference
		}
		if st.ProviderReference == "" {
			st.ProviderReference = p.ProviderReference
		}
		return x.compare(ctx, &p, st, string(st.Status))
	}, state.WindowFilter{SkipNotified: true})
}

// ---------------------------------------------------------------------------
// Matching one transaction.

// verdict is what comparing one transaction of each side concludes.
type verdict struct {
	// Class is the difference, "" when the two sides match.
	Class state.DiffClass
	// Heal: the provider's answer proves its status; apply it.
	Heal bool
	// Want is the status the provider's answer states, in our terms.
	Want state.PaymentStatus
}

// classify compares our payment p (nil: we hold none) with the provider's
// transaction theirs. It decides only; compare acts.
func classify(p *state.Payment, theirs providers.PaymentStatus) verdict {
	if p == nil {
		return verdict{Class: state.DiffUnknownToUs}
	}
	want := state.PaymentStatus(theirs.Status)
	if p.ProviderReference != "" && theirs.ProviderReference != "" && p.ProviderReference != theirs.ProviderReference {
		// Another transaction of the reference: RecordSeen finds the duplicate.
		return verdict{Want: want}
	}
	moved := theirs.Status == providers.StatusSucceeded || theirs.Status == providers.StatusReversed
	if moved && !sameMoney(*p, theirs) {
		return verdict{Class: state.DiffAmountDiffers, Want: want}
	}
	v := verdict{Class: state.DiffStatusDiffers, Want: want}
	switch p.Status {
	case state.StatusPending, state.StatusUnknown:
		v.Heal = want == state.StatusSucceeded || want == state.StatusFailed
		if want == state.StatusPending {
			if p.Status == state.StatusPending {
				return verdict{Want: want}
			}
			v.Class = state.DiffStuckUnknown
		}
	case state.StatusFailed:
		if want == state.StatusFailed {
			return verdict{Want: want}
		}
		v.Heal = want == state.StatusSucceeded
	case state.StatusSucceeded:
		if want == state.StatusSucceeded {
			return verdict{Want: want}
		}
		if want == state.StatusReversed {
			v.Heal, v.Class = true, state.DiffReversedAfterSuccess
		}
	case state.StatusReversed:
		if want == state.StatusReversed {
			return verdict{Want: want}
		}
	case state.StatusRefunded, state.StatusPartiallyRefunded:
		if want == state.StatusSucceeded || want == state.StatusReversed {
			return verdict{Want: want}
		}
	}
	return v
}

// classifyMissing is the class of our payment p when the provider has no
// record of it ("" when that is a match: a failed payment never got there
// or was refused).
func classifyMissing(p state.Payment) state.DiffClass {
	switch p.Status {
	case state.StatusFailed:
		return ""
	case state.StatusUnknown:
		return state.DiffStuckUnknown
	}
	return state.DiffMissingAtProvider
}

// compare matches the provider's transaction theirs (its own status word
// raw) with our payment p (nil: we have none), and records what differs
// or heals what the provider proves.
func (x *run) compare(ctx context.Context, p *state.Payment, theirs providers.PaymentStatus, raw string) error {
	v := classify(p, theirs)
	switch {
	case v.Class == "":
		return x.matched(p, theirs, raw)
	case v.Class == state.DiffUnknownToUs:
		x.row(nil, theirs, raw, string(state.DiffUnknownToUs))
		return x.record(ctx, state.Difference{Class: state.DiffUnknownToUs, Key: "unknown_to_us:" + theirs.Reference + ":" + theirs.ProviderReference,
			Reference: theirs.Reference, ProviderTxn: theirs.ProviderReference, Theirs: theirSide(theirs),
			Detail: fmt.Sprintf("the provider holds a %s transaction of %s %s we never started", raw, theirs.Amount, theirs.Currency)})
	case v.Class == state.DiffAmountDiffers:
		x.row(p, theirs, raw, string(state.DiffAmountDiffers))
		return x.record(ctx, state.Difference{Class: state.DiffAmountDiffers, Key: "amount_differs:" + p.Reference,
			Reference: p.Reference, PaymentID: p.ID, ProviderTxn: theirs.ProviderReference, Ours: ourSide(*p), Theirs: theirSide(theirs),
			Detail: fmt.Sprintf("we hold %s %s; the provider %s %s", p.Amount, p.Currency, theirs.Amount, theirs.Currency)})
	}
	key := fmt.Sprintf("%s:%s:%s:%s", v.Class, p.Reference, p.Status, v.Want)
	detail := fmt.Sprintf("we hold it as %s; the provider says %s (%s)", p.Status, v.Want, raw)
	if !v.Heal {
		x.row(p, theirs, raw, string(v.Class))
		return x.record(ctx, state.Difference{Class: v.Class, Key: key, Reference: p.Reference, PaymentID: p.ID,
			ProviderTxn: theirs.ProviderReference, Ours: ourSide(*p), Theirs: theirSide(theirs), Detail: detail})
	}
	res, err := x.e.o.Settler.Apply(ctx, settle.Statement{ProviderID: x.r.Provider, Status: theirs, Source: state.SourceReconciliation})
	if err != nil {
		return fmt.Errorf("apply the provider's status to payment %s: %w", p.ID, err)
	}
	if !res.Changed {
		return x.matched(p, theirs, raw) // another writer got there first
	}
	x.sum.Healed++
	x.r.Counters.Healed++
	x.row(&res.Payment, theirs, raw, "healed")
	return x.record(ctx, state.Difference{Class: v.Class, Key: key, Reference: p.Reference, PaymentID: p.ID,
		ProviderTxn: theirs.ProviderReference, Ours: ourSide(*p), Theirs: theirSide(theirs), State: state.DiffHealed,
		Detail: detail + "; applied: " + string(p.Status) + " → " + string(res.Payment.Status)})
}

func (x *run) matched(p *state.Payment, theirs providers.PaymentStatus, raw string) error {
	x.r.Counters.Matched++
	x.row(p, theirs, raw, "matched")
	return nil
}

func sameMoney(p state.Payment, theirs providers.PaymentStatus) bool {
	if theirs.Currency != "" && p.Currency != "" && !strings.EqualFold(theirs.Currency, p.Currency) {
		return false
	}
	if theirs.Amount == "" || p.Amount == "" {
		return true
	}
	return money.Same(theirs.Amount, p.Amount, p.Currency)
}

// record stores a difference found by this run, with its event when it opens.
func (x *run) record(ctx context.Context, d state.Difference) error {
	now := x.e.o.Now().UTC()
	d.RunID, d.Provider, d.CreatedAt, d.UpdatedAt = x.r.ID, x.r.Provider, now, now
	ev := &state.DifferenceEvent{Type: EventType, Routes: x.routes, Payload: eventPayload}
	got, created, err := x.e.o.Store.RecordDifference(ctx, d, ev)
	if err != nil {
		return err
	}
	if created && got.State == state.DiffOpen {
		x.sum.New[got.Class]++
		x.r.Counters.Differences++
		if len(x.routes) > 0 {
			x.e.o.Notify()
		}
	}
	return nil
}

func (x *run) row(p *state.Payment, theirs providers.PaymentStatus, raw, outcome string) {
	if x.e.o.Row == nil {
		return
	}
	r := Row{Kind: state.SubjectPayment, Provider: x.r.Provider, Reference: theirs.Reference, ProviderTxn: theirs.ProviderReference, ProviderStatus: raw,
		ProviderAmount: theirs.Amount, ProviderCurr: theirs.Currency, Outcome: outcome}
	if p != nil {
		r.Reference, r.PaymentID, r.OurStatus, r.OurAmount, r.OurCurrency = p.Reference, p.ID, string(p.Status), p.Amount, p.Currency
		if r.ProviderTxn == "" && outcome == "matched" {
			r.ProviderTxn = p.ProviderReference
		}
	}
	x.e.o.Row(r)
}

// ourSide is our payment as a difference's evidence.
func ourSide(p state.Payment) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"payment_id": p.ID, "reference": p.Reference, "status": p.Status, "amount": p.Amount, "currency": p.Currency,
		"provider_reference": p.ProviderReference, "confirmation_code": p.ConfirmationCode,
		"created_at": p.CreatedAt.UTC(), "updated_at": p.UpdatedAt.UTC(),
	})
	return b
}

// theirSide is the provider's record as a difference's evidence: its own
// JSON without credential fields, else the normalized fields.
func theirSide(st providers.PaymentStatus) json.RawMessage {
	if len(st.Raw) > 0 {
		var v any
		if json.Unmarshal(st.Raw, &v) == nil {
			stripCredentials(v)
			if b, err := json.Marshal(v); err == nil {
				return b
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"status": st.Status, "reference": st.Reference, "provider_reference": st.ProviderReference,
		"amount": st.Amount, "currency": st.Currency, "message": st.Message})
	return b
}

// credentialFields are removed from evidence wherever they appear.
var credentialFields = []string{"password", "user", "clientid", "client_id", "clientsecret", "client_secret", "token",
	"accesstoken", "api_key", "apikey", "checksum", "signature", "consumer_key", "consumer_secret"}

func stripCredentials(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			lk := strings.ToLower(k)
			drop := false
			for _, c := range credentialFields {
				if lk == c {
					drop = true
				}
			}
			if drop {
				delete(t, k)
				continue
			}
			stripCredentials(x)
		}
	case []any:
		for _, x := range t {
			stripCredentials(x)
		}
	}
}

// DifferenceEvent is the body of a reconciliation.difference event.
type DifferenceEvent struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      DifferenceData `json:"data"`
}

// DifferenceData is a difference as events and the API show it.
type DifferenceData struct {
	EventID     string          `json:"event_id,omitempty"`
	ID          string          `json:"difference_id"`
	RunID       string          `json:"run_id"`
	Provider    string          `json:"provider"`
	Class       state.DiffClass `json:"class"`
	State       string          `json:"state"`
	Reference   string          `json:"reference"`
	PaymentID   string          `json:"payment_id,omitempty"`
	PayoutID    string          `json:"payout_id,omitempty"`
	ProviderTxn string          `json:"provider_transaction,omitempty"`
	Detail      string          `json:"detail"`
	Ours        json.RawMessage `json:"ours,omitempty"`
	Theirs      json.RawMessage `json:"theirs,omitempty"`
	By          string          `json:"by,omitempty"`
	Note        string          `json:"note,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Data is d as DifferenceData.
func Data(d state.Difference) DifferenceData {
	return DifferenceData{ID: d.ID, RunID: d.RunID, Provider: d.Provider, Class: d.Class, State: d.State, Reference: d.Reference,
		PaymentID: d.PaymentID, PayoutID: d.PayoutID, ProviderTxn: d.ProviderTxn, Detail: d.Detail, Ours: d.Ours, Theirs: d.Theirs, By: d.By, Note: d.Note,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

func eventPayload(d state.Difference, eventID string, at time.Time) ([]byte, error) {
	data := Data(d)
	data.EventID = eventID
	b, err := json.Marshal(DifferenceEvent{Type: EventType, Timestamp: at.UTC().Truncate(time.Second), Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", eventID, err)
	}
	return b, nil
}
