//go:build unix

package procscope

import (
	"errors"
	"syscall"
)

// Gone reports whether no live process with this PID exists in this
// process's PID namespace: there is none (the signal check says ESRCH), or
// there is only the zombie of one that exited and was not yet reaped by
// its parent (a signal can still be "sent" to a zombie, but it will never
// run again). A process we may not signal (EPERM) exists. Only meaningful
// for a PID recorded under the same Scope.
func Gone(pid int) bool {
	if pid <= 0 {
		return false
	}
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	return exited(pid)
}
