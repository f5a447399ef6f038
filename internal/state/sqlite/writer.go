package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Group commit.
//
// SQLite has one writer, and with synchronous=FULL each commit waits for an
// fsync: committing every write on its own caps the store at a few hundred
// to a couple of thousand writes per second, most of it spent waiting for
// the disk. So every write goes through one writer goroutine, which runs
// whatever writes are waiting in ONE transaction, each inside its own
// SAVEPOINT, and commits once: a write that fails is rolled back to its
// savepoint alone, and every write of the batch learns its outcome only
// after the commit, so nothing is reported durable before it is.
//
// A write alone in the queue runs exactly as it would without grouping
// (no savepoint), so a quiet store pays nothing for this.
//
// A write's fn may run more than once: when another write of the same
// batch is interrupted mid-statement (its caller's context ended), SQLite
// rolls back the whole transaction, and the writes that had succeeded in
// it are run again in a new one. fn must therefore only assign what it
// returns to its caller, never accumulate across calls.

// maxBatch bounds the writes of one transaction, and so how long the first
// of them waits for the last.
const maxBatch = 128

// Deferrable writes.
//
// The outbox's claims and attempt records are writes no client waits on
// the way a provider waits for a webhook's answer, and at a low rate of
// webhooks each would commit alone: the webhook's transaction, then its
// delivery's claim, then the attempt's record, three commits (three log
// fsyncs) per webhook. So while webhooks (or any other writes) are coming
// in, a batch of only deferrable writes waits up to deferWait for another
// write to join it, and commits with it. When no other write came in the
// last deferWindow (a backlog drain, an idle daemon), deferrable writes
// commit at once as before. Nothing is reported committed before it is:
// a deferred write's caller still waits for its commit.
const (
	deferWait   = 5 * time.Millisecond
	deferWindow = 50 * time.Millisecond
)

// errClosed answers writes queued or attempted after Close.
var errClosed = errors.New("sqlite: store is closed")

// writeReq is one write waiting for the writer.
type writeReq struct {
	ctx      context.Context
	fn       func(tx *sql.Tx) error
	done     chan error // buffered: the writer never blocks on it
	deferred bool       // may wait for company (writeDeferrable)
}

// startWriter starts the writer goroutine; Close stops it.
func (s *Store) startWriter() {
	s.writes = make(chan *writeReq, 4*maxBatch)
	s.stopWriter = make(chan struct{})
	s.writerDone = make(chan struct{})
	go s.writer()
}

// write runs fn in a write transaction (shared with other writes waiting
// at the same time) and returns after the commit: nil when fn returned nil
// and the transaction committed, fn's error (its writes rolled back), or
// the error that prevented the commit.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(ctx, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// writeDeferrable is write for a write that may wait (up to deferWait) for
// another write to share its commit; see "Deferrable writes" above.
func (s *Store) writeDeferrable(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(ctx, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), deferred: true})
}

// keyed is the context for the statements of a write that reads and
// writes a few rows by key (a webhook's settlement, a payment's creation
// or initiation, a delivery's claim or attempt). Such a statement runs in
// microseconds, so interrupting it when the caller gives up gains nothing,
// while for a statement under a context that can end the driver starts a
// goroutine to watch it and makes two more calls into SQLite: about 4 % of
// the daemon's CPU at 3,000 webhooks a second. The writer still checks the
// caller's context before it runs the write; a write that has started
// runs to its end. Writes whose statements may run long (a bulk delete)
// keep the caller's context, so that giving up interrupts them.
func keyed(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (s *Store) enqueue(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Queued under the read lock: once stopWrites holds the lock, nothing
	// more is queued, and the writer answers what was.
	s.writesMu.RLock()
	if s.writesClosed {
		s.writesMu.RUnlock()
		return errClosed
	}
	select {
	case s.writes <- r:
	case <-ctx.Done():
		s.writesMu.RUnlock()
		return ctx.Err()
	}
	s.writesMu.RUnlock()
	// Once queued, the outcome is waited for whatever ctx does: the write
	// may be committing, and the caller must not believe it was not.
	return <-r.done
}

func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*writeReq, 0, maxBatch)
	var lastOther time.Time // when a write that is not deferrable last came in
	for {
		select {
		case r := <-s.writes:
			batch = append(batch[:0], r)
		case <-s.stopWriter:
			for {
				select {
				case r := <-s.writes:
					r.done <- errClosed
				default:
					return
				}
			}
		}
		batch = s.company(s.drain(batch), &lastOther)
		if again, cause := s.commit(batch); len(again) > 0 {
			// Each alone, so the write that lost the transaction cannot
			// take the others down twice.
			s.log.Warn("sqlite: a grouped write transaction was rolled back; running its writes again", "writes", len(again), "cause", cause)
			for _, r := range again {
				r.done <- s.commitOne(r)
			}
		}
	}
}

