package cli

import (
	"context"
	"fmt"
)

// runEvents is a placeholder until its owner lands the command.
func runEvents(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd events: not implemented yet")
	return ExitError
}
