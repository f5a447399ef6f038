package cli

import (
	"context"
	"fmt"
)

// runValidate is a placeholder until its owner lands the command.
func runValidate(_ context.Context, io IO, _ []string) int {
	fmt.Fprintln(io.Stderr, "finconnectd validate: not implemented yet")
	return ExitError
}
