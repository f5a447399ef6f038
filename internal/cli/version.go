package cli

import (
	"context"
	"fmt"
)

// runVersion is a placeholder until its owner lands the command.
func runVersion(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd version: not implemented yet")
	return ExitError
}
