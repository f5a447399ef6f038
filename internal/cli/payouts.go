package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/state"
)

const payoutsUsage = `Usage: finconnectd payouts list [-config PATH | -dev] [-status S] [-provider P] [-reference R]
                            [-payment ID] [-limit N] [-json]
       finconnectd payouts show [-config PATH | -dev] [-json] ID

Payouts (and refunds paid as payouts) known to this installation, read from
the state store; no provider is asked. Newest first.

Flags:
`

const payoutsExamples = `
Examples:
  finconnectd payouts list -dev               # while 'finconnectd serve -dev' runs
  finconnectd payouts list -status unknown
  finconnectd payouts list -payment pay_2x7q... # the refunds of a payment
  finconnectd payouts show po_4k2m...
`

// payoutsArgs are the parsed flags of payouts list / show.
type payoutsArgs struct {
	Sub       string // list | show
	ID        string // show
	Config    string
	Dev       bool
	Status    string
	Provider  string
	Reference string
	Payment   string
	Limit     int
	JSON      bool
}

func payoutStatuses() []string {
	return []string{state.PayoutPending, state.PayoutSucceeded, state.PayoutFailed, state.PayoutReversed, state.PayoutUnknown}
}

// parsePayoutsArgs parses `payouts SUB [flags] [ID]`.
func parsePayoutsArgs(args []string, stdout, stderr io.Writer) (payoutsArgs, error) {
	var a payoutsArgs
	fs := flag.NewFlagSet("payouts", flag.ContinueOnError)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.Dev, "dev", false, "read the store of the running 'finconnectd serve -dev' instead of a configuration's")
	fs.StringVar(&a.Status, "status", "", "list: only payouts in this status ("+strings.Join(payoutStatuses(), ", ")+")")
	fs.StringVar(&a.Provider, "provider", "", "list: only this provider ID, e.g. clickpesa.tz")
	fs.StringVar(&a.Reference, "reference", "", "list: only this reference")
	fs.StringVar(&a.Payment, "payment", "", "list: only the refunds of this payment ID")
	fs.IntVar(&a.Limit, "limit", 100, "list: at most this many payouts")
	fs.BoolVar(&a.JSON, "json", false, "print JSON instead of text")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), payoutsUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), payoutsExamples)
	}
	sub, positional, err := parseSubcommand(fs, "payouts", []string{"list", "show"}, args, stdout, stderr)
	if err != nil {
		return a, err
	}
	a.Sub = sub
	if a.Dev && a.Config != "" {
		fmt.Fprintf(stderr, "finconnectd payouts %s: -dev reads the serve -dev store; drop -config\n", a.Sub)
		return a, errors.New("-dev with -config")
	}
	switch a.Sub {
	case "list":
		if len(positional) > 0 {
			fmt.Fprintf(stderr, "finconnectd payouts list: unexpected argument %q\n", positional[0])
			return a, errors.New("unexpected arguments")
		}
		if a.Status != "" && !slices.Contains(payoutStatuses(), a.Status) {
			fmt.Fprintf(stderr, "finconnectd payouts list: -status %q is not one of %s\n", a.Status, strings.Join(payoutStatuses(), ", "))
			return a, errors.New("bad -status")
		}
		if a.Limit < 1 || a.Limit > maxPageLimit {
			fmt.Fprintf(stderr, "finconnectd payouts list: -limit must be from 1 to %d\n", maxPageLimit)
			return a, errors.New("bad -limit")
		}
	case "show":
		if len(positional) != 1 {
			fmt.Fprintln(stderr, "finconnectd payouts show: give exactly one payout ID (po_...)")
			return a, errors.New("missing ID")
		}
		a.ID = positional[0]
	}
	return a, nil
}

// runPayouts is `finconnectd payouts list|show`.
func runPayouts(ctx context.Context, io IO, args []string) int {
	return runPayoutsWith(ctx, io, args, openStore)
}

func runPayoutsWith(ctx context.Context, io IO, args []string, open storeOpener) int {
	a, err := parsePayoutsArgs(args, io.Stdout, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	st, ok := existingStore(ctx, io, a.Config, a.Dev, open)
	if !ok {
		return ExitError
	}
	defer st.Close()
	if a.Sub == "show" {
		return showRecord(io, "payout", a.ID, a.JSON, func() (state.Payout, error) { return st.Payout(ctx, a.ID) },
			func(p state.Payout) any { return payouts.View(p) }, writePayout)
	}
	list, err := st.ListPayouts(ctx, state.PayoutFilter{Provider: a.Provider, Reference: a.Reference, Status: a.Status, PaymentID: a.Payment, Limit: a.Limit})
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: list payouts: %v\n", err)
		return ExitError
	}
	if a.JSON {
		out := struct {
			Payouts []payouts.Payout `json:"payouts"`
		}{Payouts: make([]payouts.Payout, 0, len(list))}
		for _, p := range list {
			out.Payouts = append(out.Payouts, payouts.View(p))
		}
		return writeJSONOut(io, out)
	}
	writePayoutList(io.Stdout, list)
	return ExitOK
}

func writePayoutList(w io.Writer, list []state.Payout) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No payouts.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROVIDER\tREFERENCE\tSTATUS\tAMOUNT\tTO\tCREATED")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\t%s\n", p.ID, p.Provider, clean(p.Reference), p.Status, p.Amount, p.Currency,
			clean(payoutDestination(p)), p.CreatedAt.UTC().Format(time.RFC3339))
	}
	_ = tw.Flush()
}

