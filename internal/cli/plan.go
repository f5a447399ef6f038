package cli

import (
	"context"
	"fmt"
)

// runPlan is a placeholder until its owner lands the command.
func runPlan(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd plan: not implemented yet")
	return ExitError
}
