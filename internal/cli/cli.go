// Package cli is finconnectd's command layer: one flag.FlagSet per
// subcommand, parsing, and wiring of the packages below it. It never calls
// os.Exit; Run returns the process exit code so tests can drive every command.
//
// Each subcommand lives in its own file (validate.go, plan.go, serve.go ...).
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"
)

// IO is the process's standard streams and environment, injected so tests can
// run commands in-process.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads the environment (os.LookupEnv in production).
	LookupEnv func(string) (string, bool)
	// StdinIsTerminal / StderrIsTerminal decide prompting and colour.
	StdinIsTerminal  bool
	StderrIsTerminal bool
	// Cwd is the working directory (default config location).
	Cwd string
	// Reload receives a value for every SIGHUP (serve reloads its config).
	// main owns the signal; nil means reloads never come.
	Reload <-chan struct{}
	// StoreLog, when set, receives the state store's warnings (serve sets
	// the daemon's logger, so they come out in its format); nil: text on
	// Stderr.
	StoreLog *slog.Logger
}

// StdIO returns the real process streams; main adds Reload.
func StdIO() IO {
	cwd, _ := os.Getwd()
	return IO{
		Stdin:            os.Stdin,
		Stdout:           os.Stdout,
		Stderr:           os.Stderr,
		LookupEnv:        os.LookupEnv,
		StdinIsTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		Cwd:              cwd,
	}
}

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2 // plan -detailed-exitcode: changes present
	ExitFormat  = 3 // fmt -check: files need formatting
)

type command struct {
	summary string
	run     func(ctx context.Context, io IO, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"validate": {"Check the configuration (no network)", runValidate},
		"fmt":      {"Rewrite HCL files in canonical format", runFmt},
		"plan":     {"Show what would change at the providers", runPlan},
		"apply":    {"Make the providers match the configuration", runApply},
		"state":    {"Inspect or forget state entries (list, show, rm, force-unlock)", runState},
		"serve":    {"Run the daemon (-dev: emulator and built-in config)", runServe},
		"events":   {"The delivery log (list, show, replay), and test events to a route", runEvents},
		"payments": {"Payments known to this installation (list, show); refund, cancel", runPayments},
		"recon":    {"Reconcile payments with the providers' records (run, list, show, resolve, acknowledge)", runRecon},
		"payouts":  {"Payouts known to this installation (list, show)", runPayouts},
		"audit":    {"The audit trail of payouts, refunds and cancellations", runAudit},
		"listen":   {"Receive, verify and print events, as a route's receiver would", runListen},
		"sandbox":  {"Run the provider emulator", runSandbox},
		"version":  {"Print version, commit and Go version", runVersion},
	}
}

// Run executes the subcommand named by args[0] and returns the exit code.
func Run(ctx context.Context, args []string, io IO) int {
	if io.LookupEnv == nil {
		io.LookupEnv = func(string) (string, bool) { return "", false }
	}
	cmds := commands()
	if len(args) == 0 {
		usage(io.Stderr, cmds)
		return ExitError
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(io.Stdout, cmds)
		return ExitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	c, ok := cmds[name]
	if !ok {
		fmt.Fprintf(io.Stderr, "finconnectd: unknown command %q\n\n", name)
		usage(io.Stderr, cmds)
		return ExitError
	}
	return c.run(ctx, io, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Usage: finconnectd <command> [flags]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'finconnectd <command> -help' for a command's flags and examples.\n")
	_, _ = io.WriteString(w, b.String())
}

// colorOn reports whether diagnostics on stderr may use colour: stderr is
// a terminal and NO_COLOR (https://no-color.org) is unset or empty.
func colorOn(io IO) bool {
	if !io.StderrIsTerminal {
		return false
	}
	if v, ok := io.LookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	return true
}
