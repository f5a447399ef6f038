package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/state"
)

const eventsUsage = `Usage: finconnectd events list [-config PATH | -dev] [-status S] [-route R] [-limit N] [-cursor C] [-all] [-json]
       finconnectd events show [-config PATH | -dev] [-json] ID
       finconnectd events replay [-config PATH | -dev] ID...
       finconnectd events test [-config PATH] ROUTE

The delivery log, read from the state store: every event finconnectd
emitted, one delivery per route it goes to, and every attempt made.

  list     deliveries, newest first (an event sent to two routes is two rows),
           a page of -limit at a time: -json gives the next page's
           next_cursor for -cursor, and -all reads every page
  show     one event: its payload, its deliveries and each attempt with the
           forward's status code and error
  replay   put every delivery of the events back to pending, due now, with
           a fresh attempt budget. It only writes the store, so it works
           while 'finconnectd serve' runs: the daemon picks the events up
           within a second. Delivered events can be replayed too (the
           receiver sees the same webhook-id again).
  test     sign a test event (type "test", reference TEST) with the
           route's secret and POST it to the route's forward url now, as a
           delivery would, and print the answer. It goes around the
           delivery log: nothing is recorded or retried, and no daemon is
           needed. 'finconnectd listen' is a receiver to try it on.

Flags:
`

const eventsExamples = `
Examples:
  finconnectd events list -dev                 # while 'finconnectd serve -dev' runs
  finconnectd events list -status dead
  finconnectd events list -route orders -limit 20 -json
  finconnectd events list -all -json | jq -r '.deliveries[].event_id'
  finconnectd events show evt_3kq...
  finconnectd events replay evt_3kq... evt_9xa...
  finconnectd events test orders
  finconnectd events list -status dead -json | jq -r '.deliveries[].event_id' | xargs finconnectd events replay
`

// eventsArgs are the parsed flags of events list / show / replay.
type eventsArgs struct {
	Sub    string   // list | show | replay
	IDs    []string // show: one; replay: one or more
	Config string
	Dev    bool
	Status string
	Route  string
	Limit  int
	Cursor string
	All    bool
	JSON   bool
}

// parseEventsArgs parses `events SUB [flags] [ID...]`; flags may follow the
// IDs. -help prints the usage to stdout and returns flag.ErrHelp; errors
// print it to stderr.
func parseEventsArgs(args []string, stdout, stderr io.Writer) (eventsArgs, error) {
	a := eventsArgs{}
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.Dev, "dev", false, "read the store of the running 'finconnectd serve -dev' instead of a configuration's")
	fs.StringVar(&a.Status, "status", "", "list: only deliveries in this status (pending, delivered, dead)")
	fs.StringVar(&a.Route, "route", "", "list: only deliveries to this route")
	fs.IntVar(&a.Limit, "limit", 100, fmt.Sprintf("list: at most this many deliveries (1 to %d; with -all: a page)", delivery.MaxListLimit))
	fs.StringVar(&a.Cursor, "cursor", "", "list: start at this page (a next_cursor of -json or of the API)")
	fs.BoolVar(&a.All, "all", false, "list: every page, not only the first")
	fs.BoolVar(&a.JSON, "json", false, "list, show: print JSON (the events API's shapes) instead of text")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), eventsUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), eventsExamples)
	}
	sub, ids, err := parseSubcommand(fs, "events", []string{"list", "show", "replay", "test"}, args, stdout, stderr)
	if err != nil {
		return a, err
	}
	a.Sub, a.IDs = sub, ids
	fail := func(format string, v ...any) (eventsArgs, error) {
		msg := fmt.Sprintf(format, v...)
		fmt.Fprintf(stderr, "finconnectd events %s: %s\n", a.Sub, msg)
		return a, errors.New(msg)
	}
	if a.Dev && a.Config != "" {
		return fail("-dev reads the serve -dev store; drop -config")
	}
	switch a.Sub {
	case "list":
		if len(a.IDs) > 0 {
			return fail("unexpected argument %q", a.IDs[0])
		}
		if err := delivery.ParseStatus(a.Status); err != nil {
			return fail("-status %q %s", a.Status, err)
		}
		if a.Limit < 1 || a.Limit > delivery.MaxListLimit {
			return fail("-limit must be from 1 to %d", delivery.MaxListLimit)
		}
	case "show":
		if len(a.IDs) != 1 {
			return fail("give exactly one event ID (evt_...)")
		}
	case "replay":
		if len(a.IDs) == 0 {
			return fail("give at least one event ID (evt_...)")
		}
	case "test":
		if len(a.IDs) != 1 {
			return fail("give exactly one route name")
		}
		if a.Dev {
			return fail("-dev does not apply: serve -dev's routes forward to its own sink")
		}
	}
	return a, nil
}

// runEvents is `finconnectd events list|show|replay`.
func runEvents(ctx context.Context, io IO, args []string) int {
	return runEventsWith(ctx, io, args, openStore, time.Now)
}

