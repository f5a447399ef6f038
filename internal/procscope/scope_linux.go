//go:build linux

package procscope

import "os"

// identity reads the kernel boot ID (new at every boot, and different on
// a cloned VM) and this process's PID namespace.
func identity() (boot, ns string, ok bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", "", false
	}
	// The link names the namespace the process is in, whichever PID
	// namespace the /proc mount belongs to.
	ns, err = os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", "", false
	}
	return string(b), ns, true
}
