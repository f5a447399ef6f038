package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Options configure a Store.
type Options struct {
	// Now is the clock used when a caller gives no time (default time.Now).
	Now func() time.Time
	// Logger receives warnings such as a stale lock being taken over
	// (default: discard).
	Logger *slog.Logger

	// deferWait and deferWindow replace the constants of the same names
	// when set (tests).
	deferWait, deferWindow time.Duration
}

// busyTimeout is how long a connection waits for another process's write
// transaction before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// readConns is the size of the read-only pool.
const readConns = 4

// Store is a state.Store backed by one SQLite file. It is safe for
// concurrent use; writes from several processes serialise on the file lock.
type Store struct {
	path     string
	w        *sql.DB // one connection, BEGIN IMMEDIATE
	r        *sql.DB // read-only pool
	now      func() time.Time
	log      *slog.Logger
	hostname string
	scope    string // procscope.Scope(): with hostname, where a lock holder's PID can be looked up

	// Group commit (writer.go): writes queue here for the writer goroutine.
	writes       chan *writeReq
	writesMu     sync.RWMutex
	writesClosed bool
	stopWriter   chan struct{}
	writerDone   chan struct{}
	// deferWait and deferWindow: see "Deferrable writes" (writer.go).
	deferWait, deferWindow time.Duration
	// commits counts the writer's transactions (tests read it).
	commits atomic.Int64
	// reports receives each commit (ObserveCommits).
	reports state.CommitReports

	closeOnce sync.Once
	closeErr  error
}

var (
	_ state.Store          = (*Store)(nil)
	_ state.CommitObserver = (*Store)(nil)
)

// Open opens (creating if needed, with mode 0600) the SQLite state file at
// path and migrates its schema. The directory must exist. The caller
// closes the Store.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if path == "" {
		return nil, errors.New("sqlite: open state store: no path given")
	}
	if err := createFile(path); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	s := &Store{path: path, now: opts.Now, log: opts.Logger, hostname: host, scope: procscope.Scope(),
		deferWait: cmp.Or(opts.deferWait, deferWait), deferWindow: cmp.Or(opts.deferWindow, deferWindow)}

	common := "_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")&_pragma=foreign_keys(1)"
	// The journals of savepoints and statements are kept in memory: they
	// only ever undo part of a transaction that has not committed, and on
	// disk every grouped write's savepoint (writer.go) first copied each
	// page it changed to a temporary file.
	w := openDB(FileURI(path) + "?" + common +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w
	s.startWriter()
	if err := s.migrate(ctx); err != nil {
		s.stopWrites()
		_ = w.Close()
		return nil, s.openError(path, err)
	}
	r := openDB(FileURI(path) + "?" + common + "&_query_only=1")
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, s.openError(path, fmt.Errorf("read pool: %w", err))
	}
	return s, nil
}

// createFile makes sure path exists with mode 0600 (SQLite would create it
// with the umask's default otherwise) and that its directory exists.
func createFile(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: open state store %s: directory %s does not exist; create it first", path, dir)
	case err != nil:
		return fmt.Errorf("sqlite: open state store %s: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("sqlite: open state store %s: %s is not a directory", path, dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: open state store %s: %w", path, err)
	}
	// A new file: make its directory entry durable too, so a power loss
	// right after the first commit cannot lose the whole file.
	err = errors.Join(f.Sync(), f.Close(), syncDir(dir))
	if err != nil {
		return fmt.Errorf("sqlite: open state store %s: create: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// FileURI turns a path into an SQLite URI filename, escaping the characters
// a URI gives meaning to so any path works.
func FileURI(path string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path)
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Ping reports whether the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// stopWrites stops the writer after the batch it is running; writes still
// queued get errClosed.
func (s *Store) stopWrites() {
	if s.stopWriter == nil {
		return
	}
	s.writesMu.Lock()
	closed := s.writesClosed
	s.writesClosed = true
	s.writesMu.Unlock()
	if !closed {
		close(s.stopWriter)
	}
	<-s.writerDone
}

// Close closes both pools. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopWrites()
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// read runs fn in one read transaction (a consistent snapshot).
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// ---------------------------------------------------------------------------
// helpers

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q queryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// execOne runs a statement that must change a row: state.ErrNotFound when
// it changes none.
func execOne(ctx context.Context, q queryer, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return state.ErrNotFound
	}
	return nil
}

// maxNanoSec bounds the seconds that fit in int64 nanoseconds (year 2262).
const maxNanoSec = math.MaxInt64/int64(time.Second) - 1

// ts encodes t as unix nanoseconds; the zero time is 0 and times outside
// int64 nanoseconds saturate.
func ts(t time.Time) int64 {
	switch sec := t.Unix(); {
	case t.IsZero():
		return 0
	case sec > maxNanoSec:
		return math.MaxInt64
	case sec < -maxNanoSec:
		return math.MinInt64
	}
	return t.UnixNano()
}

// tm decodes ts.
func tm(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}
