package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
)

// mustExist returns state.ErrNotFound when table (a constant of ours) has
// no row with this id: a list's After cursor must name a row.
func (s *Store) mustExist(ctx context.Context, table, id string) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return state.ErrNotFound
	}
	return err
}
