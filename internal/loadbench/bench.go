// Package loadbench measures finconnectd as a provider and a shop's app see
// it: over HTTP, from a separate process, open loop, against baselines run
// the same way in the same run (a minimal SQLite receiver with and without
// group commit, a minimal SQLite outbox forwarder, a direct provider client
// and a client that fetches a token for every payment). It prints each
// figure beside its baseline and the ratios the performance goals are
// stated in.
//
// It starts its own emulator, daemon and baselines on loopback ports and
// removes everything it wrote when it ends. It is a measuring tool, not a
// test: it asserts nothing about speed.
package loadbench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Main runs the command: the bench itself, or one of the baselines it
// starts as child processes.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "baseline-receiver":
		err = runReceiver(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "baseline-forwarder":
		err = runForwarder(ctx, args[1:], stdin, stdout, stderr)
	default:
		var o Options
		o, err = parseOptions(args, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err == nil {
			var rep Report
			rep, err = Run(ctx, o, stderr)
			if err == nil {
				if o.JSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					err = enc.Encode(rep)
				} else {
					rep.Print(stdout)
				}
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "finconnectd-bench:", err)
		return 1
	}
	return 0
}

// Options configure a run.
type Options struct {
	Binary string // finconnectd binary
	Self   string // this program, for the baselines
	Quick  bool   // short steps: checks the tool works, measures little
	JSON   bool
	Only   map[string]bool // ingest, delivery, pay; empty = all
	// Rates replaces the ingest sweep's rates when set; with it, only
	// finconnectd is swept unless Baselines (to look at one rate closely).
	Rates     []float64
	Baselines bool

	// Derived from Quick.
	step       time.Duration // one open-loop ingest step
	rates      []float64     // ingest rates tried, in order
	payFor     time.Duration // each 32-client pay round
	paySerial  int           // one-client payments per side
	drainCount int           // queued events for the drain
}

const usage = `Usage: finconnectd-bench [-bin PATH] [-quick] [-json] [-only ingest,delivery,pay] [-rates R,... [-baselines]]

Measures finconnectd from outside, against baselines in the same run:
  ingest    signed ClickPesa webhooks, open loop, rising rates: the highest
            rate with p99 <= 50 ms and no error, for finconnectd and for a
            minimal SQLite receiver (per-request commit and group commit);
            a rate missed is tried once more, after the others' steps;
            ack -> delivered latency at that rate; memory under overload
  delivery  5,000 queued events drained to a local 2xx endpoint, against a
            minimal SQLite outbox forwarder (both 32 POSTs in flight: the
            daemon's route sets forward.concurrency = 32)
  pay       POST /v1/payments against the emulator at 50 ms latency: one
            client (overhead over a direct client call, and over the same
            call between two SQLite commits) and 32 clients
            (payments/s against a direct client and against a client that
            fetches a token for every payment)

Every process listens on 127.0.0.1. Takes about 5 minutes (-quick: ~20 s).
To look at some ingest rates closely: -only ingest -rates 500,2000,3000 (the
first rate warms the daemon up; add -baselines to measure the receivers too).

Flags:
`

func parseOptions(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("finconnectd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Binary, "bin", "bin/finconnectd", "the finconnectd `binary` to measure")
	fs.BoolVar(&o.Quick, "quick", false, "short steps (checks the tool; the figures mean little)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	only := fs.String("only", "", "comma-separated `parts` to run: ingest, delivery, pay (default all)")
	rates := fs.String("rates", "", "comma-separated ingest `rates` per second to try instead of the sweep's; only finconnectd is measured unless -baselines")
	fs.BoolVar(&o.Baselines, "baselines", false, "with -rates, measure the baseline receivers too")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Only = map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case "ingest", "delivery", "pay":
			o.Only[p] = true
		default:
			return o, fmt.Errorf("-only: unknown part %q (ingest, delivery, pay)", p)
		}
	}
	for _, r := range strings.Split(*rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 || v > 100000 {
			return o, fmt.Errorf("-rates: %q is not a rate per second (1 to 100000)", r)
		}
		o.Rates = append(o.Rates, v)
	}
	self, err := os.Executable()
	if err != nil {
		return o, fmt.Errorf("find this program: %w", err)
	}
	o.Self = self
	return o, nil
}

func (o *Options) derive() {
	if o.Quick {
		o.step, o.rates, o.payFor, o.paySerial, o.drainCount = time.Second, []float64{100, 200}, time.Second, 10, 200
		return
	}
	o.step = 5 * time.Second
	o.rates = []float64{250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000}
	if len(o.Rates) > 0 {
		o.rates = o.Rates
	}
	o.payFor, o.paySerial, o.drainCount = 8*time.Second, 200, 5000
}

func (o Options) runs(part string) bool { return len(o.Only) == 0 || o.Only[part] }

// env is one run's processes and secrets.
type env struct {
	o       Options
	log     io.Writer
	dir     string
	token   string
	cpKey   string // ClickPesa checksum key
	cpID    string
	cpAPI   string
	sbAddr  string
	pubAddr string
	apiAddr string
	sb      *proc
	daemon  *proc
	sink    *sink
	client  *http.Client

	mu    sync.Mutex
	seeds []seed // payments created and not yet notified
	seq   int
}

