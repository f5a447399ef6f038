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
	io := cli.StdIO()
	io.Reload = hangups()
	code := cli.Run(ctx, os.Args[1:], io)
	stop()
	os.Exit(code)
}

// hangups turns SIGHUP into reload requests; a burst of signals while a
// reload is pending collapses into one.
func hangups() <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range sig {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return reload
}
