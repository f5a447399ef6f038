package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/finconnectd/finconnectd/internal/version"
)

const versionUsage = `Usage: finconnectd version

Print the version, the commit it was built from and the Go version.

Example:
  finconnectd version
  finconnectd 1.2.0 (commit 3f1c2ab, go1.26.8)
`

func parseVersionArgs(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), versionUsage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "finconnectd version: unexpected argument %q\n\n", fs.Arg(0))
		fs.Usage()
		return errors.New("unexpected arguments")
	}
	return nil
}

// runVersion is `finconnectd version`.
func runVersion(_ context.Context, io IO, args []string) int {
	err := parseVersionArgs(args, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	v := version.Get()
	fmt.Fprintf(io.Stdout, "finconnectd %s (commit %s, %s)\n", v.Version, v.Commit, v.GoVersion)
	return ExitOK
}
