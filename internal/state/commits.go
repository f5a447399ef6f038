package state

import (
	"sync/atomic"
	"time"
)

// CommitObserver is implemented by stores that can report each commit of
// their write transactions: how many writes it carried and how long the
// commit took, its flush to disk included. SQLite commits a group of
// writes at once (one writer, group commit); PostgreSQL commits each write
// on its own. Every payment waits for two commits and every webhook for
// one, so slow commits are what a slow disk looks like from the API.
type CommitObserver interface {
	// ObserveCommits makes fn receive every later commit; nil stops the
	// reports. fn runs on the store's write path and must return at once.
	ObserveCommits(fn func(writes int, took time.Duration))
}

// CommitReports holds a store's CommitObserver callback: the store's
// ObserveCommits sets it, and its write path calls Report after each
// commit. The zero value reports nothing.
type CommitReports struct {
	fn atomic.Pointer[func(writes int, took time.Duration)]
}

// Set makes fn receive every later report; nil stops them.
func (c *CommitReports) Set(fn func(writes int, took time.Duration)) {
	if fn == nil {
		c.fn.Store(nil)
		return
	}
	c.fn.Store(&fn)
}

// Report passes a commit of writes writes that took took to the callback,
// if there is one (a commit of no writes is not reported).
func (c *CommitReports) Report(writes int, took time.Duration) {
	if fn := c.fn.Load(); fn != nil && writes > 0 {
		(*fn)(writes, took)
	}
}
