package daemon

import (
	"io"
	"log/slog"
)

// NewLogger returns the daemon's logger: JSON when w is not a terminal or
// when running under systemd (JOURNAL_STREAM or INVOCATION_ID set), text
// for a person at a terminal. Durations (took, ...) are written the same
// way in both, as Go duration strings ("3.01ms"), not nanoseconds in JSON.
func NewLogger(w io.Writer, isTerminal bool, lookupEnv func(string) (string, bool), level slog.Leveler) *slog.Logger {
	underSystemd := false
	for _, k := range []string{"JOURNAL_STREAM", "INVOCATION_ID"} {
		if v, ok := lookupEnv(k); ok && v != "" {
			underSystemd = true
		}
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationString}
	if !isTerminal || underSystemd {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationString writes a time.Duration value as its String().
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
