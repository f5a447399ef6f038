package cli

import (
	"context"
	"fmt"
)

// runFmt is a placeholder until its owner lands the command.
func runFmt(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd fmt: not implemented yet")
	return ExitError
}
