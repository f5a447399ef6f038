package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/finconnectd/finconnectd/internal/state/internal/rules"
)

// migrations are applied in order, each once, inside the transaction that
// records it in schema_migrations. Append only: never edit a released one.
// The first one also fixes the lineage (see rules.Migrate).
func migrations() []string {
	return []string{
		1: `
CREATE TABLE meta (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	lineage TEXT    NOT NULL,
	serial  INTEGER NOT NULL
);

CREATE TABLE resources (
	address    TEXT PRIMARY KEY,
	type       TEXT    NOT NULL,
	attributes TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE lock (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	lock_id   TEXT    NOT NULL,
	host      TEXT    NOT NULL,
	pid       INTEGER NOT NULL,
	operation TEXT    NOT NULL,
	since     INTEGER NOT NULL
);

CREATE TABLE payments (
	id                 TEXT PRIMARY KEY,
	provider           TEXT    NOT NULL,
	reference          TEXT    NOT NULL,
	status             TEXT    NOT NULL,
	amount             TEXT    NOT NULL,
	currency           TEXT    NOT NULL,
	phone              TEXT    NOT NULL,
	description        TEXT    NOT NULL,
	mno                TEXT    NOT NULL,
	ipn                TEXT    NOT NULL,
	provider_reference TEXT    NOT NULL,
	redirect_url       TEXT    NOT NULL,
	confirmation_code  TEXT    NOT NULL,
	message            TEXT    NOT NULL,
	raw                BLOB,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	next_sync_at       INTEGER NOT NULL,
	sync_attempts      INTEGER NOT NULL,
	UNIQUE (provider, reference)
);
CREATE INDEX payments_due ON payments (status, next_sync_at);
CREATE INDEX payments_provider_reference ON payments (provider, provider_reference);
CREATE INDEX payments_created ON payments (created_at);

CREATE TABLE idempotency (
	key          TEXT PRIMARY KEY,
	request_hash TEXT    NOT NULL,
	done         INTEGER NOT NULL,
	status_code  INTEGER NOT NULL,
	body         BLOB,
	payment_id   TEXT    NOT NULL,
	created_at   INTEGER NOT NULL
);

CREATE TABLE notifications (
	id          TEXT PRIMARY KEY,
	provider    TEXT    NOT NULL,
	dedup_key   TEXT,
	route       TEXT    NOT NULL,
	body        BLOB,
	received_at INTEGER NOT NULL,
	UNIQUE (provider, dedup_key)
);

CREATE TABLE events (
	id         TEXT PRIMARY KEY,
	type       TEXT    NOT NULL,
	payment_id TEXT    NOT NULL,
	provider   TEXT    NOT NULL,
	payload    BLOB,
	created_at INTEGER NOT NULL
);
CREATE INDEX events_payment ON events (payment_id);

CREATE TABLE deliveries (
	id               TEXT PRIMARY KEY,
	event_id         TEXT    NOT NULL REFERENCES events (id),
	route            TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	attempts         INTEGER NOT NULL,
	next_attempt_at  INTEGER NOT NULL,
	lease_owner      TEXT    NOT NULL,
	lease_until      INTEGER NOT NULL,
	last_status_code INTEGER NOT NULL,
	last_error       TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (route, status, next_attempt_at);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_status_created ON deliveries (status, created_at);

CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY,
	delivery_id TEXT    NOT NULL REFERENCES deliveries (id),
	n           INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	duration_ns INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	error       TEXT    NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
`,
		// The lock holder's procscope scope: a lock is taken over from a
		// gone PID only in the same scope. Older rows have none.
		2: `ALTER TABLE lock ADD COLUMN scope TEXT NOT NULL DEFAULT '';`,
		// Payouts and the append-only audit trail of money-out requests.
		3: payoutsSchema,
		// Reconciliation runs, what they saw at the provider, differences.
		4: reconSchema,
		// Which payment a notification was about, and each payment's
		// status changes (the console shows both).
		5: historySchema,
		// The latest runs of each schedule (the console shows them).
		6: schedulesSchema,
		// Reconciliation runs match payouts too: differences name a
		// payout, seen transactions are kept per kind.
		7: reconPayoutsSchema,
		// The console's payment search by reference alone (without a
		// provider) and by status, newest first: without these a search
		// walked the whole table in creation order, or sorted every
		// payment of the status.
		8: `CREATE INDEX payments_reference ON payments (reference);
CREATE INDEX payments_status_created ON payments (status, created_at);`,
		// The due queries (payments to sync, deliveries to claim) ask only
		// for open rows: indexes over those alone stay small however many
		// payments settled and events were delivered, and a payment that
		// settles or a delivery that ends only leaves its index instead of
		// moving to another part of it (an index write fewer per webhook
		// and per delivery). The due payments' queries name payments_due
		// (without statistics SQLite prefers payments_status_created and
		// sorts every open payment); TestDueQueryPlans checks the plans.
		9: `DROP INDEX payments_due;
CREATE INDEX payments_due ON payments (next_sync_at) WHERE status IN ('pending', 'unknown');
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (route, next_attempt_at) WHERE status = 'pending';`,
	}
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return len(migrations()) - 1 }

// migrate brings the schema up to SchemaVersion in one write transaction
// (so two processes opening a new file at once do not race), and refuses a
// file from a newer build.
func (s *Store) migrate(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return rules.Migrate(ctx, migrationTx{tx}, migrations(), s.now)
	})
}

// migrationTx is the SQL of rules.Migrate.
type migrationTx struct{ tx *sql.Tx }

func (t migrationTx) CreateVersionTable(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`)
	return err
}

func (t migrationTx) Version(ctx context.Context) (int, error) {
	var v int
	err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

func (t migrationTx) Exec(ctx context.Context, ddl string) error {
	_, err := t.tx.ExecContext(ctx, ddl)
	return err
}

func (t migrationTx) InsertMeta(ctx context.Context, lineage string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO meta (id, lineage, serial) VALUES (1, ?, 0)`, lineage)
	return err
}

func (t migrationTx) RecordVersion(ctx context.Context, v int, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, ts(at))
	return err
}
