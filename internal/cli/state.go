package cli

import (
	"context"
	"fmt"
)

// runState is a placeholder until its owner lands the command.
func runState(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd state: not implemented yet")
	return ExitError
}
