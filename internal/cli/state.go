package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/reconcile"
	"github.com/finconnectd/finconnectd/internal/state"
)

const stateUsage = `Usage: finconnectd state <subcommand> [flags] [args]

Inspect or forget entries of the reconcile state. Secrets are never in the
state, so nothing shown here is secret.

Subcommands:
  list                 list resource addresses (ipn.NAME, key.azampay.NAME)
  show ADDR            show one resource's attributes
  rm ADDR...           forget resources (an IPN stays registered at PesaPal;
                       the next plan adopts it again if its block still exists)
  force-unlock ID      release a state lock left by a process that is gone

Run 'finconnectd state <subcommand> -help' for its flags.

Examples:
  finconnectd state list
  finconnectd state show ipn.orders
  finconnectd state rm ipn.old
  finconnectd state force-unlock 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c
`

// stateArgs are the parsed flags of a state subcommand.
type stateArgs struct {
	Sub         string
	Config      string
	LockTimeout time.Duration
	Force       bool
	Args        []string
}

// parseStateArgs parses `state SUB [flags] [args]`. flag.ErrHelp means -help.
func parseStateArgs(args []string, stderr io.Writer) (stateArgs, error) {
	var a stateArgs
	if len(args) == 0 {
		fmt.Fprint(stderr, stateUsage)
		return a, errors.New("missing subcommand")
	}
	a.Sub = args[0]
	var want func(n int) bool
	var usage string
	fs := flag.NewFlagSet("state "+a.Sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch a.Sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, stateUsage)
		return a, flag.ErrHelp
	case "list":
		usage, want = "Usage: finconnectd state list [-config PATH]\n\nList the addresses of every resource in the state.\n", func(n int) bool { return n == 0 }
	case "show":
		usage, want = "Usage: finconnectd state show [-config PATH] ADDR\n\nShow one resource's attributes, e.g. finconnectd state show ipn.orders\n", func(n int) bool { return n == 1 }
	case "rm":
		usage, want = "Usage: finconnectd state rm [-config PATH] [-lock-timeout D] ADDR...\n\n"+
			"Forget resources. Nothing is deleted at the provider (PesaPal has no delete);\n"+
			"the next plan adopts an IPN whose block still exists instead of registering it again.\n", func(n int) bool { return n >= 1 }
		fs.DurationVar(&a.LockTimeout, "lock-timeout", 0, "how long to wait for the state lock (0: fail at once)")
	case "force-unlock":
		usage, want = "Usage: finconnectd state force-unlock [-config PATH] [-force] ID\n\n"+
			"Release the state lock whose ID is ID (printed by the command that found it held).\n"+
			"Only do this when the holder is gone: two writers at once can corrupt the state.\n", func(n int) bool { return n == 1 }
		fs.BoolVar(&a.Force, "force", false, "do not ask for confirmation")
	default:
		fmt.Fprintf(stderr, "finconnectd state: unknown subcommand %q\n\n", a.Sub)
		fmt.Fprint(stderr, stateUsage)
		return a, errors.New("unknown subcommand")
	}
	fs.StringVar(&a.Config, "config", "", "configuration file or directory of *.hcl (default $FINCONNECT_CONFIG, else the current directory)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return a, err
	}
	a.Args = fs.Args()
	if !want(len(a.Args)) {
		fmt.Fprintf(stderr, "finconnectd state %s: wrong number of arguments\n\n", a.Sub)
		fs.Usage()
		return a, errors.New("wrong number of arguments")
	}
	return a, nil
}

// runState is `finconnectd state list|show|rm|force-unlock`.
func runState(ctx context.Context, io IO, args []string) int {
	return stateMain(ctx, io, args, openStore)
}

