package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/reconcile"
)

// applyArgs are apply's parsed flags.
type applyArgs struct {
	Config      string
	AutoApprove bool
	LockTimeout time.Duration
	PlanFile    string
}

const applyUsage = `Usage: finconnectd apply [-config PATH] [-auto-approve] [-lock-timeout D] [PLANFILE]

Make the providers match the configuration: register IPNs at PesaPal (or
adopt ones already registered with the same URL and type), fetch AzamPay
public keys, forget what the configuration no longer has, and record each
result in the state as it happens.

Without PLANFILE, apply plans first, shows the plan and asks for 'yes'
(-auto-approve skips the question; with no terminal on stdin it is
required). With PLANFILE (from plan -out) it carries out exactly that plan,
and refuses it when the state has changed since ("Saved plan is stale").
The configuration is still read, for the provider credentials.

Exit status: 0 success, 1 error (what was and was not applied is printed).

Flags:
`

const applyExamples = `
Examples:
  finconnectd apply
  finconnectd apply -auto-approve -config /etc/finconnectd
  finconnectd plan -out tfplan && finconnectd apply tfplan
  finconnectd apply -auto-approve -lock-timeout 2m
`

// parseApplyArgs parses apply's flags. flag.ErrHelp means -help.
func parseApplyArgs(args []string, stderr io.Writer) (applyArgs, error) {
	var a applyArgs
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory of *.hcl (default $FINCONNECT_CONFIG, else the current directory)")
	fs.BoolVar(&a.AutoApprove, "auto-approve", false, "apply without asking for 'yes'")
	fs.DurationVar(&a.LockTimeout, "lock-timeout", 0, "how long to wait for the state lock (0: fail at once)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), applyUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), applyExamples)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		a.PlanFile = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "finconnectd apply: too many arguments; at most one PLANFILE\n\n")
		fs.Usage()
		return a, errors.New("unexpected arguments")
	}
	return a, nil
}

// runApply is `finconnectd apply`.
func runApply(ctx context.Context, io IO, args []string) int {
	return applyMain(ctx, io, args, openStore)
}

// applyMain is runApply with the store opener injected (tests pass their own).
func applyMain(ctx context.Context, io IO, args []string, openStore storeOpener) int {
	a, err := parseApplyArgs(args, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	ask := a.PlanFile == "" && !a.AutoApprove
	if ask && !io.StdinIsTerminal {
		fmt.Fprint(io.Stderr, "\nError: No terminal to ask for approval\n\n"+
			"apply shows the plan and waits for 'yes', but stdin is not a terminal.\n"+
			"Use -auto-approve to apply without asking, or save a plan with\n"+
			"'finconnectd plan -out FILE' and run 'finconnectd apply FILE'.\n")
		return ExitError
	}
	var saved *reconcile.Plan
	if a.PlanFile != "" {
		if saved, err = reconcile.LoadPlan(a.PlanFile); err != nil {
			rcError(io, err)
			return ExitError
		}
	}
	cfg, st, ok := configAndStore(ctx, io, a.Config, openStore)
	if !ok {
		return ExitError
	}
	defer st.Close()
	remote, err := rcRemote(cfg)
	if err != nil {
		rcError(io, err)
		return ExitError
	}
	lock, err := reconcile.AcquireLock(ctx, st, rcLockOptions(io, "apply", a.LockTimeout))
	if err != nil {
		rcLockError(io, err)
		return ExitError
	}
	defer lock.Release(ctx) //nolint:errcheck // best effort; state force-unlock recovers

	p := saved
	if p == nil {
		if p, err = reconcile.MakePlan(ctx, cfg, st, remote, reconcile.PlanOptions{Refresh: true}); err != nil {
			rcError(io, err)
			return ExitError
		}
		if err := reconcile.Render(io.Stdout, p); err != nil {
			rcError(io, err)
			return ExitError
		}
		if !p.HasChanges() {
			fmt.Fprintln(io.Stdout, "\nApply complete! Resources: 0 added, 0 changed, 0 forgotten.")
			return ExitOK
		}
		if ask && !approved(io) {
			fmt.Fprintln(io.Stderr, "\nApply cancelled.")
			return ExitError
		}
		fmt.Fprintln(io.Stdout)
	}
	res, err := reconcile.Apply(ctx, p, st, remote, reconcile.ApplyOptions{Lock: lock, Progress: io.Stdout})
	if err != nil {
		rcError(io, err)
		if len(res.Applied) > 0 || len(res.NotApplied) > 0 {
			fmt.Fprintf(io.Stderr, "\nApplied before the error (recorded in state): %s\n", listOrNone(res.Applied))
			fmt.Fprintf(io.Stderr, "Not applied: %s\n", listOrNone(res.NotApplied))
			fmt.Fprintln(io.Stderr, "Run 'finconnectd plan' to see what is left; nothing will be registered twice.")
		}
		return ExitError
	}
	fmt.Fprintf(io.Stdout, "\nApply complete! Resources: %d added, %d changed, %d forgotten.\n", res.Added, res.Changed, res.Forgotten)
	return ExitOK
}

// approved asks for 'yes' on stdin.
func approved(io IO) bool {
	fmt.Fprint(io.Stdout, "\nDo you want to perform these actions?\n"+
		"  finconnectd will perform the actions described above.\n"+
		"  Only 'yes' will be accepted to approve.\n\n"+
		"  Enter a value: ")
	line, err := bufio.NewReader(io.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	return strings.TrimSpace(line) == "yes"
}

func listOrNone(addrs []string) string {
	if len(addrs) == 0 {
		return "none"
	}
	return strings.Join(addrs, ", ")
}
