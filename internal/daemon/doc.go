// Package daemon is `finconnectd serve`: it composes the store, the
// provider clients, the settler, event delivery, the pay API, webhook
// ingest and the schedules into one process with two listeners (the public
// webhook listener, server.listen, and the private API listener,
// api.listen), and owns that process's lifecycle: start, reload on SIGHUP
// (delivered as a channel by the caller), graceful stop when the context
// ends, and the systemd notify protocol.
//
// It does not handle signals (main does), does not exit the process, keeps
// no package-level state and never logs a secret.
package daemon
