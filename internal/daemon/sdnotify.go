package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's notify protocol: one datagram per state
// change to $NOTIFY_SOCKET (an abstract socket when it starts with '@').
// Without NOTIFY_SOCKET every call does nothing.
type notifier struct {
	socket string
	// watchdog is the interval systemd expects pings within (0: off).
	watchdog time.Duration
}

func newNotifier(lookupEnv func(string) (string, bool)) notifier {
	var n notifier
	if v, ok := lookupEnv("NOTIFY_SOCKET"); ok {
		n.socket = v
	}
	usec, ok := lookupEnv("WATCHDOG_USEC")
	if !ok || n.socket == "" {
		return n
	}
	if pid, ok := lookupEnv("WATCHDOG_PID"); ok && pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n // the watchdog is meant for another process
	}
	if us, err := strconv.ParseInt(usec, 10, 64); err == nil && us > 0 {
		n.watchdog = time.Duration(us) * time.Microsecond
	}
	return n
}

// notify sends state ("READY=1", "STOPPING=1", "WATCHDOG=1" ...).
func (n notifier) notify(state string) error {
	if n.socket == "" {
		return nil
	}
	name := n.socket
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("systemd notify %q: %w", state, err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("systemd notify %q: %w", state, err)
	}
	return nil
}

// runWatchdog pings every half watchdog interval while healthy says so,
// until ctx ends. A process that stops being healthy stops pinging, and
// systemd restarts it.
func (n notifier) runWatchdog(ctx context.Context, healthy func(context.Context) bool, logf func(error)) {
	if n.watchdog <= 0 {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, n.watchdog/4)
			ok := healthy(hctx)
			cancel()
			if !ok {
				continue
			}
			if err := n.notify("WATCHDOG=1"); err != nil {
				logf(err)
			}
		}
	}
}