// stateMain is runState with the store opener injected (tests pass their own).
func stateMain(ctx context.Context, io IO, args []string, openStore storeOpener) int {
	a, err := parseStateArgs(args, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	if a.Sub == "force-unlock" && !a.Force && !io.StdinIsTerminal {
		fmt.Fprint(io.Stderr, "\nError: No terminal to confirm force-unlock\n\nRun it again with -force to release the lock without asking.\n")
		return ExitError
	}
	st, ok := existingStore(ctx, io, a.Config, false, openStore)
	if !ok {
		return ExitError
	}
	defer st.Close()
	switch a.Sub {
	case "list":
		return stateList(ctx, io, st)
	case "show":
		return stateShow(ctx, io, st, a.Args[0])
	case "rm":
		return stateRm(ctx, io, st, a)
	default:
		return stateForceUnlock(ctx, io, st, a)
	}
}

func stateList(ctx context.Context, io IO, st state.StateStore) int {
	rs, err := st.Resources(ctx)
	if err != nil {
		rcError(io, fmt.Errorf("list state: %w", err))
		return ExitError
	}
	for _, r := range rs {
		fmt.Fprintln(io.Stdout, r.Address)
	}
	return ExitOK
}

func stateShow(ctx context.Context, io IO, st state.StateStore, addr string) int {
	r, err := st.Resource(ctx, addr)
	if errors.Is(err, state.ErrNotFound) {
		rcError(io, fmt.Errorf("no resource %q in the state; 'finconnectd state list' shows what exists", addr))
		return ExitError
	}
	if err != nil {
		rcError(io, fmt.Errorf("read %s: %w", addr, err))
		return ExitError
	}
	var attrs map[string]any
	if len(r.Attributes) > 0 {
		if err := json.Unmarshal(r.Attributes, &attrs); err != nil {
			rcError(io, fmt.Errorf("decode %s: %w", addr, err))
			return ExitError
		}
	}
	typ, name, _ := strings.Cut(r.Address, ".")
	names := make([]string, 0, len(attrs))
	width := 0
	for k := range attrs {
		names = append(names, k)
		width = max(width, len(k))
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s:\nresource %q %q {\n", r.Address, typ, name)
	for _, k := range names {
		fmt.Fprintf(&b, "    %-*s = %s\n", width, k, showValue(attrs[k]))
	}
	b.WriteString("}\n")
	_, _ = io.Stdout.Write([]byte(b.String()))
	return ExitOK
}

// showValue renders an attribute; multi-line text (a PEM public key) as a
// heredoc, like Terraform.
func showValue(v any) string {
	switch s := v.(type) {
	case string:
		if strings.Contains(s, "\n") {
			return "<<-EOT\n" + indent(strings.TrimRight(s, "\n"), "        ") + "\n    EOT"
		}
		return strconv.Quote(s)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func indent(s, pre string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n")
}

func stateRm(ctx context.Context, io IO, st state.StateStore, a stateArgs) int {
	lock, err := reconcile.AcquireLock(ctx, st, rcLockOptions(io, "state rm", a.LockTimeout))
	if err != nil {
		rcLockError(io, err)
		return ExitError
	}
	defer lock.Release(ctx) //nolint:errcheck // best effort
	n := 0
	for _, addr := range a.Args {
		if _, err := st.DeleteResource(ctx, addr); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				err = fmt.Errorf("no resource %q in the state", addr)
			}
			rcError(io, err)
			fmt.Fprintf(io.Stderr, "Removed %d resource(s) before the error.\n", n)
			return ExitError
		}
		n++
		if strings.HasPrefix(addr, reconcile.TypeIPN+".") {
			fmt.Fprintf(io.Stdout, "Removed %s (it stays registered at PesaPal)\n", addr)
		} else {
			fmt.Fprintf(io.Stdout, "Removed %s\n", addr)
		}
	}
	fmt.Fprintf(io.Stdout, "Successfully removed %d resource(s).\n", n)
	return ExitOK
}

func stateForceUnlock(ctx context.Context, io IO, st state.StateStore, a stateArgs) int {
	id := a.Args[0]
	holder, held, err := st.LockHolder(ctx)
	if err != nil {
		rcError(io, fmt.Errorf("read state lock: %w", err))
		return ExitError
	}
	if !held {
		fmt.Fprintln(io.Stdout, "The state is not locked.")
		return ExitOK
	}
	if holder.ID != id {
		rcError(io, fmt.Errorf("the state lock's ID is not %q; it is held by %s (pid %d on %s) since %s",
			id, holder.Operation, holder.PID, holder.Host, holder.Since.UTC().Format(time.RFC3339)))
		return ExitError
	}
	if !a.Force {
		fmt.Fprintf(io.Stdout, "The lock is held by %s (pid %d on %s) since %s.\n"+
			"Releasing a lock whose holder still runs lets two writers change the state at once.\n"+
			"  Only 'yes' will be accepted to confirm.\n\n  Enter a value: ",
			holder.Operation, holder.PID, holder.Host, holder.Since.UTC().Format(time.RFC3339))
		line, _ := bufio.NewReader(io.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(io.Stderr, "\nforce-unlock cancelled.")
			return ExitError
		}
	}
	if err := st.ForceUnlock(ctx, id); err != nil {
		rcError(io, fmt.Errorf("force-unlock %s: %w", id, err))
		return ExitError
	}
	fmt.Fprintln(io.Stdout, "The state has been successfully unlocked.")
	return ExitOK
}
