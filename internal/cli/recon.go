package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/recon"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// ExitDifferences is recon run's exit code when differences remain open.
const ExitDifferences = 2

const reconUsage = `Usage: finconnectd recon run [-config PATH] [-from TIME] [-to TIME] [-provider ID] [-json] [-csv FILE]
                          [-rate N] [-page-size N]
       finconnectd recon list [-config PATH | -dev] [-state S] [-class C] [-provider ID] [-run ID] [-limit N] [-json]
       finconnectd recon show [-config PATH | -dev] [-json] ID
       finconnectd recon resolve [-config PATH | -dev] -by NAME [-note TEXT] ID
       finconnectd recon acknowledge [-config PATH | -dev] -by NAME [-note TEXT] ID

run compares the payments of a window with each provider's own records
(ClickPesa: its list of payments; PesaPal and AzamPay: a status query per
payment no notification proved settled), applies the statuses the provider
proves, and records every other difference for a person. It resumes the
provider's interrupted run over the same window. It exits 2 when
differences remain open, 1 on an error. -from and -to take a date
(2026-09-01, midnight local time) or an RFC 3339 time; the default window
is yesterday.

list, show, resolve and acknowledge read and settle the differences.

Flags:
`

const reconExamples = `
Examples:
  finconnectd recon run                                   # yesterday, every provider
  finconnectd recon run -from 2026-09-01 -to 2026-09-02 -provider clickpesa.tz -csv sept1.csv
  finconnectd recon list -state open
  finconnectd recon resolve dif_7k2... -by amina -note "refunded by hand"
`

type reconArgs struct {
	Sub, ID            string
	Config             string
	Dev                bool
	From, To           string
	Provider           string
	JSON               bool
	CSV                string
	Rate               float64
	PageSize           int
	State, Class, Run  string
	Limit              int
	By, Note           string
	from, to           time.Time
	nowForDefaultRange func() time.Time
}

func parseReconArgs(args []string, io IO, now func() time.Time) (reconArgs, error) {
	a := reconArgs{nowForDefaultRange: now}
	fs := flag.NewFlagSet("recon", flag.ContinueOnError)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.Dev, "dev", false, "list, show, resolve, acknowledge: the store of the running 'finconnectd serve -dev'")
	fs.StringVar(&a.From, "from", "", "run: window start, a date or RFC 3339 time (default: yesterday's midnight)")
	fs.StringVar(&a.To, "to", "", "run: window end, excluded (default: today's midnight)")
	fs.StringVar(&a.Provider, "provider", "", "run, list: only this provider ID, e.g. clickpesa.tz")
	fs.BoolVar(&a.JSON, "json", false, "print JSON instead of text")
	fs.StringVar(&a.CSV, "csv", "", "run: write one CSV row per transaction (both sides' fields) to this file")
	fs.Float64Var(&a.Rate, "rate", recon.DefaultQueryRate, "run: status queries per second (PesaPal, AzamPay)")
	fs.IntVar(&a.PageSize, "page-size", clickpesa.DefaultPageSize, "run: ClickPesa list page asked for")
	fs.StringVar(&a.State, "state", "", "list: open, healed, resolved or acknowledged")
	fs.StringVar(&a.Class, "class", "", "list: only this class, e.g. amount_differs")
	fs.StringVar(&a.Run, "run", "", "list: only the differences of this run")
	fs.IntVar(&a.Limit, "limit", 100, "list: at most this many")
	fs.StringVar(&a.By, "by", "", "resolve, acknowledge: who does it (required)")
	fs.StringVar(&a.Note, "note", "", "resolve, acknowledge: why")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reconUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), reconExamples)
	}
	sub, positional, err := parseSubcommand(fs, "recon", []string{"run", "list", "show", "resolve", "acknowledge"}, args, io.Stdout, io.Stderr)
	if err != nil {
		return a, err
	}
	a.Sub = sub
	fail := func(format string, v ...any) (reconArgs, error) {
		msg := fmt.Sprintf(format, v...)
		fmt.Fprintf(io.Stderr, "finconnectd recon %s: %s\n", sub, msg)
		return a, errors.New(msg)
	}
	switch sub {
	case "run", "list":
		if len(positional) > 0 {
			return fail("unexpected argument %q", positional[0])
		}
	default:
		if len(positional) != 1 {
			return fail("give exactly one difference ID (dif_...)")
		}
		a.ID = positional[0]
	}
	switch sub {
	case "run":
		if a.Dev {
			return fail("-dev is for list, show, resolve and acknowledge; run reads the configuration's providers")
		}
		if a.Rate <= 0 || a.PageSize < 1 {
			return fail("-rate and -page-size must be positive")
		}
		day := time.Date(now().Year(), now().Month(), now().Day(), 0, 0, 0, 0, time.Local)
		a.from, a.to = day.AddDate(0, 0, -1), day
		if a.From != "" {
			if a.from, err = parseWhen(a.From); err != nil {
				return fail("-from: %v", err)
			}
		}
		if a.To != "" {
			if a.to, err = parseWhen(a.To); err != nil {
				return fail("-to: %v", err)
			}
		}
		if !a.to.After(a.from) {
			return fail("-to must be after -from")
		}
	case "list":
		if a.State != "" && !slices.Contains([]string{state.DiffOpen, state.DiffHealed, state.DiffResolved, state.DiffAcknowledged}, a.State) {
			return fail("-state %q is not open, healed, resolved or acknowledged", a.State)
		}
		if a.Class != "" && !state.DiffClass(a.Class).Valid() {
			return fail("-class %q is not a difference class", a.Class)
		}
		if a.Limit < 1 || a.Limit > maxPageLimit {
			return fail("-limit must be from 1 to %d", maxPageLimit)
		}
	case "resolve", "acknowledge":
		if strings.TrimSpace(a.By) == "" {
			return fail("-by is required: say who %s it", sub)
		}
	}
	return a, nil
}

