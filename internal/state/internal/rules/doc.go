// Package rules is the dialect-neutral half of the state backends
// (state/sqlite, state/postgres): the decisions the state.Store contract
// leaves to an implementation, made once so both backends make them the
// same way. It decides which payment fields a status change fills or
// replaces, whether the status changed and when to sync next; builds
// events, deliveries and IDs; checks arguments; decides lock takeovers and
// attempt numbering; and runs migrations.
//
// A backend keeps its SQL and its transaction handling and calls in here;
// where a rule needs the database in the middle (ApplyStatus, Migrate) it
// asks through a small interface the backend implements on its
// transaction. Errors from here carry no backend prefix ("sqlite: ",
// "postgres: "): the backend adds it.
//
// This package must not speak SQL, import a driver, or import anything
// internal except state and procscope (whether a lock holder's PID is
// gone); it keeps no package-level mutable state.
package rules
