//go:build !unix

package postgres

// processGone cannot tell on this platform, so a stale lock is never taken
// over automatically (force-unlock it).
func processGone(int) bool { return false }
