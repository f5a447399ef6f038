package cli

import (
	"context"
	"fmt"
)

// runApply is a placeholder until its owner lands the command.
func runApply(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd apply: not implemented yet")
	return ExitError
}
