package cli

import (
	"context"
	"fmt"
)

// runPayments is a placeholder until its owner lands the command.
func runPayments(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd payments: not implemented yet")
	return ExitError
}
