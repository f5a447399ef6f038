package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStmtCache: statements run again from the cache give the same answers
// as fresh ones, a text run again while its rows are still being read is
// run apart (the open rows are not disturbed), and many distinct texts do
// not grow the cache past its bound.
func TestStmtCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(FileURI(filepath.Join(t.TempDir(), "c.db")) + "?_pragma=journal_mode(WAL)")
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	const q = `SELECT id, v FROM t WHERE id >= ? ORDER BY id`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for rows.Next() {
		var (
			id int
			v  string
		)
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, v)
		// The same text while the outer rows are open.
		var n int
		inner, err := tx.QueryContext(ctx, q, id)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			n++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		if n != 5-id {
			t.Errorf("inner query from %d: %d rows, want %d", id, n, 5-id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if want := []string{"v0", "v1", "v2", "v3", "v4"}; fmt.Sprint(outer) != fmt.Sprint(want) {
		t.Fatalf("outer rows %v, want %v", outer, want)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * maxCachedStmts {
		var got string
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT v || '%d' FROM t WHERE id = ?`, i), i%5).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("v%d%d", i%5, i); got != want {
			t.Fatalf("query %d: %q, want %q", i, got, want)
		}
	}
	// An error is the statement's own, cached or not.
	if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (?, ?)`, 1, "dup"); err == nil || !isUnique(err) {
		t.Fatalf("duplicate insert: %v, want a unique violation", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO nosuch (id) VALUES (1)`); err == nil {
		t.Fatal("insert into a missing table: no error")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		if n := len(dc.(*cachingConn).stmts); n > maxCachedStmts {
			return fmt.Errorf("%d statements cached, bound %d", n, maxCachedStmts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
