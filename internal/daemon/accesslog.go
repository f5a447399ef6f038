package daemon

import (
	"log/slog"
	"net/http"

	"github.com/finconnectd/finconnectd/internal/httpapi"
)

// accessLevel is the level an API request is logged at: api.access_log
// of the configuration being served, one level lower for health checks
// and metrics scrapes (a load balancer's probes every few seconds).
func (d *Daemon) accessLevel(r *http.Request) (slog.Level, bool) {
	cfg := d.Config()
	name := "info"
	if cfg.API.AccessLog != "" {
		name = cfg.API.AccessLog
	}
	var level slog.Level
	switch name {
	case "off":
		return 0, false
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	default:
		level = slog.LevelInfo
	}
	switch r.Pattern {
	case "GET /healthz", "GET /readyz", "GET /metrics":
		level -= 4
	}
	return level, true
}

// withAccessLog wraps the API listener's handler in the access log.
func (d *Daemon) withAccessLog(h http.Handler) http.Handler {
	return httpapi.AccessLog(h, d.log, httpapi.AccessLogOptions{Level: d.accessLevel})
}
