//go:build unix

package delivery

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with this PID exists on this
// host. A process we may not signal (EPERM) exists. (The state backends
// decide state-lock takeovers by the same test; theirs is internal to
// package state.)
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
