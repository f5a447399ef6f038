// Package sqlite is the default state.Store: one SQLite file in WAL mode
// (modernc.org/sqlite, pure Go), written through a single connection with
// BEGIN IMMEDIATE transactions and read through a separate read-only pool.
//
// Every write that returns nil is durable (journal_mode=WAL,
// synchronous=FULL): it survives the process being killed. Times are stored
// as UTC unix nanoseconds (INTEGER; the zero time.Time is 0; times past the
// year 2262 saturate to the largest representable instant). The schema is
// versioned and migrated at Open; a file written by a newer finconnectd is
// refused rather than guessed at.
//
// This package speaks SQL so nothing above the store has to; the rules it
// shares with state/postgres live in state/internal/rules. It must not
// import anything internal except state and those rules, log secrets
// (there are none in the store by design), or keep package-level mutable
// state.
package sqlite
