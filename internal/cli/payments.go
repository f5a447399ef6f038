package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/finconnectd/finconnectd/internal/payments"
	"github.com/finconnectd/finconnectd/internal/state"
)

const paymentsUsage = `Usage: finconnectd payments list [-config PATH | -dev] [-status S] [-provider P] [-reference R]
                             [-limit N] [-cursor C] [-all] [-json]
       finconnectd payments show [-config PATH | -dev] [-json] ID
       finconnectd payments refund [-config PATH | -api URL] -reference R -reason TEXT [-amount A]
                             [-idempotency-key K] [-json] ID
       finconnectd payments cancel [-config PATH | -api URL] [-json] ID

list and show read the payments known to this installation from the state
store (no provider is asked; the daemon's sync_payments schedule and
GET /v1/payments/{id}?refresh=true do that). Newest first, a page of -limit
at a time: -json gives the next page's next_cursor for -cursor, and -all
reads every page.

refund and cancel ask the running daemon (POST /v1/payments/{id}/refunds,
POST /v1/payments/{id}/cancel), which checks, stores, audits and sends. Its
address: -api, else $FINCONNECT_API_URL, else $API, else the configuration's
api.listen. The token (scope refunds) comes from $FINCONNECT_API_TOKEN, else
$TOKEN: never from a flag. serve -dev's banner exports API and TOKEN.

Flags:
`

const paymentsExamples = `
Examples:
  finconnectd payments list -dev               # while 'finconnectd serve -dev' runs
  finconnectd payments list -status unknown
  finconnectd payments list -provider clickpesa.tz -json
  finconnectd payments list -status succeeded -all -json | jq -r '.payments[].id'
  finconnectd payments show pay_2x7q...
  finconnectd payments refund -reference RF1001 -reason "damaged item" -amount 4000 pay_2x7q...
  finconnectd payments cancel pay_2x7q...
`

// paymentsArgs are the parsed flags of payments list / show.
type paymentsArgs struct {
	Sub       string // list | show
	ID        string // show
	Config    string
	Dev       bool
	Status    string
	Provider  string
	Reference string
	Limit     int
	Cursor    string
	All       bool
	JSON      bool
	// refund, cancel
	API       string
	RefundRef string
	Amount    string
	Reason    string
	IdemKey   string
}

// parsePaymentsArgs parses `payments SUB [flags] [ID]`; flags may follow
// the ID. -help prints the usage to stdout and returns flag.ErrHelp.
func parsePaymentsArgs(args []string, stdout, stderr io.Writer) (paymentsArgs, error) {
	var a paymentsArgs
	fs := flag.NewFlagSet("payments", flag.ContinueOnError)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.Dev, "dev", false, "read the store of the running 'finconnectd serve -dev' instead of a configuration's")
	fs.StringVar(&a.Status, "status", "", "list: only payments in this status (pending, succeeded, failed, reversed, unknown)")
	fs.StringVar(&a.Provider, "provider", "", "list: only this provider ID, e.g. clickpesa.tz")
	fs.IntVar(&a.Limit, "limit", 100, "list: at most this many payments (with -all: a page)")
	fs.StringVar(&a.Cursor, "cursor", "", "list: start at this page (a next_cursor of -json or of the API)")
	fs.BoolVar(&a.All, "all", false, "list: every page, not only the first")
	fs.BoolVar(&a.JSON, "json", false, "print JSON instead of text")
	fs.StringVar(&a.API, "api", "", "refund, cancel: the daemon's API URL (default $FINCONNECT_API_URL, $API, else the configuration's api.listen)")
	fs.StringVar(&a.RefundRef, "reference", "", "list: only this merchant reference; refund: the refund's own unique reference")
	fs.StringVar(&a.Amount, "amount", "", "refund: what to pay back (default everything not refunded yet)")
	fs.StringVar(&a.Reason, "reason", "", "refund: why (required)")
	fs.StringVar(&a.IdemKey, "idempotency-key", "", "refund: an Idempotency-Key, so that running it again is safe")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), paymentsUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), paymentsExamples)
	}
	sub, positional, err := parseSubcommand(fs, "payments", []string{"list", "show", "refund", "cancel"}, args, stdout, stderr)
	if err != nil {
		return a, err
	}
	a.Sub = sub
	if a.Sub == "list" {
		a.Reference, a.RefundRef = a.RefundRef, ""
	}
	if a.Dev && a.Config != "" {
		fmt.Fprintf(stderr, "finconnectd payments %s: -dev reads the serve -dev store; drop -config\n", a.Sub)
		return a, errors.New("-dev with -config")
	}
	switch a.Sub {
	case "list":
		if len(positional) > 0 {
			fmt.Fprintf(stderr, "finconnectd payments list: unexpected argument %q\n", positional[0])
			return a, errors.New("unexpected arguments")
		}
		switch a.Status {
		case "", "pending", "succeeded", "failed", "reversed", "unknown":
		default:
			fmt.Fprintf(stderr, "finconnectd payments list: -status %q is not pending, succeeded, failed, reversed or unknown\n", a.Status)
			return a, errors.New("bad -status")
		}
		if a.Limit < 1 || a.Limit > maxPageLimit {
			fmt.Fprintf(stderr, "finconnectd payments list: -limit must be from 1 to %d\n", maxPageLimit)
			return a, errors.New("bad -limit")
		}
	case "show", "refund", "cancel":
		if len(positional) != 1 {
			fmt.Fprintf(stderr, "finconnectd payments %s: give exactly one payment ID (pay_...)\n", a.Sub)
			return a, errors.New("missing ID")
		}
		a.ID = positional[0]
	}
	if a.Sub == "refund" {
		switch {
		case a.RefundRef == "":
			fmt.Fprintln(stderr, "finconnectd payments refund: -reference is required: your unique reference for this refund")
			return a, errors.New("missing -reference")
		case strings.TrimSpace(a.Reason) == "":
			fmt.Fprintln(stderr, "finconnectd payments refund: -reason is required: why the payment is refunded")
			return a, errors.New("missing -reason")
		}
	}
	if a.Sub != "refund" && (a.Amount != "" || a.Reason != "" || a.IdemKey != "" || (a.Sub != "list" && a.RefundRef != "")) {
		fmt.Fprintf(stderr, "finconnectd payments %s: -amount, -reason, -idempotency-key and -reference are for refund\n", a.Sub)
		return a, errors.New("refund flags")
	}
	if a.API != "" && a.Sub != "refund" && a.Sub != "cancel" {
		fmt.Fprintf(stderr, "finconnectd payments %s: -api is for refund and cancel\n", a.Sub)
		return a, errors.New("-api")
	}
	return a, nil
}

