//go:build unix

package postgres

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with this PID exists. A process
// we may not signal (EPERM) exists.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
