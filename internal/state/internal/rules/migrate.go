package rules

import (
	"context"
	"fmt"
	"time"
)

// MigrationTx is one backend write transaction as Migrate needs it. It
// runs SQL and decides nothing.
type MigrationTx interface {
	// CreateVersionTable creates schema_migrations if it does not exist.
	CreateVersionTable(ctx context.Context) error
	// Version returns the highest version in schema_migrations (0: none).
	Version(ctx context.Context) (int, error)
	// Exec runs one migration's statements.
	Exec(ctx context.Context, ddl string) error
	// InsertMeta creates the meta row with this lineage and serial 0.
	InsertMeta(ctx context.Context, lineage string) error
	// RecordVersion adds v to schema_migrations.
	RecordVersion(ctx context.Context, v int, at time.Time) error
}

// Migrate brings the schema in tx up to the last of migrations (index 0
// unused; version v is migrations[v]), each applied once and recorded in
// the same transaction; the first one also fixes the lineage. A schema
// from a newer build is refused.
func Migrate(ctx context.Context, tx MigrationTx, migrations []string, now func() time.Time) error {
	if err := tx.CreateVersionTable(ctx); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	have, err := tx.Version(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema: read version: %w", err)
	}
	want := len(migrations) - 1
	if have > want {
		return fmt.Errorf("schema version %d is newer than this build supports (%d): upgrade finconnectd", have, want)
	}
	for v := have + 1; v <= want; v++ {
		if err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v, err)
		}
		if v == 1 {
			if err := tx.InsertMeta(ctx, NewLineage()); err != nil {
				return fmt.Errorf("migrate schema: create lineage: %w", err)
			}
		}
		if err := tx.RecordVersion(ctx, v, now()); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v, err)
		}
	}
	return nil
}
