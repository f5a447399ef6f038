// Command finconnectd is the daemon and CLI. All behaviour lives in
// internal/cli; main only turns signals into a context and exits with the code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/finconnectd/finconnectd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.StdIO())
	stop()
	os.Exit(code)
}
