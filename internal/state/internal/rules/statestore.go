package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/state"
)

// NewResource checks a resource given to PutResource and fills its
// defaults: no attributes are "{}", a zero UpdatedAt is now.
func NewResource(r state.Resource, now func() time.Time) (state.Resource, error) {
	if r.Address == "" {
		return r, errors.New("put resource: no address")
	}
	if len(r.Attributes) == 0 {
		r.Attributes = json.RawMessage("{}")
	}
	if !json.Valid(r.Attributes) {
		return r, fmt.Errorf("put resource %s: attributes are not valid JSON", r.Address)
	}
	r.UpdatedAt = NowIfZero(r.UpdatedAt, now)
	return r, nil
}

// NewLock checks the LockInfo given to Lock and fills a zero Since from now.
func NewLock(info state.LockInfo, now func() time.Time) (state.LockInfo, error) {
	if info.ID == "" {
		return info, errors.New("lock state: no lock ID")
	}
	info.Since = NowIfZero(info.Since, now)
	return info, nil
}

// Takeover decides whether info may take the state lock, given its current
// holder (held false: nobody). Nil when the lock is free, already info's
// (locking again refreshes the holder's details), or held by a process
// that no longer exists where this store's process can see it (HolderGone
// with hostname and scope), which is logged as a warning; otherwise a
// *state.LockedError naming the holder.
func Takeover(holder state.LockInfo, held bool, info state.LockInfo, hostname, scope string, log *slog.Logger) error {
	if !held || holder.ID == info.ID {
		return nil
	}
	if !HolderGone(hostname, scope, holder) {
		return &state.LockedError{Holder: holder}
	}
	log.Warn("taking over the state lock of a process that no longer exists",
		"lock_id", holder.ID, "operation", holder.Operation, "pid", holder.PID, "host", holder.Host,
		"scope", holder.Scope, "since", holder.Since, "new_lock_id", info.ID)
	return nil
}

// HolderGone reports whether the lock holder ran where this process sees
// the same PIDs (this hostname and this non-empty procscope.Scope, both
// equal to the holder's) and its process no longer exists: the rule of
// delivery leases, explained in docs/DESIGN.md "Leases and their owner
// scope". A holder with no scope (an older lock row) is never gone:
// release it with force-unlock.
func HolderGone(hostname, scope string, h state.LockInfo) bool {
	return hostname != "" && scope != "" && h.Host == hostname && h.Scope == scope && procscope.Gone(h.PID)
}

// Unlock decides whether Unlock(id) releases the lock: not when nobody
// holds it (no error); an error wrapping a *state.LockedError when someone
// else does. ForceUnlock decides the same for ForceUnlock.
func Unlock(holder state.LockInfo, held bool, id string) (release bool, err error) {
	if !held {
		return false, nil
	}
	if holder.ID != id {
		return false, fmt.Errorf("the lock is not held by this ID: %w", &state.LockedError{Holder: holder})
	}
	return true, nil
}

// ForceUnlock decides whether ForceUnlock(id) releases the lock: only
// when it is held and its ID is id, whoever took it; otherwise an error.
func ForceUnlock(holder state.LockInfo, held bool, id string) (release bool, err error) {
	if !held {
		return false, errors.New("the state is not locked")
	}
	if holder.ID != id {
		return false, fmt.Errorf("the lock's ID is %s, not %s (held by %s, pid %d on %s)", holder.ID, id, holder.Operation, holder.PID, holder.Host)
	}
	return true, nil
}