// parseWhen reads a date (midnight local time) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2026-09-01) nor an RFC 3339 time", s)
	}
	return t, nil
}

// runRecon is `finconnectd recon ...`.
func runRecon(ctx context.Context, io IO, args []string) int {
	a, err := parseReconArgs(args, io, time.Now)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	if a.Sub == "run" {
		return reconRun(ctx, io, a)
	}
	st, ok := existingStore(ctx, io, a.Config, a.Dev, openStore)
	if !ok {
		return ExitError
	}
	defer st.Close()
	switch a.Sub {
	case "list":
		ds, err := st.ListDifferences(ctx, state.DifferenceFilter{Provider: a.Provider, Class: state.DiffClass(a.Class), State: a.State, RunID: a.Run, Limit: a.Limit})
		if err != nil {
			fmt.Fprintf(io.Stderr, "Error: list differences: %v\n", err)
			return ExitError
		}
		if a.JSON {
			out := make([]recon.DifferenceData, len(ds))
			for i, d := range ds {
				out[i] = recon.Data(d)
			}
			return writeJSONOut(io, map[string]any{"differences": out})
		}
		if len(ds) == 0 {
			fmt.Fprintln(io.Stdout, "No differences.")
			return ExitOK
		}
		tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tCLASS\tSTATE\tREFERENCE\tDETAIL")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Provider, d.Class, d.State, d.Reference, d.Detail)
		}
		_ = tw.Flush()
		return ExitOK
	case "show":
		d, err := st.Difference(ctx, a.ID)
		if err != nil {
			fmt.Fprintf(io.Stderr, "Error: %v\n", err)
			return ExitError
		}
		return showDifference(io, d, a.JSON)
	default: // resolve, acknowledge
		want := state.DiffResolved
		if a.Sub == "acknowledge" {
			want = state.DiffAcknowledged
		}
		d, err := st.SetDifferenceState(ctx, a.ID, want, a.By, a.Note, time.Now().UTC())
		if err != nil {
			fmt.Fprintf(io.Stderr, "Error: %v\n", err)
			return ExitError
		}
		return showDifference(io, d, a.JSON)
	}
}

func showDifference(io IO, d state.Difference, asJSON bool) int {
	if asJSON {
		return writeJSONOut(io, recon.Data(d))
	}
	w := io.Stdout
	fmt.Fprintf(w, "%s  %s  %s\n", d.ID, d.Class, d.State)
	fmt.Fprintf(w, "  provider     %s\n  reference    %s\n", d.Provider, d.Reference)
	if d.PaymentID != "" {
		fmt.Fprintf(w, "  payment      %s\n", d.PaymentID)
	}
	if d.PayoutID != "" {
		fmt.Fprintf(w, "  payout       %s\n", d.PayoutID)
	}
	if d.ProviderTxn != "" {
		fmt.Fprintf(w, "  provider txn %s\n", d.ProviderTxn)
	}
	fmt.Fprintf(w, "  detail       %s\n  found by     %s at %s\n", d.Detail, d.RunID, d.CreatedAt.UTC().Format(time.RFC3339))
	if d.By != "" {
		fmt.Fprintf(w, "  %-12s %s (%s)\n", d.State+" by", d.By, d.Note)
	}
	if len(d.Ours) > 0 {
		fmt.Fprintf(w, "  ours         %s\n", d.Ours)
	}
	if len(d.Theirs) > 0 {
		fmt.Fprintf(w, "  theirs       %s\n", d.Theirs)
	}
	return ExitOK
}

