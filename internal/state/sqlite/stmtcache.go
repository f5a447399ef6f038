package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"

	sqlite "modernc.org/sqlite"
)

// Prepared statements, kept per connection.
//
// The store's statements are a fixed set of query texts run over and over;
// parsing and planning each of them on every call cost about a fifth of the
// store's CPU. The connections of both pools therefore keep every statement
// they run prepared, keyed by its text, and run it again with new
// arguments. database/sql never uses one connection from two goroutines at
// once, so a connection's cache needs no lock of its own beyond the one
// that guards a statement still being read (its Rows not closed): a second
// use of the same text meanwhile is prepared afresh and not cached.

// maxCachedStmts bounds the statements one connection keeps; past it the
// cache starts again (texts built with a varying number of arguments would
// otherwise grow it without end).
const maxCachedStmts = 256

// openDB opens dsn with modernc's driver on connections that keep their
// statements prepared.
func openDB(dsn string) *sql.DB {
	return sql.OpenDB(&cachingConnector{dsn: dsn, drv: &sqlite.Driver{}})
}

type cachingConnector struct {
	dsn string
	drv *sqlite.Driver
}

func (c *cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

func (c *cachingConnector) Driver() driver.Driver { return c.drv }

// baseConn is what modernc's connection offers and cachingConn forwards.
type baseConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

func newCachingConn(c driver.Conn) (driver.Conn, error) {
	b, ok := c.(baseConn)
	if !ok {
		_ = c.Close()
		return nil, errors.New("sqlite: the driver's connection lacks an interface the store needs")
	}
	return &cachingConn{baseConn: b, stmts: map[string]*cachedStmt{}}, nil
}

type cachingConn struct {
	baseConn
	stmts map[string]*cachedStmt
}

// cachedStmt is one prepared statement; busy while Rows of it are open.
type cachedStmt struct {
	st   driver.Stmt
	mu   sync.Mutex
	busy bool
}

type stmtExecQuerier interface {
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmt returns query's prepared statement, preparing and caching it on
// first use; nil (and no error) when it cannot be cached, so the caller
// runs the text as it would without a cache (and meets its error there).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts[query]; ok {
		return s
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if _, ok := st.(stmtExecQuerier); !ok {
		_ = st.Close()
		return nil
	}
	if len(c.stmts) >= maxCachedStmts {
		c.dropIdle()
	}
	s := &cachedStmt{st: st}
	c.stmts[query] = s
	return s
}

// dropIdle closes and forgets every statement not being read.
func (c *cachingConn) dropIdle() {
	for q, s := range c.stmts {
		s.mu.Lock()
		busy := s.busy
		s.mu.Unlock()
		if !busy {
			_ = s.st.Close()
			delete(c.stmts, q)
		}
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.baseConn.ExecContext(ctx, query, args)
	}
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return c.baseConn.ExecContext(ctx, query, args)
	}
	s.mu.Unlock()
	return s.st.(stmtExecQuerier).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.baseConn.QueryContext(ctx, query, args)
	}
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return c.baseConn.QueryContext(ctx, query, args)
	}
	s.busy = true
	s.mu.Unlock()
	rows, err := s.st.(stmtExecQuerier).QueryContext(ctx, args)
	if err != nil {
		s.done()
		return nil, err
	}
	return &cachedRows{Rows: rows, s: s}, nil
}

func (s *cachedStmt) done() {
	s.mu.Lock()
	s.busy = false
	s.mu.Unlock()
}

func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.st.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.baseConn.Close())
	return errors.Join(errs...)
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	driver.Rows
	s      *cachedStmt
	closed bool
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.s.done()
	}
	return err
}

// The column type interfaces modernc's rows offer, forwarded so that
// database/sql scans as it would without the cache.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}
