// Package postgres is the PostgreSQL state.Store (pgx/v5, pgxpool), for
// installations that run several finconnectd processes or already operate
// PostgreSQL. It has the same semantics as state/sqlite and passes the
// same conformance suite (statetest).
//
// Concurrency comes from the database: the payment row is locked (SELECT …
// FOR UPDATE) while a status is applied, deliveries are claimed with FOR
// UPDATE SKIP LOCKED, and the meta row serialises serial bumps and the state
// lock. Times are timestamptz (microsecond precision). The schema is
// versioned and migrated at Open under an advisory lock; a database from a
// newer build is refused.
//
// This package must never print or log the DSN: it can carry a password.
// Errors from Open have the password scrubbed. It must not import anything
// internal except state, its rules and secret, or keep package-level
// mutable state.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Options configure a Store.
type Options struct {
	// Now is the clock used when a caller gives no time (default time.Now).
	Now func() time.Time
	// Logger receives warnings such as a stale lock being taken over
	// (default: discard).
	Logger *slog.Logger
	// Schema, when set, is where the tables live: it is created if missing
	// and becomes every connection's search_path. Default: the DSN's own
	// search_path (usually public).
	Schema string
	// MaxConns bounds the pool (default 8).
	MaxConns int32
}

// Store is a state.Store backed by PostgreSQL. It is safe for concurrent
// use by many goroutines and many processes.
type Store struct {
	pool     *pgxpool.Pool
	now      func() time.Time
	log      *slog.Logger
	hostname string
	scope    string // procscope.Scope(): with hostname, where a lock holder's PID can be looked up
	// reports receives each commit (ObserveCommits).
	reports state.CommitReports

	closeOnce sync.Once
}

var (
	_ state.Store          = (*Store)(nil)
	_ state.CommitObserver = (*Store)(nil)
)

// schemaName is what Options.Schema may be (it is put into SQL unquoted).
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database dsn names and migrates the schema. The
// caller closes the Store.
func Open(ctx context.Context, dsn secret.Value, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if dsn.IsZero() {
		return nil, errors.New("postgres: open state store: no DSN given (state.dsn)")
	}
	cfg, err := pgxpool.ParseConfig(dsn.Reveal())
	if err != nil {
		// The parser's message quotes the DSN; say only that it is wrong.
		return nil, errors.New("postgres: open state store: the DSN cannot be parsed; check its syntax (it is not shown: it can hold a password)")
	}
	password := cfg.ConnConfig.Password
	scrub := func(err error) error { return scrubbed(err, password) }
	if opts.Schema != "" {
		if !schemaName.MatchString(opts.Schema) {
			return nil, fmt.Errorf("postgres: open state store: schema name %q is not a lowercase SQL identifier", opts.Schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	cfg.MaxConns = 8
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open state store: %w", scrub(err))
	}
	host, _ := os.Hostname()
	s := &Store{pool: pool, now: opts.Now, log: opts.Logger, hostname: host, scope: procscope.Scope()}
	if opts.Schema != "" {
		if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+opts.Schema); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: open state store: create schema %s: %w", opts.Schema, scrub(err))
		}
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open state store: %w", scrub(err))
	}
	return s, nil
}

// scrubbedError hides a password that a driver message might quote.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrubbed(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool; calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// querier is what the pool and a transaction both offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// execOne runs a statement that must change a row: state.ErrNotFound when
// it changes none.
func execOne(ctx context.Context, q querier, query string, args ...any) error {
	tag, err := q.Exec(ctx, query, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = state.ErrNotFound
	}
	return err
}

// write runs fn in one READ COMMITTED transaction and commits when it
// returns nil. Rows fn must see unchanged are locked FOR UPDATE by fn.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// After a commit this does nothing; after fn failed it undoes fn.
		if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) && err == nil {
			err = rerr
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	start := time.Now()
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	s.reports.Report(1, time.Since(start))
	return nil
}

// autocommitted reports a write of one statement outside a transaction,
// which committed on its own: its whole round trip, from start, was the
// commit's (nothing is reported when it failed).
func (s *Store) autocommitted(start time.Time, err error) {
	if err == nil {
		s.reports.Report(1, time.Since(start))
	}
}

// ObserveCommits makes fn receive each later commit. Every write commits
// on its own: took is its transaction's COMMIT round trip (the server's
// flush included), or for a write of one statement outside a transaction
// that statement's round trip. fn runs on the writing goroutine.
func (s *Store) ObserveCommits(fn func(writes int, took time.Duration)) { s.reports.Set(fn) }

// read runs fn in one REPEATABLE READ read-only transaction (a snapshot).
func (s *Store) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// ---------------------------------------------------------------------------
// helpers

// tm normalises a time read back from the database.
func tm(t time.Time) time.Time { return t.UTC() }

// isUnique reports whether err is a unique_violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