// runPayments is `finconnectd payments list|show`.
func runPayments(ctx context.Context, io IO, args []string) int {
	return runPaymentsWith(ctx, io, args, openStore)
}

func runPaymentsWith(ctx context.Context, io IO, args []string, open storeOpener) int {
	a, err := parsePaymentsArgs(args, io.Stdout, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	if a.Sub == "refund" || a.Sub == "cancel" {
		return runMoneyOut(ctx, io, a)
	}
	st, ok := existingStore(ctx, io, a.Config, a.Dev, open)
	if !ok {
		return ExitError
	}
	defer st.Close()
	if a.Sub == "show" {
		return showRecord(io, "payment", a.ID, a.JSON, func() (state.Payment, error) { return st.Payment(ctx, a.ID) },
			func(p state.Payment) any { return payments.View(p) }, writePayment)
	}
	list, next, err := walkPages(a.Cursor, a.Limit, a.All, "payment", func(after string, n int) ([]state.Payment, error) {
		return st.ListPayments(ctx, state.PaymentFilter{Provider: a.Provider, Reference: a.Reference, Status: state.PaymentStatus(a.Status), Limit: n, After: after})
	}, func(p state.Payment) string { return p.ID })
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: list payments: %v\n", err)
		return ExitError
	}
	if a.JSON {
		out := payments.PaymentList{Payments: make([]payments.Payment, 0, len(list)), NextCursor: next}
		for _, p := range list {
			out.Payments = append(out.Payments, payments.View(p))
		}
		return writeJSONOut(io, out)
	}
	writePaymentList(io.Stdout, list)
	moreHint(io, next)
	return ExitOK
}

func writeJSONOut(io IO, v any) int {
	enc := json.NewEncoder(io.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(io.Stderr, "Error: write JSON: %v\n", err)
		return ExitError
	}
	return ExitOK
}

func writePaymentList(w io.Writer, list []state.Payment) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No payments.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROVIDER\tREFERENCE\tSTATUS\tAMOUNT\tCREATED")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\n", p.ID, p.Provider, clean(p.Reference), p.Status, p.Amount, p.Currency,
			p.CreatedAt.UTC().Format(time.RFC3339))
	}
	_ = tw.Flush()
}

func writePayment(w io.Writer, p state.Payment) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, clean(v))
		}
	}
	row("id", p.ID)
	row("provider", p.Provider)
	row("reference", p.Reference)
	row("status", string(p.Status))
	row("amount", p.Amount+" "+p.Currency)
	row("phone", p.Phone)
	row("description", p.Description)
	row("mno", p.MNO)
	row("ipn", p.IPN)
	row("provider_reference", p.ProviderReference)
	row("redirect_url", p.RedirectURL)
	row("confirmation_code", p.ConfirmationCode)
	row("message", p.Message)
	row("created_at", p.CreatedAt.UTC().Format(time.RFC3339))
	row("updated_at", p.UpdatedAt.UTC().Format(time.RFC3339))
	if !p.NextSyncAt.IsZero() && (p.Status == "pending" || p.Status == "unknown") {
		next := p.NextSyncAt.UTC().Format(time.RFC3339)
		if p.NextSyncAt.Year() >= 9999 {
			next = "never (sync gave up after 24h)"
		}
		row("next_sync_at", next)
		row("sync_attempts", fmt.Sprint(p.SyncAttempts))
	}
	_ = tw.Flush()
}

// clean keeps provider-supplied text from moving the terminal around.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// showRecord prints one stored record of kind ("payment", "payout") read
// by get: as JSON (view) or as text (write); a missing one names the list
// command that shows the IDs.
func showRecord[T any](out IO, kind, id string, asJSON bool, get func() (T, error), view func(T) any, write func(io.Writer, T)) int {
	r, err := get()
	if err != nil {
		if errors.Is(err, state.ErrNotFound) {
			fmt.Fprintf(out.Stderr, "Error: no %s %q (finconnectd %ss list shows the IDs)\n", kind, id, kind)
		} else {
			fmt.Fprintf(out.Stderr, "Error: read %s %s: %v\n", kind, id, err)
		}
		return ExitError
	}
	if asJSON {
		return writeJSONOut(out, view(r))
	}
	write(out.Stdout, r)
	return ExitOK
}
