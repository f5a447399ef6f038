package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/finconnectd/finconnectd/internal/version"
)

// versionUsage is the help text; its example is this build's own line.
func versionUsage() string {
	return `Usage: finconnectd version

Print the version (a semantic version, X.Y.Z), the commit it was built
from and the Go version. Requests finconnectd makes to providers and event
receivers carry the same version: User-Agent: ` + version.UserAgent() + `.

Example:
  finconnectd version
  ` + version.Get().String() + `
`
}

func parseVersionArgs(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), versionUsage()) }
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
	fmt.Fprintln(io.Stdout, version.Get().String())
	return ExitOK
}
