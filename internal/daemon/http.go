package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/finconnectd/finconnectd/internal/admission"
	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/console"
	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/openapi"
	"github.com/finconnectd/finconnectd/internal/recon"
)

// Server limits. Webhook handlers may wait for a provider status query
// (20 s) and the store; pay API initiations for a provider (45 s).
const (
	readHeaderTimeout  = 5 * time.Second
	readTimeout        = 30 * time.Second
	publicWriteTimeout = 60 * time.Second
	apiWriteTimeout    = 90 * time.Second
	idleTimeout        = 120 * time.Second
	maxHeaderBytes     = 64 << 10

	// Past publicMaxInFlight webhooks at once, a webhook waits up to
	// admissionWait for a slot, then gets 503 with Retry-After (package
	// admission): a provider's burst beyond what the store commits is
	// retried by the provider instead of queueing without bound here.
	publicMaxInFlight   = 512
	admissionWait       = 100 * time.Millisecond
	admissionRetryAfter = 2 * time.Second
)

// listen binds both listeners (so a port conflict fails Start before
// anything is served).
func (d *Daemon) listen(cfg *config.Config) error {
	var err error
	if d.publicLn, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return fmt.Errorf("listen for webhooks on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	if path, ok := strings.CutPrefix(cfg.API.Listen, "unix:"); ok {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			_ = os.Remove(path) // a stale socket from a previous run
		}
		if d.apiLn, err = net.Listen("unix", path); err != nil {
			return fmt.Errorf("listen for the API on %s (api.listen): %w", cfg.API.Listen, err)
		}
		d.unixPath = path
		if err := os.Chmod(path, 0o660); err != nil {
			return fmt.Errorf("restrict the API socket %s: %w", path, err)
		}
	} else if d.apiLn, err = net.Listen("tcp", cfg.API.Listen); err != nil {
		return fmt.Errorf("listen for the API on %s (api.listen): %w", cfg.API.Listen, err)
	}
	d.addrMu.Lock()
	d.publicAddr, d.apiAddr = d.publicLn.Addr().String(), d.apiLn.Addr().String()
	d.addrMu.Unlock()
	d.publicConns, d.apiConns = newConns(), newConns()
	d.publicSrv = &http.Server{
		Handler:           admission.New(publicMaxInFlight, admissionWait, admissionRetryAfter).Wrap(d.ingester.Handler(), d.m.refusedOn("public")),
		ConnState:         d.publicConns.track,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      publicWriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.apiSrv = &http.Server{
		Handler:           d.withAccessLog(d.apiHandler()),
		ConnState:         d.apiConns.track,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      apiWriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// serve starts serving on both bound listeners.
func (d *Daemon) serve() {
	d.serveErr = make(chan error, 2)
	for _, p := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{d.publicSrv, d.publicLn}, {d.apiSrv, d.apiLn}} {
		go func() {
			if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.serveErr <- fmt.Errorf("serve %s: %w", p.ln.Addr(), err)
			}
		}()
	}
}

// apiHandler is the private listener: health and metrics open, the pay
// and events APIs behind the bearer tokens of api.tokens.
func (d *Daemon) apiHandler() http.Handler {
	mux := http.NewServeMux()
	open := httpapi.NewRoutes(mux)
	open.Handle("GET "+openapi.Path, openapi.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg, Timeout: 10 * time.Second}))

	authed := http.NewServeMux()
	routes := httpapi.NewRoutes(authed)
	d.pay.RegisterAPI(routes)
	d.payouts.RegisterAPI(routes) // scopes payouts and audit, refusals audited
	d.cancels.RegisterAPI(routes) // scope refunds, refusals audited
	delivery.RegisterAPI(routes, d.store, d.now, d.disp.Notify)
	recon.RegisterAPI(routes, recon.APIOptions{Store: d.store, Now: d.now, Logger: d.log}) // scope reconciliation
	d.apiPatterns = append(open.Patterns(), routes.Patterns()...)
	protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.rt.Load().auth.Require(authed).ServeHTTP(w, r)
	})
	mux.Handle("/v1/", protected)
	if con, err := console.New(console.Options{Store: d.store,
		Auth: func() *httpapi.Authenticator { return d.rt.Load().auth }, Config: d.Config,
		Notify: d.disp.Notify, Now: d.now, Logger: d.log}); err != nil {
		d.log.Error("console not served", "err", err)
	} else {
		con.Register(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteProblem(w, httpapi.NewProblem(http.StatusNotFound, "not-found", "Not Found", "No such endpoint."))
	})
	return mux
}

// readyz: the store answers and a configuration is loaded.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"config": "ok", "store": "ok"}
	code := http.StatusOK
	if d.rt.Load() == nil {
		checks["config"], code = "not loaded", http.StatusServiceUnavailable
	}
	if err := d.store.Ping(ctx); err != nil {
		checks["store"], code = "unreachable", http.StatusServiceUnavailable
		d.log.Warn("readyz: store ping failed", "err", err)
	}
	body := map[string]any{"checks": checks}
	checks["store_writes"] = "ok"
	if kind, reason, since, ok := d.wh.check(ctx); !ok {
		checks["store_writes"], code = "failing: "+kind, http.StatusServiceUnavailable
		body["store_writes_error"] = reason
		body["store_writes_failing_since"] = since.UTC().Format(time.RFC3339)
	}
	body["status"] = "ready"
	if code != http.StatusOK {
		body["status"] = "not ready"
	}
	httpapi.WriteJSON(w, code, body)
}
