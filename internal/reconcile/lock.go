package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/state"
)

// LockOptions tune AcquireLock.
type LockOptions struct {
	// Operation is recorded with the lock ("apply", "plan", "reconcile").
	Operation string
	// Timeout is how long to wait for another holder (0: fail at once).
	Timeout time.Duration
	// PollInterval is how often a waiting locker retries (default 250 ms).
	PollInterval time.Duration
	// Waiting, when set, is called once before waiting for another holder
	// (the CLI prints "Acquiring state lock. This may take a few moments...").
	Waiting func(holder state.LockInfo)
	// Host, PID and Scope identify this process (default os.Hostname,
	// os.Getpid, procscope.Scope). A store takes over the lock of a gone
	// PID only in the same host and scope.
	Host  string
	PID   int
	Scope string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Lock is a held state lock.
type Lock struct {
	st   state.StateStore
	Info state.LockInfo
}

// AcquireLock takes the state lock. When another process holds it, it
// waits up to o.Timeout, polling, and then fails with an error wrapping
// *state.LockedError, which names the holder.
func AcquireLock(ctx context.Context, st state.StateStore, o LockOptions) (*Lock, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	poll := o.PollInterval
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	info := state.LockInfo{ID: newLockID(), Host: o.Host, PID: o.PID, Scope: o.Scope, Operation: o.Operation}
	if info.Host == "" {
		info.Host, _ = os.Hostname()
	}
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	if info.Scope == "" {
		info.Scope = procscope.Scope()
	}
	if info.Operation == "" {
		info.Operation = "apply"
	}
	var deadline <-chan time.Time
	waited := false
	for {
		info.Since = now().UTC()
		err := st.Lock(ctx, info)
		if err == nil {
			return &Lock{st: st, Info: info}, nil
		}
		var le *state.LockedError
		if !errors.As(err, &le) {
			return nil, fmt.Errorf("acquire state lock: %w", err)
		}
		if o.Timeout <= 0 {
			return nil, fmt.Errorf("acquire state lock: %w", err)
		}
		if !waited {
			waited = true
			if o.Waiting != nil {
				o.Waiting(le.Holder)
			}
			t := time.NewTimer(o.Timeout)
			defer t.Stop()
			deadline = t.C
		}
		pt := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			pt.Stop()
			return nil, fmt.Errorf("acquire state lock: %w (%w)", err, ctx.Err())
		case <-deadline:
			pt.Stop()
			return nil, fmt.Errorf("acquire state lock: gave up after %s: %w", o.Timeout, err)
		case <-pt.C:
		}
	}
}

// Release gives the lock back. It works even when ctx has ended, so a
// cancelled apply still unlocks.
func (l *Lock) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.st.Unlock(ctx, l.Info.ID); err != nil {
		return fmt.Errorf("release state lock %s: %w", l.Info.ID, err)
	}
	return nil
}

func newLockID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
