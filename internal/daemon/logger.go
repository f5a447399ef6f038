package daemon

import (
	"io"
	"log/slog"
)

// NewLogger returns the daemon's logger: JSON when w is not a terminal or
// when running under systemd (JOURNAL_STREAM or INVOCATION_ID set), text
// for a person at a terminal.
func NewLogger(w io.Writer, isTerminal bool, lookupEnv func(string) (string, bool), level slog.Leveler) *slog.Logger {
	underSystemd := false
	for _, k := range []string{"JOURNAL_STREAM", "INVOCATION_ID"} {
		if v, ok := lookupEnv(k); ok && v != "" {
			underSystemd = true
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if !isTerminal || underSystemd {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