func runEventsWith(ctx context.Context, io IO, args []string, open storeOpener, now func() time.Time) int {
	a, err := parseEventsArgs(args, io.Stdout, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	if a.Sub == "test" {
		return eventsTest(ctx, io, a, now)
	}
	st, ok := existingStore(ctx, io, a.Config, a.Dev, open)
	if !ok {
		return ExitError
	}
	defer st.Close()
	switch a.Sub {
	case "show":
		return eventsShow(ctx, io, st, a)
	case "replay":
		return eventsReplay(ctx, io, st, a, now)
	}
	list, next, err := walkPages(a.Cursor, a.Limit, a.All, "delivery", func(after string, n int) ([]state.Delivery, error) {
		return st.ListDeliveries(ctx, state.EventFilter{Status: a.Status, Route: a.Route, Limit: n, After: after})
	}, func(d state.Delivery) string { return d.ID })
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: list deliveries: %v\n", err)
		return ExitError
	}
	if a.JSON {
		out := delivery.ViewDeliveries(list)
		out.NextCursor = next
		return writeJSONOut(io, out)
	}
	writeDeliveryList(io.Stdout, list)
	moreHint(io, next)
	return ExitOK
}

func eventsShow(ctx context.Context, io IO, st state.Store, a eventsArgs) int {
	id := a.IDs[0]
	ev, dels, atts, err := st.EventDetail(ctx, id)
	if err != nil {
		if errors.Is(err, state.ErrNotFound) {
			fmt.Fprintf(io.Stderr, "Error: no event %q (finconnectd events list shows the IDs)\n", clean(id))
		} else {
			fmt.Fprintf(io.Stderr, "Error: read event %s: %v\n", clean(id), err)
		}
		return ExitError
	}
	v := delivery.ViewEvent(ev, dels, atts)
	if a.JSON {
		return writeJSONOut(io, v)
	}
	writeEvent(io.Stdout, v)
	return ExitOK
}

func eventsReplay(ctx context.Context, io IO, st state.Store, a eventsArgs, now func() time.Time) int {
	code := ExitOK
	replayed := 0
	for _, id := range a.IDs {
		if err := st.ReplayEvent(ctx, id, now()); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				fmt.Fprintf(io.Stderr, "Error: no event %q (finconnectd events list shows the IDs)\n", clean(id))
			} else {
				fmt.Fprintf(io.Stderr, "Error: replay %s: %v\n", clean(id), err)
			}
			code = ExitError
			continue
		}
		replayed++
		routes := ""
		if _, dels, _, err := st.EventDetail(ctx, id); err == nil {
			names := make([]string, 0, len(dels))
			for _, d := range dels {
				names = append(names, d.Route)
			}
			routes = " to " + strings.Join(names, ", ")
		}
		fmt.Fprintf(io.Stdout, "Replayed %s: pending delivery%s.\n", id, routes)
	}
	if replayed > 0 {
		fmt.Fprintln(io.Stdout, "A running 'finconnectd serve' delivers them within a second; 'finconnectd events show ID' follows up.")
	}
	return code
}

func writeDeliveryList(w io.Writer, list []state.Delivery) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No deliveries.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tPAYMENT\tROUTE\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST")
	for _, d := range list {
		v := delivery.ViewDelivery(d)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", v.EventID, clean(v.EventType), v.PaymentID, clean(v.Route), v.Status,
			v.Attempts, nextAttempt(v), lastOutcome(v.LastStatusCode, v.LastError, v.Attempts))
	}
	_ = tw.Flush()
}

func nextAttempt(v delivery.DeliveryView) string {
	if v.NextAttemptAt == nil {
		return "-"
	}
	return v.NextAttemptAt.Format(time.RFC3339)
}

// lastOutcome is a short word for the last attempt: its status code, or
// "no answer" when there was no response.
func lastOutcome(code int, errText string, attempts int) string {
	switch {
	case code > 0:
		return fmt.Sprint(code)
	case attempts > 0 || errText != "":
		return "no answer"
	}
	return "-"
}

func writeEvent(w io.Writer, v delivery.EventView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", v.ID)
	fmt.Fprintf(tw, "type\t%s\n", clean(v.Type))
	fmt.Fprintf(tw, "payment_id\t%s\n", v.PaymentID)
	fmt.Fprintf(tw, "provider\t%s\n", clean(v.Provider))
	fmt.Fprintf(tw, "created_at\t%s\n", v.CreatedAt.Format(time.RFC3339))
	_ = tw.Flush()

	fmt.Fprintln(w, "\nDeliveries:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROUTE\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST\tDELIVERY")
	for _, d := range v.Deliveries {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", clean(d.Route), d.Status, d.Attempts, nextAttempt(d),
			lastOutcome(d.LastStatusCode, d.LastError, d.Attempts), d.ID)
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nAttempts:")
	if len(v.Attempts) == 0 {
		fmt.Fprintln(w, "  none yet")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROUTE\tN\tAT\tDURATION\tSTATUS\tERROR")
		for _, a := range v.Attempts {
			errText := a.Error
			if errText == "" {
				errText = "-"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", clean(a.Route), a.N, a.At.Format(time.RFC3339),
				(time.Duration(a.DurationMS) * time.Millisecond).String(), lastOutcome(a.StatusCode, a.Error, 1), clean(errText))
		}
		_ = tw.Flush()
	}

	fmt.Fprintln(w, "\nPayload:")
	var b bytes.Buffer
	if err := json.Indent(&b, v.Payload, "  ", "  "); err != nil {
		b.Reset()
		b.WriteString(clean(string(v.Payload)))
	}
	fmt.Fprintf(w, "  %s\n", b.String())
}
