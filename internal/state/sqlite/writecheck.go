package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"syscall"

	sqlite3 "modernc.org/sqlite"

	"github.com/finconnectd/finconnectd/internal/state"
)

var _ state.WriteChecker = (*Store)(nil)

// SQLite primary result codes that mean the file, not the data, failed.
var storageCodes = map[int]string{
	3:  "permission denied", // SQLITE_PERM
	8:  "read-only",         // SQLITE_READONLY
	10: "I/O error",         // SQLITE_IOERR
	11: "corrupt",           // SQLITE_CORRUPT
	13: "disk full",         // SQLITE_FULL
	14: "cannot open",       // SQLITE_CANTOPEN
	26: "corrupt",           // SQLITE_NOTADB
}

// StorageFailure reports whether err is a failure of the database file or
// its directory (see state.WriteChecker).
func (s *Store) StorageFailure(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		kind, ok := storageCodes[se.Code()&0xff]
		return kind, ok
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "disk full", true
	case errors.Is(err, syscall.EROFS):
		return "read-only", true
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied", true
	case errors.Is(err, syscall.EIO):
		return "I/O error", true
	case errors.Is(err, sql.ErrConnDone):
		return "closed", true
	}
	return "", false
}

// ProbeWrite rewrites the meta row as it is, in a write transaction: it
// fails as a real write would (full disk, read-only file).
func (s *Store) ProbeWrite(ctx context.Context) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE meta SET serial = serial WHERE id = 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: probe write: %w", err)
	}
	return nil
}

// openError wraps err, from opening the store at path, with what an
// operator should check when the file or its directory is the cause.
func (s *Store) openError(path string, err error) error {
	err = fmt.Errorf("sqlite: open state store %s: %w", path, err)
	kind, ok := s.StorageFailure(err)
	if !ok || kind == "corrupt" || kind == "closed" {
		return err
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	who := "this process"
	if u, uerr := user.Current(); uerr == nil {
		who = fmt.Sprintf("this process (user %s, uid %s)", u.Username, u.Uid)
	}
	return fmt.Errorf("%w\n  (%s) the state directory %s must be writable by %s: SQLite creates %s-wal and %s-shm beside %s. "+
		"Check the directory's owner and permissions (under systemd: StateDirectory= or ReadWritePaths=), "+
		"that its file system is not mounted read-only, and that the disk is not full (df -h %s)",
		err, kind, dir, who, base, base, base, dir)
}
