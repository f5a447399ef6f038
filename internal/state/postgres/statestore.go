package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// Meta returns the lineage and serial.
func (s *Store) Meta(ctx context.Context) (state.Meta, error) {
	m, err := meta(ctx, s.pool, false)
	if err != nil {
		return state.Meta{}, fmt.Errorf("postgres: read meta: %w", err)
	}
	return m, nil
}

func meta(ctx context.Context, q querier, forUpdate bool) (state.Meta, error) {
	query := `SELECT lineage, serial FROM meta WHERE id = 1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var m state.Meta
	err := q.QueryRow(ctx, query).Scan(&m.Lineage, &m.Serial)
	return m, err
}

const resourceCols = `address, type, attributes, updated_at`

func scanResource(row pgx.Row) (state.Resource, error) {
	var (
		r     state.Resource
		attrs string
	)
	if err := row.Scan(&r.Address, &r.Type, &attrs, &r.UpdatedAt); err != nil {
		return r, err
	}
	r.Attributes = json.RawMessage(attrs)
	r.UpdatedAt = tm(r.UpdatedAt)
	return r, nil
}

// Resources returns every resource, ordered by address.
func (s *Store) Resources(ctx context.Context) ([]state.Resource, error) {
	out, err := queryAll(ctx, s.pool, scanResource, `SELECT `+resourceCols+` FROM resources ORDER BY address COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list resources: %w", err)
	}
	return out, nil
}

// Resource returns one resource or ErrNotFound.
func (s *Store) Resource(ctx context.Context, address string) (state.Resource, error) {
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT `+resourceCols+` FROM resources WHERE address = $1`, address))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Resource{}, fmt.Errorf("postgres: resource %s: %w", address, err)
	}
	return r, nil
}

// PutResource inserts or replaces r and bumps the serial.
func (s *Store) PutResource(ctx context.Context, r state.Resource) (state.Meta, error) {
	r, err := rules.NewResource(r, s.now)
	if err != nil {
		return state.Meta{}, fmt.Errorf("postgres: %w", err)
	}
	var m state.Meta
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES ($1, $2, $3, $4)
ON CONFLICT (address) DO UPDATE SET type = excluded.type, attributes = excluded.attributes, updated_at = excluded.updated_at`,
			r.Address, r.Type, string(r.Attributes), r.UpdatedAt); err != nil {
			return err
		}
		var err error
		m, err = bumpSerial(ctx, tx)
		return err
	})
	if err != nil {
		return state.Meta{}, fmt.Errorf("postgres: put resource %s: %w", r.Address, err)
	}
	return m, nil
}

// DeleteResource removes a resource (ErrNotFound if absent) and bumps the serial.
func (s *Store) DeleteResource(ctx context.Context, address string) (state.Meta, error) {
	var m state.Meta
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, `DELETE FROM resources WHERE address = $1`, address); err != nil {
			return err
		}
		var err error
		m, err = bumpSerial(ctx, tx)
		return err
	})
	if err != nil {
		return state.Meta{}, fmt.Errorf("postgres: delete resource %s: %w", address, err)
	}
	return m, nil
}

func bumpSerial(ctx context.Context, tx pgx.Tx) (state.Meta, error) {
	var m state.Meta
	if err := tx.QueryRow(ctx, `UPDATE meta SET serial = serial + 1 WHERE id = 1 RETURNING lineage, serial`).Scan(&m.Lineage, &m.Serial); err != nil {
		return state.Meta{}, fmt.Errorf("bump serial: %w", err)
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// State lock. The meta row, locked FOR UPDATE, serialises lockers; the
// lock itself is the single state_lock row.

func lockHolder(ctx context.Context, q querier) (state.LockInfo, bool, error) {
	var li state.LockInfo
	err := q.QueryRow(ctx, `SELECT lock_id, host, pid, operation, since, scope FROM state_lock WHERE id = 1`).
		Scan(&li.ID, &li.Host, &li.PID, &li.Operation, &li.Since, &li.Scope)
	if errors.Is(err, pgx.ErrNoRows) {
		return state.LockInfo{}, false, nil
	}
	if err != nil {
		return state.LockInfo{}, false, err
	}
	li.Since = tm(li.Since)
	return li, true, nil
}

// lockedHolder locks the meta row and returns the holder.
func lockedHolder(ctx context.Context, tx pgx.Tx) (state.LockInfo, bool, error) {
	if _, err := meta(ctx, tx, true); err != nil {
		return state.LockInfo{}, false, err
	}
	return lockHolder(ctx, tx)
}

// LockHolder reports the current holder, if any.
func (s *Store) LockHolder(ctx context.Context) (state.LockInfo, bool, error) {
	li, ok, err := lockHolder(ctx, s.pool)
	if err != nil {
		return state.LockInfo{}, false, fmt.Errorf("postgres: read state lock: %w", err)
	}
	return li, ok, nil
}

// Lock takes the state lock for info.ID. Locking again with the same ID
// succeeds (and refreshes the holder's details). A lock held by a process
// that no longer exists, on this host and in this process's
// procscope.Scope, is taken over, with a warning (rules.HolderGone).
func (s *Store) Lock(ctx context.Context, info state.LockInfo) error {
	info, err := rules.NewLock(info, s.now)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		holder, held, err := lockedHolder(ctx, tx)
		if err != nil {
			return err
		}
		if err := rules.Takeover(holder, held, info, s.hostname, s.scope, s.log); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO state_lock (id, lock_id, host, pid, operation, since, scope) VALUES (1, $1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, host = excluded.host, pid = excluded.pid,
	operation = excluded.operation, since = excluded.since, scope = excluded.scope`,
			info.ID, info.Host, info.PID, info.Operation, info.Since, info.Scope)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: lock state for %s: %w", info.ID, err)
	}
	return nil
}

// Unlock releases the lock if id holds it. It is not an error when nobody
// holds it; when someone else does, the lock stays and the error wraps a
// *state.LockedError naming them.
func (s *Store) Unlock(ctx context.Context, id string) error {
	if err := s.unlock(ctx, id, rules.Unlock); err != nil {
		return fmt.Errorf("postgres: unlock state for %s: %w", id, err)
	}
	return nil
}

// ForceUnlock releases the lock whoever took it, if its ID is id.
func (s *Store) ForceUnlock(ctx context.Context, id string) error {
	if err := s.unlock(ctx, id, rules.ForceUnlock); err != nil {
		return fmt.Errorf("postgres: force-unlock state %s: %w", id, err)
	}
	return nil
}

// unlock deletes the lock row when release, shown the holder, says so.
func (s *Store) unlock(ctx context.Context, id string, release func(holder state.LockInfo, held bool, id string) (bool, error)) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		holder, held, err := lockedHolder(ctx, tx)
		if err != nil {
			return err
		}
		if ok, err := release(holder, held, id); err != nil || !ok {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM state_lock WHERE id = 1`)
		return err
	})
}
