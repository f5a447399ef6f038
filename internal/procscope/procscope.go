// Package procscope says where a process ID means the same process: Scope
// names the machine boot and PID namespace this process runs in, and Gone
// tells whether a PID is free. Together they let a process judge another
// one dead only when it can truly see it: a PID recorded under a different
// scope (another container with its own PID namespace, a cloned VM that
// kept the image's hostname, a reboot) names some other process or none,
// and must never be looked up here.
//
// It imports nothing internal and keeps no state: every call asks the
// kernel again.
package procscope

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// scopeLen is how many hex digits of the hash a scope keeps: 48 bits, so
// two different boots or namespaces practically never share one.
const scopeLen = 12

// Scope returns a short stable identifier (12 lowercase hex digits) of
// the kernel boot and PID namespace this process runs in: two processes
// with the same Scope see the same PIDs. It is "" when it cannot be told
// (not Linux, or /proc unreadable); callers then judge no process dead.
func Scope() string {
	boot, ns, ok := identity()
	if !ok {
		return ""
	}
	return scopeOf(boot, ns)
}

// scopeOf hashes a boot ID and a PID namespace link ("pid:[4026531836]")
// into a scope; "" when either is missing.
func scopeOf(boot, ns string) string {
	boot, ns = strings.TrimSpace(boot), strings.TrimSpace(ns)
	if boot == "" || ns == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(boot + "\n" + ns))
	return hex.EncodeToString(sum[:])[:scopeLen]
}