// reconRun is `finconnectd recon run`.
func reconRun(ctx context.Context, io IO, a reconArgs) int {
	cfg, st, ok := configAndStore(ctx, io, a.Config, openStore)
	if !ok {
		return ExitError
	}
	defer st.Close()
	set, err := clients.New(cfg, clients.Options{})
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: %v\n", err)
		return ExitError
	}
	ids := set.IDs()
	if a.Provider != "" {
		if _, ok := set.Payer(a.Provider); !ok {
			fmt.Fprintf(io.Stderr, "Error: no provider %q in the configuration (it has %s)\n", a.Provider, strings.Join(ids, ", "))
			return ExitError
		}
		ids = []string{a.Provider}
	}
	var rows *csvRows
	if a.CSV != "" {
		if rows, err = newCSVRows(a.CSV); err != nil {
			fmt.Fprintf(io.Stderr, "Error: %v\n", err)
			return ExitError
		}
	}
	bar := newProgressBar(io)
	opts, err := reconOptions(cfg, st, set)
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: %v\n", err)
		return ExitError
	}
	opts.QueryRate, opts.PageSize, opts.Progress = a.Rate, a.PageSize, bar.update
	if rows != nil {
		opts.Row = rows.write
	}
	eng := recon.New(opts)
	var (
		sums []recon.Summary
		errs []error
	)
	for _, id := range ids {
		sum, err := eng.Run(ctx, id, a.from, a.to)
		bar.done()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sums = append(sums, sum)
	}
	if rows != nil {
		if err := rows.close(); err != nil {
			errs = append(errs, err)
		}
	}
	open := 0
	for _, s := range sums {
		open += s.OpenTotal()
	}
	if a.JSON {
		writeJSONOut(io, reconJSON(sums, errs))
	} else {
		printReconSummary(io.Stdout, sums, a)
	}
	for _, err := range errs {
		fmt.Fprintf(io.Stderr, "Error: %v\n", err)
	}
	switch {
	case len(errs) > 0:
		return ExitError
	case open > 0:
		return ExitDifferences
	}
	return ExitOK
}

// reconOptions wires the engine to a configuration's clients and routes.
// Payouts are healed through the payouts service, as payout sync does
// (it sends nothing: no payout client is given).
func reconOptions(cfg *config.Config, st state.Store, set *clients.Set) (recon.Options, error) {
	settler := settle.New(settle.Options{Store: st, Routes: func() []*config.Route { return cfg.Routes }})
	rt := &payouts.Runtime{Config: cfg}
	po, err := payouts.New(payouts.Options{Store: st, Runtime: func() *payouts.Runtime { return rt }, Settler: settler})
	if err != nil {
		return recon.Options{}, fmt.Errorf("reconcile: %w", err)
	}
	return recon.Options{
		Store:     st,
		Settler:   po.RefundAware(settler),
		Payer:     set.Payer,
		ClickPesa: set.ClickPesa,
		Routes:    func() []*config.Route { return cfg.Routes },
		Payouts:   po,
	}, nil
}

type runJSON struct {
	RunID         string                  `json:"run_id"`
	Provider      string                  `json:"provider"`
	From          time.Time               `json:"from"`
	To            time.Time               `json:"to"`
	Status        string                  `json:"status"`
	Resumed       bool                    `json:"resumed"`
	Counters      state.ReconCounters     `json:"counters"`
	Healed        int                     `json:"healed"`
	New           map[state.DiffClass]int `json:"new_differences"`
	Open          map[state.DiffClass]int `json:"open_differences"`
	OpenDiffTotal int                     `json:"open_total"`
}

