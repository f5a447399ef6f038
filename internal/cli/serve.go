package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/daemon"
	"github.com/finconnectd/finconnectd/internal/devmode"
	"github.com/finconnectd/finconnectd/internal/state"
)

// serveArgs are serve's flags.
type serveArgs struct {
	Config   string
	Dev      bool
	Emulator string // -dev: the emulator's listen address
	Debug    bool
}

// parseServeArgs parses serve's flags without running anything.
func parseServeArgs(args []string, stderr io.Writer) (serveArgs, error) {
	var a serveArgs
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.Config, "config", "", "configuration file or directory (default $FINCONNECT_CONFIG, else the working directory)")
	fs.BoolVar(&a.Dev, "dev", false, "run against the built-in provider emulator with a temporary state and a dev configuration")
	fs.StringVar(&a.Emulator, "emulator-listen", "", "with -dev: the emulator's `host:port` (default "+devmode.DefaultEmulatorAddr+", or a free port when that is taken)")
	fs.BoolVar(&a.Debug, "debug", false, "log at debug level")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: finconnectd serve [-config PATH] [-debug]
       finconnectd serve -dev [-emulator-listen host:port] [-debug]

Run the daemon: the webhook listener (server.listen), the API listener
(api.listen: pay API, events, /healthz, /readyz, /metrics), event delivery
and the reconcile, refresh_keys and sync_payments schedules.

SIGHUP reloads the configuration (kept as is when the new one is invalid);
SIGTERM or SIGINT drain and stop. Under systemd (Type=notify) it reports
READY=1, STOPPING=1 and watchdog pings.

With -dev it needs no configuration: it starts the provider emulator
(http://`+devmode.DefaultEmulatorAddr+`), an event sink that verifies and
prints every event, and the daemon on a temporary store, and prints the
API token, an export line for the shell and curl commands to try.
'finconnectd payments list -dev' and 'finconnectd events list -dev' read
its store while it runs.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  finconnectd serve -dev
  finconnectd serve -dev -emulator-listen 127.0.0.1:19999
  finconnectd serve -config /etc/finconnectd/finconnectd.hcl
  FINCONNECT_CONFIG=/etc/finconnectd finconnectd serve -debug
  kill -HUP "$(pidof finconnectd)"      # reload the configuration
`)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if a.Dev && a.Config != "" {
		return a, errors.New("-dev uses its own configuration; drop -config")
	}
	if a.Emulator != "" && !a.Dev {
		return a, errors.New("-emulator-listen goes with -dev")
	}
	return a, nil
}

// runServe runs the daemon until ctx ends (SIGTERM/SIGINT).
func runServe(ctx context.Context, io IO, args []string) int {
	return serveWith(ctx, io, args, openStore)
}

func serveWith(ctx context.Context, io IO, args []string, open storeOpener) int {
	a, err := parseServeArgs(args, io.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintln(io.Stderr, "Error:", err)
		return ExitError
	}
	level := slog.LevelInfo
	if a.Debug {
		level = slog.LevelDebug
	}
	log := daemon.NewLogger(io.Stderr, io.StderrIsTerminal, io.LookupEnv, level)

	o := daemon.Options{
		Logger:    log,
		Stdout:    io.Stdout,
		LookupEnv: io.LookupEnv,
		OpenStore: func(ctx context.Context, cfg *config.Config, log *slog.Logger) (state.Store, error) {
			sio := io
			sio.StoreLog = log // the store's warnings in the daemon's format
			return open(ctx, sio, cfg)
		},
	}
	var dev *devmode.Env
	if a.Dev {
		dev, err = devmode.Start(ctx, devmode.Options{Logger: log, Stdout: io.Stdout,
			EmulatorAddr: a.Emulator, RecordFile: devmode.RecordFile(io.LookupEnv)})
		if err != nil {
			fmt.Fprintln(io.Stderr, "Error:", err)
			return ExitError
		}
		o.Config, o.Banner, o.ApplyAtStart = dev.Config, dev.Banner(), true
	} else {
		cfg := loadConfig(io, a.Config)
		if cfg == nil {
			return ExitError
		}
		o.Config = cfg
		o.Reload = func() (*config.Config, error) {
			l := newLoader(io)
			cfg, diags := l.Load(configPath(io, a.Config))
			if diags.HasErrors() {
				var b bytes.Buffer
				_ = l.WriteDiagnostics(&b, diags, diagWidth, false)
				return nil, errors.New(b.String())
			}
			return cfg, nil
		}
	}
	d, err := daemon.New(o)
	if err == nil {
		err = d.Run(ctx, io.Reload)
	}
	if dev != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if cerr := dev.Close(cctx); cerr != nil {
			log.Warn("dev mode cleanup", "err", cerr)
		}
		cancel()
	}
	if err != nil {
		fmt.Fprintln(io.Stderr, "Error:", err)
		return ExitError
	}
	return ExitOK
}