// seed is a pending payment a webhook can settle.
type seed struct{ ref, providerRef string }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run measures what o asks for and returns the report.
func Run(ctx context.Context, o Options, log io.Writer) (Report, error) {
	o.derive()
	rep := Report{Quick: o.Quick, Started: time.Now().UTC()}
	dir, err := os.MkdirTemp("", "finconnectd-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	e := &env{o: o, log: log, dir: dir, token: "bench-" + randHex(16), cpKey: randHex(16), cpID: "bench-client", cpAPI: "bench-key",
		client: newClient(10 * time.Second)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := e.start(ctx); err != nil {
		return rep, err
	}
	defer e.stop()
	if o.runs("pay") {
		fmt.Fprintln(log, "pay API ...")
		if rep.Pay, err = e.benchPay(ctx); err != nil {
			return rep, fmt.Errorf("pay: %w", err)
		}
	}
	if o.runs("ingest") {
		fmt.Fprintln(log, "ingest ...")
		if rep.Ingest, err = e.benchIngest(ctx); err != nil {
			return rep, fmt.Errorf("ingest: %w", err)
		}
	}
	if o.runs("delivery") {
		fmt.Fprintln(log, "delivery ...")
		if rep.Delivery, err = e.benchDelivery(ctx); err != nil {
			return rep, fmt.Errorf("delivery: %w", err)
		}
	}
	return rep, nil
}

// start runs the emulator, the sink and the daemon.
func (e *env) start(ctx context.Context) error {
	var err error
	if e.sink, err = newSink(); err != nil {
		return err
	}
	if e.sbAddr, err = freeAddr(); err != nil {
		return err
	}
	// The customer never answers within the run: payments stay pending
	// until the bench's own webhooks settle them.
	e.sb, err = startProc(ctx, "sandbox", []string{"FINCONNECT_SANDBOX_CLICKPESA_CHECKSUM_KEY=" + e.cpKey}, e.o.Binary,
		"sandbox", "-listen", e.sbAddr, "-delay", "24h")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+e.sbAddr+"/_sandbox/settings", 20*time.Second); err != nil {
		return fmt.Errorf("sandbox: %w\n%s", err, tail(e.sb.out.String(), 20))
	}
	if e.pubAddr, err = freeAddr(); err != nil {
		return err
	}
	if e.apiAddr, err = freeAddr(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.dir, "bench.hcl"), []byte(e.config()), 0o600); err != nil {
		return err
	}
	return e.startDaemon(ctx)
}

func (e *env) startDaemon(ctx context.Context) error {
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte(randHex(16)))
	var err error
	e.daemon, err = startProc(ctx, "serve", []string{
		"BENCH_TOKEN=" + e.token, "BENCH_CP_CLIENT=" + e.cpID, "BENCH_CP_KEY=" + e.cpAPI,
		"BENCH_CP_CHECKSUM=" + e.cpKey, "BENCH_WHSEC=" + whsec, "NOTIFY_SOCKET=", "WATCHDOG_USEC=",
	}, e.o.Binary, "serve", "-config", filepath.Join(e.dir, "bench.hcl"))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+e.apiAddr+"/readyz", 30*time.Second); err != nil {
		return fmt.Errorf("daemon: %w\n%s", err, tail(e.daemon.out.String(), 30))
	}
	return nil
}

func (e *env) stop() {
	if e.daemon != nil {
		e.daemon.stop(15 * time.Second)
	}
	if e.sb != nil {
		e.sb.stop(5 * time.Second)
	}
	if e.sink != nil {
		e.sink.close()
	}
}

// deliveryConcurrency is the POSTs in flight of the daemon's route (its
// forward.concurrency, set as an operator expecting thousands of events a
// second would: the default 16 falls behind at 3,000/s here) and the
// minimal forwarder's workers: both deliver the same way.
const deliveryConcurrency = 32

// config is the daemon's configuration: one ClickPesa provider at the
// emulator, its webhook route forwarding to the sink, schedules that do not
// run during the bench.
func (e *env) config() string {
	return fmt.Sprintf(`state {
  path = %q
}

server {
  listen     = %q
  public_url = %q
}

api {
  listen = %q
  tokens = [env("BENCH_TOKEN")]
}

provider "clickpesa" "tz" {
  environment  = "sandbox"
  client_id    = env("BENCH_CP_CLIENT")
  api_key      = env("BENCH_CP_KEY")
  checksum_key = env("BENCH_CP_CHECKSUM")
  base_url     = %q
}

route "clickpesa" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"

  forward {
    url         = %q
    secret      = env("BENCH_WHSEC")
    timeout     = "10s"
    concurrency = %d
  }
}

schedule "reconcile" {
  cron = "@every 24h"
}

schedule "refresh_keys" {
  cron = "@every 24h"
}

schedule "sync_payments" {
  cron = "@every 24h"
}
`, filepath.Join(e.dir, "finconnect.db"), e.pubAddr, "http://"+e.pubAddr, e.apiAddr,
		"http://"+e.sbAddr+"/clickpesa", e.sink.url("/events"), deliveryConcurrency)
}

// sandboxSettings changes the emulator's settings.
func (e *env) sandboxSettings(ctx context.Context, settings map[string]any) error {
	b, _ := json.Marshal(settings)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.sbAddr+"/_sandbox/settings", strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sandbox settings: %s", resp.Status)
	}
	return nil
}
