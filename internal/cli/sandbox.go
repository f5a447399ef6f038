package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// sandboxArgs are sandbox's parsed flags.
type sandboxArgs struct {
	Listen   string
	Settings sandbox.Settings
}

const sandboxUsage = `Usage: finconnectd sandbox [-listen ADDR] [flags]

Run the provider emulator: PesaPal API 3.0, ClickPesa and AzamPay on one
listener, under /pesapal, /clickpesa, /azampay-auth and /azampay. Any
credentials are accepted except the literal "invalid". The customer answers
after -delay, by the last digit of the phone number: 0 succeeds, 1 fails
(insufficient funds), 2 cancels, 3 succeeds without notification, 4 notifies
twice, 5 initiate answers 500, 6 initiate answers only after -slow-answer.

The same settings can be changed while it runs:
  curl -X POST http://ADDR/_sandbox/settings -d '{"delay":"5s"}'
and GET /_sandbox/requests lists what it received.

Runs until interrupted (SIGINT/SIGTERM); exit status 0.

Flags:
`

const sandboxExamples = `
Examples:
  finconnectd sandbox
  finconnectd sandbox -listen 127.0.0.1:9999 -clickpesa-webhook http://127.0.0.1:8080/hooks/clickpesa \
      -azampay-callback http://127.0.0.1:8080/hooks/azampay -delay 1s
`

// sandboxChecksumKeyEnv can carry the ClickPesa checksum key instead of the
// flag, so it does not show in the process list.
const sandboxChecksumKeyEnv = "FINCONNECT_SANDBOX_CLICKPESA_CHECKSUM_KEY"

// parseSandboxArgs parses sandbox's flags. flag.ErrHelp means -help.
func parseSandboxArgs(args []string, stderr io.Writer, lookupEnv func(string) (string, bool)) (sandboxArgs, error) {
	a := sandboxArgs{Settings: sandbox.DefaultSettings()}
	s := &a.Settings
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.Listen, "listen", "127.0.0.1:9999", "address to listen on")
	fs.StringVar(&s.ClickPesaWebhook, "clickpesa-webhook", "", "URL ClickPesa webhooks are POSTed to (none when empty)")
	fs.StringVar(&s.ClickPesaChecksumKey, "clickpesa-checksum-key", "",
		"ClickPesa checksum key: requests must carry a checksum and webhooks carry one (also $"+sandboxChecksumKeyEnv+")")
	fs.StringVar(&s.ClickPesaChecksumMethod, "clickpesa-checksum-method", s.ClickPesaChecksumMethod,
		"checksum method for webhooks and for requests without checksumMethod: canonical or legacy")
	fs.StringVar(&s.AzamPayCallback, "azampay-callback", "", "URL AzamPay callbacks are POSTed to (none when empty)")
	fs.BoolVar(&s.AzamPayUnsigned, "azampay-unsigned", false, "send AzamPay callbacks without a signature (as for accounts AzamPay does not sign for)")
	durationVar(fs, &s.Delay, "delay", "how long the customer takes to answer the prompt")
	durationVar(fs, &s.TokenTTL, "token-ttl", "token lifetime for every provider (0: each provider's documented lifetime)")
	durationVar(fs, &s.Latency, "latency", "added to every answer, for benchmarks")
	durationVar(fs, &s.SlowAnswer, "slow-answer", "how long initiate takes to answer for phones ending in 6")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sandboxUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), sandboxExamples)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "finconnectd sandbox: unexpected argument %q\n\n", fs.Arg(0))
		fs.Usage()
		return a, errors.New("unexpected arguments")
	}
	if s.ClickPesaChecksumKey == "" && lookupEnv != nil {
		if v, ok := lookupEnv(sandboxChecksumKeyEnv); ok {
			s.ClickPesaChecksumKey = v
		}
	}
	if err := s.Validate(); err != nil {
		fmt.Fprintf(stderr, "finconnectd sandbox: %v\n", err)
		return a, err
	}
	return a, nil
}

func durationVar(fs *flag.FlagSet, d *sandbox.Duration, name, usage string) {
	fs.Func(name, fmt.Sprintf("%s (default %s)", usage, d), func(v string) error {
		x, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if x < 0 {
			return errors.New("must not be negative")
		}
		*d = sandbox.Duration(x)
		return nil
	})
}

// runSandbox is `finconnectd sandbox`: the emulator until ctx ends.
func runSandbox(ctx context.Context, io IO, args []string) int {
	a, err := parseSandboxArgs(args, io.Stderr, io.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	log := slog.New(slog.NewTextHandler(io.Stderr, nil))
	e, err := sandbox.New(sandbox.Options{Settings: a.Settings, Logger: log})
	if err != nil {
		fmt.Fprintf(io.Stderr, "finconnectd sandbox: %v\n", err)
		return ExitError
	}
	if err := e.Start(a.Listen); err != nil {
		fmt.Fprintf(io.Stderr, "finconnectd sandbox: %v\n", err)
		return ExitError
	}
	u := e.URL()
	s := a.Settings
	checksum := "off"
	if s.ClickPesaChecksumKey != "" {
		checksum = "on (" + s.ClickPesaChecksumMethod + ")"
	}
	log.Info("sandbox listening", "url", u)
	log.Info("sandbox pesapal", "base_url", u+"/pesapal")
	log.Info("sandbox clickpesa", "base_url", u+"/clickpesa", "webhook", s.ClickPesaWebhook, "checksum", checksum)
	log.Info("sandbox azampay", "auth_url", u+"/azampay-auth", "base_url", u+"/azampay", "callback", s.AzamPayCallback)
	log.Info("sandbox customer", "delay", s.Delay, "slow_answer", s.SlowAnswer, "token_ttl", s.TokenTTL, "latency", s.Latency,
		"outcomes", "last phone digit: 0 ok, 1 insufficient funds, 2 cancelled, 3 ok without notification, 4 notified twice, 5 HTTP 500, 6 slow answer")
	log.Info("sandbox control", "requests", u+"/_sandbox/requests", "settings", u+"/_sandbox/settings")

	<-ctx.Done()
	log.Info("sandbox stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(stopCtx); err != nil {
		log.Warn("sandbox stop", "err", err)
	}
	log.Info("sandbox stopped")
	return ExitOK
}
