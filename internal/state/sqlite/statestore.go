package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// Meta returns the lineage and serial.
func (s *Store) Meta(ctx context.Context) (state.Meta, error) {
	var m state.Meta
	if err := s.r.QueryRowContext(ctx, `SELECT lineage, serial FROM meta WHERE id = 1`).Scan(&m.Lineage, &m.Serial); err != nil {
		return state.Meta{}, fmt.Errorf("sqlite: read meta: %w", err)
	}
	return m, nil
}

// Resources returns every resource, ordered by address.
func (s *Store) Resources(ctx context.Context) ([]state.Resource, error) {
	out, err := queryAll(ctx, s.r, scanResource, `SELECT address, type, attributes, updated_at FROM resources ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list resources: %w", err)
	}
	return out, nil
}

// Resource returns one resource or ErrNotFound.
func (s *Store) Resource(ctx context.Context, address string) (state.Resource, error) {
	r, err := scanResource(s.r.QueryRowContext(ctx, `SELECT address, type, attributes, updated_at FROM resources WHERE address = ?`, address))
	if errors.Is(err, sql.ErrNoRows) {
		return state.Resource{}, fmt.Errorf("sqlite: resource %s: %w", address, state.ErrNotFound)
	}
	if err != nil {
		return state.Resource{}, fmt.Errorf("sqlite: resource %s: %w", address, err)
	}
	return r, nil
}

func scanResource(sc scanner) (state.Resource, error) {
	var (
		r     state.Resource
		attrs string
		upd   int64
	)
	if err := sc.Scan(&r.Address, &r.Type, &attrs, &upd); err != nil {
		return r, err
	}
	r.Attributes = json.RawMessage(attrs)
	r.UpdatedAt = tm(upd)
	return r, nil
}

// PutResource inserts or replaces r and bumps the serial.
func (s *Store) PutResource(ctx context.Context, r state.Resource) (state.Meta, error) {
	r, err := rules.NewResource(r, s.now)
	if err != nil {
		return state.Meta{}, fmt.Errorf("sqlite: %w", err)
	}
	var m state.Meta
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO resources (address, type, attributes, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (address) DO UPDATE SET type = excluded.type, attributes = excluded.attributes, updated_at = excluded.updated_at`,
			r.Address, r.Type, string(r.Attributes), ts(r.UpdatedAt)); err != nil {
			return err
		}
		var err error
		m, err = bumpSerial(ctx, tx)
		return err
	})
	if err != nil {
		return state.Meta{}, fmt.Errorf("sqlite: put resource %s: %w", r.Address, err)
	}
	return m, nil
}

// DeleteResource removes a resource (ErrNotFound if absent) and bumps the serial.
func (s *Store) DeleteResource(ctx context.Context, address string) (state.Meta, error) {
	var m state.Meta
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `DELETE FROM resources WHERE address = ?`, address); err != nil {
			return err
		}
		var err error
		m, err = bumpSerial(ctx, tx)
		return err
	})
	if err != nil {
		return state.Meta{}, fmt.Errorf("sqlite: delete resource %s: %w", address, err)
	}
	return m, nil
}

func bumpSerial(ctx context.Context, tx *sql.Tx) (state.Meta, error) {
	var m state.Meta
	if err := tx.QueryRowContext(ctx, `UPDATE meta SET serial = serial + 1 WHERE id = 1 RETURNING lineage, serial`).Scan(&m.Lineage, &m.Serial); err != nil {
		return state.Meta{}, fmt.Errorf("bump serial: %w", err)
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// State lock

func lockHolder(ctx context.Context, q queryer) (state.LockInfo, bool, error) {
	var (
		li    state.LockInfo
		since int64
	)
	err := q.QueryRowContext(ctx, `SELECT lock_id, host, pid, operation, since, scope FROM lock WHERE id = 1`).
		Scan(&li.ID, &li.Host, &li.PID, &li.Operation, &since, &li.Scope)
	if errors.Is(err, sql.ErrNoRows) {
		return state.LockInfo{}, false, nil
	}
	if err != nil {
		return state.LockInfo{}, false, err
	}
	li.Since = tm(since)
	return li, true, nil
}

// LockHolder reports the current holder, if any.
func (s *Store) LockHolder(ctx context.Context) (state.LockInfo, bool, error) {
	li, ok, err := lockHolder(ctx, s.r)
	if err != nil {
		return state.LockInfo{}, false, fmt.Errorf("sqlite: read state lock: %w", err)
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
		return fmt.Errorf("sqlite: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		holder, held, err := lockHolder(ctx, tx)
		if err != nil {
			return err
		}
		if err := rules.Takeover(holder, held, info, s.hostname, s.scope, s.log); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO lock (id, lock_id, host, pid, operation, since, scope) VALUES (1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, host = excluded.host, pid = excluded.pid,
	operation = excluded.operation, since = excluded.since, scope = excluded.scope`,
			info.ID, info.Host, info.PID, info.Operation, ts(info.Since), info.Scope)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: lock state for %s: %w", info.ID, err)
	}
	return nil
}

// Unlock releases the lock if id holds it. It is not an error when nobody
// holds it; when someone else does, the lock stays and the error wraps a
// *state.LockedError naming them.
func (s *Store) Unlock(ctx context.Context, id string) error {
	if err := s.unlock(ctx, id, rules.Unlock); err != nil {
		return fmt.Errorf("sqlite: unlock state for %s: %w", id, err)
	}
	return nil
}

// ForceUnlock releases the lock whoever took it, if its ID is id.
func (s *Store) ForceUnlock(ctx context.Context, id string) error {
	if err := s.unlock(ctx, id, rules.ForceUnlock); err != nil {
		return fmt.Errorf("sqlite: force-unlock state %s: %w", id, err)
	}
	return nil
}

// unlock deletes the lock row when release, shown the holder, says so.
func (s *Store) unlock(ctx context.Context, id string, release func(holder state.LockInfo, held bool, id string) (bool, error)) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		holder, held, err := lockHolder(ctx, tx)
		if err != nil {
			return err
		}
		if ok, err := release(holder, held, id); err != nil || !ok {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM lock WHERE id = 1`)
		return err
	})
}
