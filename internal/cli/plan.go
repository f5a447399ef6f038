package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers/clients"
	"github.com/finconnectd/finconnectd/internal/reconcile"
	"github.com/finconnectd/finconnectd/internal/state"
)

// planArgs are plan's parsed flags.
type planArgs struct {
	Config           string
	Out              string
	DetailedExitcode bool
	JSON             bool
	Refresh          bool
	LockTimeout      time.Duration
}

const planUsage = `Usage: finconnectd plan [-config PATH] [-out FILE] [-detailed-exitcode] [-json]
                        [-refresh=false] [-lock-timeout D]

Read what the providers hold (one GetIpnList per PesaPal provider, a token
per provider, each AzamPay public key), compare it with the configuration
and the state, and print what apply would do. Writes nothing but -out FILE.

Exit status: 0 success; 1 error; with -detailed-exitcode, 0 no changes,
1 error, 2 changes present.

Flags:
`

const planExamples = `
Examples:
  finconnectd plan
  finconnectd plan -config /etc/finconnectd -out tfplan && finconnectd apply tfplan
  finconnectd plan -detailed-exitcode -json > plan.json; echo "exit $?"
  finconnectd plan -refresh=false        # configuration and state only, no network
`

// parsePlanArgs parses plan's flags. flag.ErrHelp means -help.
func parsePlanArgs(args []string, stderr io.Writer) (planArgs, error) {
	a := planArgs{Refresh: true}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory of *.hcl (default $FINCONNECT_CONFIG, else the current directory)")
	fs.StringVar(&a.Out, "out", "", "save the plan to `FILE` for 'finconnectd apply FILE' (no secrets are written)")
	fs.BoolVar(&a.DetailedExitcode, "detailed-exitcode", false, "exit 2 when there are changes, 0 when there are none")
	fs.BoolVar(&a.JSON, "json", false, "print the plan as one JSON document")
	fs.BoolVar(&a.Refresh, "refresh", true, "read the providers; -refresh=false plans from configuration and state only")
	fs.DurationVar(&a.LockTimeout, "lock-timeout", 0, "how long to wait for the state lock (0: fail at once)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), planUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), planExamples)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "finconnectd plan: unexpected argument %q\n\n", fs.Arg(0))
		fs.Usage()
		return a, errors.New("unexpected arguments")
	}
	return a, nil
}

// runPlan is `finconnectd plan`.
func runPlan(ctx context.Context, io IO, args []string) int {
	return planMain(ctx, io, args, openStore)
}

// planMain is runPlan with the store opener injected (tests pass their own).
func planMain(ctx context.Context, io IO, args []string, openStore storeOpener) int {
	a, err := parsePlanArgs(args, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	cfg, st, ok := configAndStore(ctx, io, a.Config, openStore)
	if !ok {
		return ExitError
	}
	defer st.Close()
	var remote reconcile.Remote
	if a.Refresh {
		if remote, err = rcRemote(cfg); err != nil {
			rcError(io, err)
			return ExitError
		}
	}
	lock, err := reconcile.AcquireLock(ctx, st, rcLockOptions(io, "plan", a.LockTimeout))
	if err != nil {
		rcLockError(io, err)
		return ExitError
	}
	defer lock.Release(ctx) //nolint:errcheck // best effort; state force-unlock recovers
	p, err := reconcile.MakePlan(ctx, cfg, st, remote, reconcile.PlanOptions{Refresh: a.Refresh})
	if err != nil {
		rcError(io, err)
		return ExitError
	}
	if a.JSON {
		err = reconcile.RenderJSON(io.Stdout, p)
	} else {
		err = reconcile.Render(io.Stdout, p)
	}
	if err != nil {
		rcError(io, err)
		return ExitError
	}
	if a.Out != "" {
		if err := p.Save(a.Out); err != nil {
			rcError(io, err)
			return ExitError
		}
		if !a.JSON {
			fmt.Fprintf(io.Stdout, "\nSaved the plan to: %s\n\nTo perform exactly these actions, run:\n    finconnectd apply %s\n", a.Out, a.Out)
		}
	}
	if a.DetailedExitcode && p.HasChanges() {
		return ExitChanges
	}
	return ExitOK
}

// rcError prints err the way plan, apply and state report failures.
func rcError(io IO, err error) {
	fmt.Fprintf(io.Stderr, "\nError: %s\n", err)
}

// rcLockError explains a state lock held by someone else.
func rcLockError(io IO, err error) {
	fmt.Fprintf(io.Stderr, "\nError: Error acquiring the state lock\n\n%s\n\n", err)
	var le *state.LockedError
	if errors.As(err, &le) {
		fmt.Fprintf(io.Stderr, "finconnectd takes the state lock so that only one process writes the state at a\n"+
			"time. Wait for the holder to finish, retry with -lock-timeout, or, if the holder\n"+
			"is gone for good, run:\n    finconnectd state force-unlock %s\n", le.Holder.ID)
	}
}

// rcLockOptions are the state lock options for a CLI operation.
func rcLockOptions(io IO, operation string, timeout time.Duration) reconcile.LockOptions {
	return reconcile.LockOptions{
		Operation: operation,
		Timeout:   timeout,
		Waiting: func(state.LockInfo) {
			fmt.Fprintln(io.Stderr, "Acquiring state lock. This may take a few moments...")
		},
	}
}

// rcRemote builds the provider clients reconcile talks to.
func rcRemote(cfg *config.Config) (reconcile.Remote, error) {
	set, err := clients.New(cfg, clients.Options{})
	if err != nil {
		return nil, err
	}
	return reconcile.NewRemote(set), nil
}
