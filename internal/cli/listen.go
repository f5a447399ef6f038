package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/finconnectd/finconnectd/internal/devmode"
)

const listenUsage = `Usage: finconnectd listen [-listen host:port] [-json]

Receive events as a route's forward would: verify each POST's Standard
Webhooks signature (webhook-id, webhook-timestamp, webhook-signature) with
the secret, answer 204 to a verified event and 401 to any other, and print
what arrived. It runs until Ctrl-C.

The secret is $FINCONNECT_LISTEN_SECRET ("whsec_" and base64); without it,
listen makes one and prints it: put it in the route's forward { secret }.
Point the route's forward { url } at the printed URL (any path is accepted),
then 'finconnectd events test ROUTE' sends it a signed test event.

Flags:
`

const listenExamples = `
Examples:
  finconnectd listen
  FINCONNECT_LISTEN_SECRET=whsec_... finconnectd listen -listen 127.0.0.1:9000
  finconnectd listen -json | jq .data.status
`

// listenArgs are listen's flags.
type listenArgs struct {
	Listen string
	JSON   bool
}

func parseListenArgs(args []string, stdout, stderr io.Writer) (listenArgs, error) {
	a := listenArgs{}
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, arg := range args {
		if isHelpArg(arg) {
			fs.SetOutput(stdout)
		}
	}
	fs.StringVar(&a.Listen, "listen", "127.0.0.1:9000", "the `host:port` to receive events on")
	fs.BoolVar(&a.JSON, "json", false, "print each verified event's body, one JSON document a line")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), listenUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), listenExamples)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "finconnectd listen: unexpected argument %q\n", fs.Arg(0))
		return a, errors.New("unexpected arguments")
	}
	return a, nil
}

// runListen is `finconnectd listen`.
func runListen(ctx context.Context, io IO, args []string) int {
	a, err := parseListenArgs(args, io.Stdout, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	secret, made := "", false
	if v, ok := io.LookupEnv("FINCONNECT_LISTEN_SECRET"); ok && v != "" {
		secret = v
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
		secret, made = "whsec_"+base64.StdEncoding.EncodeToString(b), true
	}
	log := slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sink, err := devmode.NewSink(devmode.SinkOptions{Secret: secret, Logger: log, Stdout: io.Stdout, AnyPath: true, Bodies: a.JSON})
	if err != nil {
		fmt.Fprintf(io.Stderr, "Error: $FINCONNECT_LISTEN_SECRET: %v\n", err)
		return ExitError
	}
	if err := sink.Start(a.Listen); err != nil {
		fmt.Fprintf(io.Stderr, "Error: %v\n", err)
		return ExitError
	}
	fmt.Fprintf(io.Stderr, "Listening for events on %s/events (any path); signatures are checked.\n", sink.URL())
	if made {
		// Printed on purpose: it is a throwaway secret made for this run,
		// and the operator must copy it into the route.
		fmt.Fprintf(io.Stderr, "Secret for the route's forward block: %s\n", secret)
	}
	fmt.Fprintln(io.Stderr, "Ctrl-C stops.")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := sink.Stop(sctx); err != nil {
		fmt.Fprintf(io.Stderr, "Error: stop: %v\n", err)
		return ExitError
	}
	return ExitOK
}
