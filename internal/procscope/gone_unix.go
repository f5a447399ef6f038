//go:build unix

package procscope

import (
	"errors"
	"syscall"
)

// Gone reports whether no process with this PID exists in this process's
// PID namespace. A process we may not signal (EPERM) exists. Only
// meaningful for a PID recorded under the same Scope.
func Gone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
