package cli

import (
	"context"
	"fmt"
)

// runSandbox is a placeholder until its owner lands the command.
func runSandbox(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd sandbox: not implemented yet")
	return ExitError
}
