//go:build !linux

package procscope

// identity cannot tell a boot or a PID namespace on this platform, so
// Scope is "" and no process is ever judged dead by its PID.
func identity() (boot, ns string, ok bool) { return "", "", false }
