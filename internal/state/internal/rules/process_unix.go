//go:build unix

package rules

import (
	"errors"
	"syscall"
)

// ProcessGone reports whether no process with this PID exists. A process
// we may not signal (EPERM) exists.
func ProcessGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
