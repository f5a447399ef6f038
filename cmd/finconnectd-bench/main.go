// Command finconnectd-bench measures finconnectd from outside (HTTP, open
// loop, a separate process) against baselines in the same run. See
// internal/loadbench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/finconnectd/finconnectd/internal/loadbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadbench.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
