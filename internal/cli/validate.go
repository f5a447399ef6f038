package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// validateArgs are validate's parsed flags.
type validateArgs struct {
	Config  string
	NoColor bool
}

const validateUsage = `Usage: finconnectd validate [-config PATH] [-no-color]

Parse the configuration, type-check it, resolve references and check
durations, cron specs and URLs. Makes no network call and starts nothing.
Every problem is reported at once; secret values are never printed.

Exit status: 0 when the configuration is valid (warnings may be printed),
1 when there are errors.

Flags:
`

const validateExamples = `
Examples:
  finconnectd validate
  finconnectd validate -config /etc/finconnectd
  FINCONNECT_CONFIG=examples/production.hcl finconnectd validate
`

// parseValidateArgs parses validate's flags. flag.ErrHelp means -help.
func parseValidateArgs(args []string, stderr io.Writer) (validateArgs, error) {
	var a validateArgs
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory of *.hcl (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.NoColor, "no-color", false, "never colour the output")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), validateUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), validateExamples)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "finconnectd validate: unexpected argument %q; use -config PATH\n\n", fs.Arg(0))
		fs.Usage()
		return a, errors.New("unexpected arguments")
	}
	return a, nil
}

// runValidate is `finconnectd validate`: load and check, start nothing.
func runValidate(_ context.Context, io IO, args []string) int {
	a, err := parseValidateArgs(args, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	if a.NoColor {
		io.StderrIsTerminal = false
	}
	cfg, warnings := loadConfigWarnings(io, a.Config)
	if cfg == nil {
		return ExitError
	}
	if warnings > 0 {
		fmt.Fprintln(io.Stdout, "Success! The configuration is valid, but there were some warnings as shown above.")
		return ExitOK
	}
	fmt.Fprintln(io.Stdout, "Success! The configuration is valid.")
	return ExitOK
}
