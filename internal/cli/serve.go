package cli

import (
	"context"
	"fmt"
)

// runServe is a placeholder until its owner lands the command.
func runServe(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd serve: not implemented yet")
	return ExitError
}
