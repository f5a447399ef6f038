package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/finconnectd/finconnectd/internal/state"
)

var _ state.WriteChecker = (*Store)(nil)

// StorageFailure reports whether err is a failure of the database server
// or the way to it rather than an answer about the data (see
// state.WriteChecker).
func (s *Store) StorageFailure(err error) (string, bool) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", false // the caller's deadline, not the server's failure
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return "disk full", true
		case pe.Code == "25006":
			return "read-only", true
		case strings.HasPrefix(pe.Code, "53"):
			return "out of resources", true
		case strings.HasPrefix(pe.Code, "58"):
			return "I/O error", true
		case strings.HasPrefix(pe.Code, "57P"):
			return "server shutting down", true
		case strings.HasPrefix(pe.Code, "08"):
			return "unreachable", true
		}
		return "", false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) {
		return "unreachable", true
	}
	return "", false
}

// ProbeWrite rewrites the meta row as it is, in a write transaction.
func (s *Store) ProbeWrite(ctx context.Context) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE meta SET serial = serial WHERE id = 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: probe write: %w", err)
	}
	return nil
}
