package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
)

// isHelpArg reports whether arg asks for help.
func isHelpArg(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// parseSubcommand parses `finconnectd CMD SUB [flags] [ARG...]` for the
// commands with subcommands (events, payments): flags may come before or
// after the arguments. Asking for help prints fs's usage to stdout and
// returns flag.ErrHelp; a missing or unknown subcommand prints it to
// stderr. fs's flags are defined by the caller, which checks the
// arguments each subcommand takes.
func parseSubcommand(fs *flag.FlagSet, cmd string, subs []string, args []string, stdout, stderr io.Writer) (string, []string, error) {
	fs.SetOutput(stderr)
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if isHelpArg(arg) {
			fs.SetOutput(stdout)
		}
	}
	if len(args) == 0 {
		fs.SetOutput(stderr)
		fs.Usage()
		return "", nil, errors.New("missing subcommand")
	}
	sub := args[0]
	switch {
	case isHelpArg(sub):
		fs.Usage()
		return "", nil, flag.ErrHelp
	case !slices.Contains(subs, sub):
		fmt.Fprintf(stderr, "finconnectd %s: unknown subcommand %q\n\n", cmd, sub)
		fs.SetOutput(stderr)
		fs.Usage()
		return "", nil, errors.New("unknown subcommand")
	}
	var positional []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return sub, nil, err
		}
		if fs.NArg() == 0 {
			return sub, positional, nil
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}
