package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// migrations are applied in order, each once, inside the transaction that
// records it in schema_migrations. Append only: never edit a released one.
func migrations() []string {
	return []string{
		1: `
CREATE TABLE meta (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	lineage TEXT    NOT NULL,
	serial  BIGINT  NOT NULL
);

CREATE TABLE resources (
	address    TEXT PRIMARY KEY,
	type       TEXT        NOT NULL,
	attributes TEXT        NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE state_lock (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	lock_id   TEXT        NOT NULL,
	host      TEXT        NOT NULL,
	pid       INTEGER     NOT NULL,
	operation TEXT        NOT NULL,
	since     TIMESTAMPTZ NOT NULL
);

CREATE TABLE payments (
	id                 TEXT PRIMARY KEY,
	seq                BIGINT GENERATED ALWAYS AS IDENTITY,
	provider           TEXT        NOT NULL,
	reference          TEXT        NOT NULL,
	status             TEXT        NOT NULL,
	amount             TEXT        NOT NULL,
	currency           TEXT        NOT NULL,
	phone              TEXT        NOT NULL,
	description        TEXT        NOT NULL,
	mno                TEXT        NOT NULL,
	ipn                TEXT        NOT NULL,
	provider_reference TEXT        NOT NULL,
	redirect_url       TEXT        NOT NULL,
	confirmation_code  TEXT        NOT NULL,
	message            TEXT        NOT NULL,
	raw                BYTEA,
	created_at         TIMESTAMPTZ NOT NULL,
	updated_at         TIMESTAMPTZ NOT NULL,
	next_sync_at       TIMESTAMPTZ NOT NULL,
	sync_attempts      INTEGER     NOT NULL,
	UNIQUE (provider, reference)
);
CREATE INDEX payments_due ON payments (status, next_sync_at);
CREATE INDEX payments_provider_reference ON payments (provider, provider_reference);
CREATE INDEX payments_created ON payments (created_at, seq);

CREATE TABLE idempotency (
	key          TEXT PRIMARY KEY,
	request_hash TEXT        NOT NULL,
	done         BOOLEAN     NOT NULL,
	status_code  INTEGER     NOT NULL,
	body         BYTEA,
	payment_id   TEXT        NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE notifications (
	id          TEXT PRIMARY KEY,
	provider    TEXT        NOT NULL,
	dedup_key   TEXT,
	route       TEXT        NOT NULL,
	body        BYTEA,
	received_at TIMESTAMPTZ NOT NULL,
	UNIQUE (provider, dedup_key)
);

CREATE TABLE events (
	id         TEXT PRIMARY KEY,
	type       TEXT        NOT NULL,
	payment_id TEXT        NOT NULL,
	provider   TEXT        NOT NULL,
	payload    BYTEA,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_payment ON events (payment_id);

CREATE TABLE deliveries (
	id               TEXT PRIMARY KEY,
	seq              BIGINT GENERATED ALWAYS AS IDENTITY,
	event_id         TEXT        NOT NULL REFERENCES events (id),
	route            TEXT        NOT NULL,
	status           TEXT        NOT NULL,
	attempts         INTEGER     NOT NULL,
	next_attempt_at  TIMESTAMPTZ NOT NULL,
	lease_owner      TEXT        NOT NULL,
	lease_until      TIMESTAMPTZ NOT NULL,
	last_status_code INTEGER     NOT NULL,
	last_error       TEXT        NOT NULL,
	created_at       TIMESTAMPTZ NOT NULL,
	updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (route, status, next_attempt_at);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_status_created ON deliveries (status, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at, seq);

CREATE TABLE attempts (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	delivery_id TEXT        NOT NULL REFERENCES deliveries (id),
	n           INTEGER     NOT NULL,
	at          TIMESTAMPTZ NOT NULL,
	duration_ns BIGINT      NOT NULL,
	status_code INTEGER     NOT NULL,
	error       TEXT        NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
`,
		// The lock holder's procscope scope: a lock is taken over from a
		// gone PID only in the same scope. Older rows have none.
		2: `ALTER TABLE state_lock ADD COLUMN scope TEXT NOT NULL DEFAULT '';`,
		// Payouts and the append-only audit trail of money-out requests.
		3: payoutsSchema,
		// Claims read a route's pending deliveries in (next_attempt_at,
		// seq) order: an index in that order over pending rows only lets
		// a claim stop after LIMIT rows instead of sorting every due row
		// (a backlog of thousands drained ten times slower than a small
		// one). Statistics are gathered at once and kept fresh: the
		// table changes fast, and a plan made from never-analysed
		// statistics guesses one row.
		4: `CREATE INDEX IF NOT EXISTS deliveries_claim ON deliveries (route, next_attempt_at, seq) WHERE status = 'pending';
DROP INDEX IF EXISTS deliveries_due;
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02,
	autovacuum_analyze_threshold = 200);
ALTER TABLE events SET (autovacuum_analyze_scale_factor = 0.05);
ANALYZE deliveries;
ANALYZE events;`,
		// Reconciliation runs, what they saw at the provider, differences.
		5: reconSchema,
		// Which payment a notification was about, and each payment's
		// status changes (the console shows both).
		6: historySchema,
		// The latest runs of each schedule (the console shows them).
		7: schedulesSchema,
		// Reconciliation runs match payouts too: differences name a
		// payout, seen transactions are kept per kind.
		8: reconPayoutsSchema,
		// The console's payment search by reference alone (without a
		// provider) and by status, newest first: without these a search
		// walked the whole table in creation order, or sorted every
		// payment of the status.
		9: `CREATE INDEX payments_reference ON payments (reference);
CREATE INDEX payments_status_created ON payments (status, created_at, seq);`,
	}
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return len(migrations()) - 1 }

// migrate brings the schema up to SchemaVersion in one transaction under a
// transaction-scoped advisory lock (per schema), so processes starting
// together do not race, and refuses a database from a newer build.
func (s *Store) migrate(ctx context.Context) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		// With a search_path naming no existing schema, current_schema()
		// is NULL: there is nowhere to create tables, and the lock below
		// would lock nothing. Say how to fix it.
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("migrate schema: read current_schema(): %w", err)
		}
		if schema == nil {
			return errors.New("migrate schema: the connection's search_path names no existing schema; " +
				"create it first (CREATE SCHEMA name) or fix search_path in the DSN")
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('finconnectd.migrate.' || current_schema()))`); err != nil {
			return fmt.Errorf("migrate schema: take the migration lock: %w", err)
		}
		return rules.Migrate(ctx, migrationTx{tx}, migrations(), s.now)
	})
}

// migrationTx is the SQL of rules.Migrate.
type migrationTx struct{ tx pgx.Tx }

func (t migrationTx) CreateVersionTable(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL
)`)
	return err
}

func (t migrationTx) Version(ctx context.Context) (int, error) {
	var v int
	err := t.tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

func (t migrationTx) Exec(ctx context.Context, ddl string) error {
	_, err := t.tx.Exec(ctx, ddl)
	return err
}

func (t migrationTx) InsertMeta(ctx context.Context, lineage string) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO meta (id, lineage, serial) VALUES (1, $1, 0)`, lineage)
	return err
}

func (t migrationTx) RecordVersion(ctx context.Context, v int, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, at)
	return err
}
