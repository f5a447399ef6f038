package state

import "time"

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