func reconJSON(sums []recon.Summary, errs []error) map[string]any {
	runs := make([]runJSON, 0, len(sums))
	for _, s := range sums {
		runs = append(runs, runJSON{RunID: s.Run.ID, Provider: s.Run.Provider, From: s.Run.From, To: s.Run.To, Status: s.Run.Status,
			Resumed: s.Resumed, Counters: s.Run.Counters, Healed: s.Healed, New: s.New, Open: s.Open, OpenDiffTotal: s.OpenTotal()})
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return map[string]any{"runs": runs, "errors": msgs}
}

func printReconSummary(w io.Writer, sums []recon.Summary, a reconArgs) {
	fmt.Fprintf(w, "Reconciliation of %s to %s\n\n", a.from.Format(time.RFC3339), a.to.Format(time.RFC3339))
	for _, s := range sums {
		c := s.Run.Counters
		resumed := ""
		if s.Resumed {
			resumed = " (resumed)"
		}
		fmt.Fprintf(w, "%s  run %s%s\n", s.Run.Provider, s.Run.ID, resumed)
		fmt.Fprintf(w, "  provider calls %d, provider transactions %d, our payments %d, our payouts %d, matched %d\n",
			c.ProviderCalls, c.ProviderItems, c.OurPayments, c.OurPayouts, c.Matched)
		fmt.Fprintf(w, "  healed %d (the provider's status applied, with its event)\n", s.Healed)
		fmt.Fprintf(w, "  new differences %d, open differences %d\n", sum(s.New), s.OpenTotal())
		for _, cl := range state.DiffClasses() {
			if n := s.Open[cl]; n > 0 {
				fmt.Fprintf(w, "    %-24s %d open (%d new)\n", cl, n, s.New[cl])
			}
		}
	}
	if open := openOf(sums); open > 0 {
		fmt.Fprintf(w, "\n%d difference(s) remain open: finconnectd recon list -state open\n", open)
	} else {
		fmt.Fprintln(w, "\nNo open differences.")
	}
}

func sum(m map[state.DiffClass]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func openOf(sums []recon.Summary) int {
	n := 0
	for _, s := range sums {
		n += s.OpenTotal()
	}
	return n
}

// csvRows writes the run's rows as CSV.
type csvRows struct {
	mu  sync.Mutex
	f   *os.File
	w   *csv.Writer
	err error
}

func newCSVRows(path string) (*csvRows, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create the CSV file: %w", err)
	}
	r := &csvRows{f: f, w: csv.NewWriter(f)}
	r.err = r.w.Write([]string{"provider", "reference", "payment_id", "our_status", "our_amount", "our_currency",
		"provider_transaction", "provider_status", "provider_amount", "provider_currency", "outcome", "kind", "payout_id"})
	return r, nil
}

func (r *csvRows) write(x recon.Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Write([]string{x.Provider, x.Reference, x.PaymentID, x.OurStatus, x.OurAmount, x.OurCurrency,
			x.ProviderTxn, x.ProviderStatus, x.ProviderAmount, x.ProviderCurr, x.Outcome, x.Kind, x.PayoutID})
	}
}

func (r *csvRows) close() error {
	r.w.Flush()
	err := errors.Join(r.err, r.w.Error(), r.f.Close())
	if err != nil {
		return fmt.Errorf("write the CSV file: %w", err)
	}
	return nil
}

// progressBar draws a run's progress on a terminal's stderr; elsewhere it
// draws nothing.
type progressBar struct {
	io    IO
	on    bool
	drawn bool
	last  time.Time
}

func newProgressBar(io IO) *progressBar { return &progressBar{io: io, on: io.StderrIsTerminal} }

func (b *progressBar) update(p recon.Progress) {
	if !b.on || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	c := p.Counters
	line := fmt.Sprintf("%s %s: %d provider transactions, %d of ours, %d calls", p.Provider, p.Phase, c.ProviderItems,
		c.OurPayments+c.OurPayouts, c.ProviderCalls)
	if c.Total > 0 && p.Phase == "provider_list" {
		const width = 30
		done := min(c.ProviderItems, c.Total)
		n := done * width / c.Total
		line = fmt.Sprintf("%s [%s%s] %d/%d, %d calls", p.Provider, strings.Repeat("#", n), strings.Repeat(".", width-n), done, c.Total, c.ProviderCalls)
	}
	fmt.Fprintf(b.io.Stderr, "\r\033[K%s", line)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprint(b.io.Stderr, "\r\033[K")
		b.drawn = false
	}
}
