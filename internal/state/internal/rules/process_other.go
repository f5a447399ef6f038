//go:build !unix

package rules

// ProcessGone cannot tell on this platform, so a stale lock is never taken
// over automatically (force-unlock it).
func ProcessGone(int) bool { return false }