// drain returns batch grown by the writes queued now, up to maxBatch.
func (s *Store) drain(batch []*writeReq) []*writeReq {
	for len(batch) < maxBatch {
		select {
		case r := <-s.writes:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// company returns batch, grown by the writes that come in meanwhile if it
// holds only deferrable writes and other writes came in lately (at
// *lastOther, which it keeps up to date): it waits up to deferWait for a
// write that is not deferrable, then takes what is queued.
func (s *Store) company(batch []*writeReq, lastOther *time.Time) []*writeReq {
	deferredOnly := true
	for _, r := range batch {
		if !r.deferred {
			deferredOnly = false
			*lastOther = time.Now()
		}
	}
	if !deferredOnly || time.Since(*lastOther) >= s.deferWindow {
		return batch
	}
	t := time.NewTimer(s.deferWait)
	defer t.Stop()
	for len(batch) < maxBatch {
		select {
		case r := <-s.writes:
			batch = append(batch, r)
			if r.deferred {
				continue
			}
			*lastOther = time.Now()
			return s.drain(batch)
		case <-t.C:
			return batch
		case <-s.stopWriter:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction and tells each write its outcome,
// except the writes it returns with the cause: those succeeded in a
// transaction that another write's interruption rolled back, or were not
// run in it, and must run again (after commit returned: it holds the
// connection).
func (s *Store) commit(batch []*writeReq) (again []*writeReq, cause error) {
	if len(batch) == 1 {
		r := batch[0]
		r.done <- s.commitOne(r)
		return nil, nil
	}
	// The transaction's own context never ends: a caller that gives up
	// must not roll back the other callers' writes.
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("begin: %w", err)
		}
		return nil, nil
	}
	defer func() { _ = tx.Rollback() }()
	ok := make([]*writeReq, 0, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			return append(ok, batch[i:]...), err
		}
		ferr := r.fn(tx)
		var err error
		if ferr != nil {
			_, err = tx.Exec("ROLLBACK TO w")
		}
		if err == nil {
			_, err = tx.Exec("RELEASE w")
		}
		if err != nil {
			// The transaction is gone (SQLite rolled it back when a
			// statement was interrupted): the writes before this one must
			// run again, and this one too unless it failed on its own.
			if ferr != nil {
				r.done <- ferr
				return append(ok, batch[i+1:]...), err
			}
			return append(ok, batch[i:]...), err
		}
		if ferr != nil {
			r.done <- ferr
			continue
		}
		ok = append(ok, r)
	}
	s.commits.Add(1)
	start := time.Now()
	if err := tx.Commit(); err != nil {
		for _, r := range ok {
			r.done <- fmt.Errorf("commit: %w", err)
		}
		return nil, nil
	}
	s.reports.Report(len(ok), time.Since(start))
	for _, r := range ok {
		r.done <- nil
	}
	return nil, nil
}

// commitOne runs one write in its own transaction. As in a batch, the
// transaction's own context never ends (its statements still run under
// the caller's): a write whose statements all ran is committed, and the
// caller, which waits for the outcome whatever its context does, learns
// it. (A context that can end would also cost a goroutine per commit.)
func (s *Store) commitOne(r *writeReq) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := r.fn(tx); err != nil {
		return err
	}
	s.commits.Add(1)
	start := time.Now()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.reports.Report(1, time.Since(start))
	return nil
}

// ObserveCommits makes fn receive each later commit of the writer: the
// writes it carried and how long the COMMIT took (the log's flush
// included). fn runs on the writer goroutine.
func (s *Store) ObserveCommits(fn func(writes int, took time.Duration)) { s.reports.Set(fn) }