func payoutDestination(p state.Payout) string {
	if p.DestinationType == state.DestinationBank {
		return p.Bank + " " + p.AccountNumber
	}
	return p.Phone
}

func writePayout(w io.Writer, p state.Payout) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, clean(v))
		}
	}
	row("id", p.ID)
	row("provider", p.Provider)
	row("reference", p.Reference)
	row("status", p.Status)
	row("amount", p.Amount+" "+p.Currency)
	if p.Fee != "" {
		row("fee", p.Fee+" "+p.Currency)
	}
	row("destination", p.DestinationType+" "+payoutDestination(p))
	row("account_name", p.AccountName)
	row("receiver_name", p.ReceiverName)
	row("channel", p.Channel)
	row("description", p.Description)
	row("payment_id", p.PaymentID)
	row("token", p.Token)
	row("provider_reference", p.ProviderReference)
	row("message", p.Message)
	row("created_at", p.CreatedAt.UTC().Format(time.RFC3339))
	row("updated_at", p.UpdatedAt.UTC().Format(time.RFC3339))
	if !p.NextSyncAt.IsZero() && (p.Status == state.PayoutPending || p.Status == state.PayoutUnknown) {
		row("next_sync_at", p.NextSyncAt.UTC().Format(time.RFC3339))
		row("sync_attempts", fmt.Sprint(p.SyncAttempts))
	}
	_ = tw.Flush()
}

const auditUsage = `Usage: finconnectd audit [-config PATH | -dev] [-token NAME] [-action A] [-subject ID] [-limit N] [-json]

The audit trail of money-out requests (payouts, refunds, cancellations),
refused ones included, read from the state store, newest first: when,
which API token (by name), what was asked, the result and the HTTP status
answered. Entries are never changed or deleted.

Flags:
`

const auditExamples = `
Examples:
  finconnectd audit -dev
  finconnectd audit -token finance -action payout.create
  finconnectd audit -subject po_4k2m... -json
`

// auditArgs are the parsed flags of audit.
type auditArgs struct {
	Config  string
	Dev     bool
	Token   string
	Action  string
	Subject string
	Limit   int
	JSON    bool
}

func parseAuditArgs(args []string, stdout, stderr io.Writer) (auditArgs, error) {
	var a auditArgs
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.Dev, "dev", false, "read the store of the running 'finconnectd serve -dev' instead of a configuration's")
	fs.StringVar(&a.Token, "token", "", "only the requests of this API token name")
	fs.StringVar(&a.Action, "action", "", "only this action ("+strings.Join(payouts.AuditActions(), ", ")+")")
	fs.StringVar(&a.Subject, "subject", "", "only the entries about this payout, refund or payment ID")
	fs.IntVar(&a.Limit, "limit", 100, "at most this many entries")
	fs.BoolVar(&a.JSON, "json", false, "print JSON instead of text")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), auditExamples)
	}
	fs.SetOutput(stderr)
	for _, arg := range args {
		if isHelpArg(arg) {
			fs.SetOutput(stdout)
		}
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "finconnectd audit: unexpected argument %q\n", fs.Arg(0))
		return a, errors.New("unexpected arguments")
	case a.Dev && a.Config != "":
		fmt.Fprintln(stderr, "finconnectd audit: -dev reads the serve -dev store; drop -config")
		return a, errors.New("-dev with -config")
	case a.Action != "" && !slices.Contains(payouts.AuditActions(), a.Action):
		fmt.Fprintf(stderr, "finconnectd audit: -action %q is not one of %s\n", a.Action, strings.Join(payouts.AuditActions(), ", "))
		return a, errors.New("bad -action")
	case a.Limit < 1 || a.Limit > maxPageLimit:
		fmt.Fprintf(stderr, "finconnectd audit: -limit must be from 1 to %d\n", maxPageLimit)
		return a, errors.New("bad -limit")
	}
	return a, nil
}

// runAudit is `finconnectd audit`.
func runAudit(ctx context.Context, io IO, args []string) int {
	return runAuditWith(ctx, io, args, openStore)
}

func runAuditWith(ctx context.Context, io IO, args []string, open storeOpener) int {
	a, err := parseAuditArgs(args, io.Stdout, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	st, ok := existingStore(ctx, io, a.Config, a.Dev, open)
	if !ok {
		return ExitError
	}
	defer st.Close()
	list, err := st.ListAudit(ctx, state.AuditFilter{Token: a.Token, Action: a.Action, Subject: a.Subject, Limit: a.Limit})
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: list audit entries: %v\n", err)
		return ExitError
	}
	if a.JSON {
		out := struct {
			Entries []payouts.AuditEntry `json:"entries"`
		}{Entries: make([]payouts.AuditEntry, 0, len(list))}
		for _, e := range list {
			out.Entries = append(out.Entries, payouts.AuditView(e))
		}
		return writeJSONOut(io, out)
	}
	writeAudit(io.Stdout, list)
	return ExitOK
}

func writeAudit(w io.Writer, list []state.AuditEntry) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No audit entries.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tTOKEN\tACTION\tSUBJECT\tRESULT\tSTATUS\tDETAIL")
	for _, e := range list {
		subject := e.Subject
		if subject == "" {
			subject = "-"
		}
		detail := e.Detail
		if r := []rune(detail); len(r) > 80 {
			detail = string(r[:77]) + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.At.UTC().Format(time.RFC3339), clean(e.Token), e.Action, clean(subject),
			e.Result, e.Status, clean(detail))
	}
	_ = tw.Flush()
}
