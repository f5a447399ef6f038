package state

import "context"

// WriteChecker is implemented by stores that can tell a failure of the
// storage itself (disk full, read-only or unwritable files, I/O errors,
// the database server gone) from an answer about the data (not found, a
// conflict, a refused change), and can test whether a write would go
// through now. The daemon uses it for readiness: a storage failure marks
// it not ready until a write or a probe succeeds again.
type WriteChecker interface {
	// StorageFailure reports whether err (from any method of the store)
	// is a failure of the storage, and what kind in a few words ("disk
	// full", "read-only", "I/O error", "unreachable", ...).
	StorageFailure(err error) (kind string, ok bool)
	// ProbeWrite makes a small write that changes nothing (one row
	// rewritten as it was) and returns its error.
	ProbeWrite(ctx context.Context) error
}
