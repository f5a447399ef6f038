//go:build linux

package procscope

import (
	"bytes"
	"os"
	"strconv"
)

// exited reports whether /proc says the process with this PID has exited
// and waits to be reaped (state Z, zombie, or X, dead). It answers false
// when it cannot tell: /proc unreadable, or mounted for another PID
// namespace than ours (then /proc/PID is some other process).
func exited(pid int) bool {
	self, err := os.Readlink("/proc/self")
	if err != nil || self != strconv.Itoa(os.Getpid()) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	st, ok := statState(stat)
	return ok && (st == 'Z' || st == 'X' || st == 'x')
}

// statState returns the state field of a /proc/PID/stat line: "PID (COMM)
// STATE ...". COMM may hold spaces and parentheses, so the state is the
// first field after the last ')'.
func statState(stat []byte) (byte, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) || stat[i+1] != ' ' {
		return 0, false
	}
	return stat[i+2], true
}
