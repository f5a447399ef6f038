package acceptance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
	"github.com/jackc/pgx/v5"
)

// pgDSNEnv overrides the PostgreSQL server the replica tests use; its
// value is never printed.
const pgDSNEnv = "FINCONNECTD_TEST_POSTGRES_DSN"

// pgServerDSN is the test server: trust auth, database test.
func pgServerDSN() string {
	if v := os.Getenv(pgDSNEnv); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=5"
}

// pgRedact keeps the server DSN's password out of a message.
func pgRedact(msg string) string {
	if cfg, err := pgx.ParseConfig(pgServerDSN()); err == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}

// pgSchema creates a fresh, empty schema on the test server, dropped when
// the test ends (after every process the test starts later is killed), and
// returns a DSN whose search_path is that schema. It skips the test when
// the server is unreachable.
func pgSchema(t *testing.T) (dsn, schema string) {
	t.Helper()
	server := pgServerDSN()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Skipf("PostgreSQL test server not reachable (default 127.0.0.1:5432, database test, user postgres; or $%s): %s",
			pgDSNEnv, pgRedact(err.Error()))
	}
	defer conn.Close(ctx)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema = "fc_acc_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %s", schema, pgRedact(err.Error()))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop schema %s: %s", schema, pgRedact(err.Error()))
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %s", schema, pgRedact(err.Error()))
		}
	})
	if u, err := url.Parse(server); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), schema
	}
	return server + " search_path=" + schema, schema // keyword/value form
}

// newReplicas is one installation run as two replicas on one PostgreSQL
// schema: the same configuration (providers on one sandbox, routes to one
// verifying sink, the ipn at replica A's listener) in two directories
// that differ only in server.listen, public_url and api.listen. The
// sandbox sends ClickPesa webhooks to A and AzamPay callbacks to B.
func newReplicas(t *testing.T) (a, b *serveEnv, dsn string) {
	t.Helper()
	dsn, _ = pgSchema(t)
	a = newServeEnv(t, "@every 1h", false, nil)
	a.env = append(a.env, "ACC_PG_DSN="+dsn)
	a.stateHCL = "state {\n  backend = \"postgres\"\n  dsn     = env(\"ACC_PG_DSN\")\n}"
	a.ipnURL = "http://" + a.public + "/hooks/pesapal"
	// Both replicas reconcile every second, so their runs meet at the state lock.
	a.reconcileCron = "@every 1s"
	// Longer than a held delivery waits in TestReplicaKilledMidDelivery;
	// the lease stays 2 minutes.
	a.fwdTimeout = "30s"

	copyB := *a
	b = &copyB
	b.public, b.api, b.serve = testkit.FreeAddr(t), testkit.FreeAddr(t), nil
	b.cfgDir = filepath.Join(t.TempDir(), "config")
	if err := os.Mkdir(b.cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b.cfgFile = filepath.Join(b.cfgDir, "finconnect.hcl")
	for _, e := range []*serveEnv{a, b} {
		writeFile(t, e.cfgFile, e.config(`env("ACC_API_TOKEN")`))
	}
	a.sb.settings(t, map[string]any{
		"clickpesa-webhook": "http://" + a.public + "/hooks/clickpesa",
		"azampay-callback":  "http://" + b.public + "/hooks/azampay",
	})
	return a, b, dsn
}

// startReplica runs `finconnectd serve` for e under name and waits for
// /readyz.
func startReplica(t *testing.T, e *serveEnv, name string) {
	t.Helper()
	e.serve = startProc(t, name, e.env, "serve", "-config", e.cfgDir)
	e.serve.waitHTTP(t, "http://"+e.api+"/readyz", 30*time.Second)
}

// concurrentCLI runs several finconnectd commands at the same moment and
// returns their results in order (bounded; t.Fatal is only called here,
// on the test's goroutine).
func concurrentCLI(t *testing.T, env []string, argss ...[]string) []cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out := make([]cliResult, len(argss))
	errs := make([]error, len(argss))
	var wg sync.WaitGroup
	for i, args := range argss {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, testBinary(t), args...)
			cmd.Env = baseEnv(env)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			out[i] = cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
			if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
				out[i].code, err = ee.ExitCode(), nil
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("finconnectd %s: %v\n%s%s", strings.Join(argss[i], " "), err, out[i].stdout, out[i].stderr)
		}
	}
	return out
}

// metricSum adds up the samples of a counter in a replica's /metrics
// whose labels include every one of labels (`name="value"` each).
func (e *serveEnv) metricSum(name string, labels ...string) float64 {
	e.t.Helper()
	code, _, body := e.call(http.MethodGet, "/metrics", "", nil)
	if code != http.StatusOK {
		e.t.Fatalf("GET /metrics: %d", code)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			e.t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// replicaPayment is one payment a replica's pay API started.
type replicaPayment struct {
	p       payment
	path    string // the sink path of its route
	via     string // "A" or "B"
	hooksAt string // the replica the provider notifies
}

// TestTwoReplicasOnPostgres is the "several replicas on PostgreSQL"
// milestone end to end: two `finconnectd serve` processes with one
// configuration (but their own listeners) share one PostgreSQL schema.
// Both open the fresh schema at the same moment (migrations must not
// race); `apply` runs once; payments are started through both replicas'
// pay APIs, and the providers notify A (ClickPesa webhooks, PesaPal IPNs)
// or B (AzamPay callbacks). Every payment reaches the operator's endpoint
// as exactly one signed payment.succeeded, sent once by exactly one of
// the two delivery workers that share the outbox; either replica reads
// every payment and event; both reconcile every second under the one state
// lock without an error; `state list` and `plan` (No changes.) work
// through either configuration while both serve.
func TestTwoReplicasOnPostgres(t *testing.T) {
	t.Parallel()
	a, b, dsn := newReplicas(t)

	// The schema is empty: two processes open it at once, so both try to
	// migrate it. Both must succeed, and see the same (empty) state.
	for _, r := range concurrentCLI(t, a.env,
		[]string{"state", "list", "-config", a.cfgDir},
		[]string{"state", "list", "-config", b.cfgDir},
	) {
		if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
			t.Fatalf("state list on a fresh schema, two at once: want exit 0 and nothing listed, got\n%s", r)
		}
	}
	applyOut := a.apply()

	// Both replicas start at the same moment on the migrated schema.
	a.serve = startProc(t, "serve A", a.env, "serve", "-config", a.cfgDir)
	b.serve = startProc(t, "serve B", b.env, "serve", "-config", b.cfgDir)
	a.serve.waitHTTP(t, "http://"+a.api+"/readyz", 30*time.Second)
	b.serve.waitHTTP(t, "http://"+b.api+"/readyz", 30*time.Second)

	// Ten payments per provider, alternately through A's and B's pay API;
	// phones ending in 0: each succeeds and is notified once.
	replica := map[string]*serveEnv{"A": a, "B": b}
	other := map[string]string{"A": "B", "B": "A"}
	hooksAt := map[string]string{"pesapal": "A", "clickpesa": "A", "azampay": "B"}
	var paid []replicaPayment
	for i := range 10 {
		for _, c := range []struct{ kind, provider, ref, amount, currency, phone string }{
			{"pesapal", "pesapal.ke", fmt.Sprintf("REP-PP-%02d", i), "1500.00", "KES", "254712345670"},
			{"clickpesa", "clickpesa.tz", fmt.Sprintf("REPCP%02d", i), "1000", "TZS", "255712345670"},
			{"azampay", "azampay.tz", fmt.Sprintf("REP-AZ-%02d", i), "1000", "TZS", "255712345670"},
		} {
			via := []string{"A", "B"}[(i+len(paid))%2]
			p := replica[via].pay(c.provider, c.ref, c.amount, c.currency, c.phone)
			paid = append(paid, replicaPayment{p: p, path: "/" + c.kind, via: via, hooksAt: hooksAt[c.kind]})
		}
	}

	for _, w := range paid {
		eventually(t, 30*time.Second, fmt.Sprintf("%s (started through %s, notified to %s) at the sink", w.p.Reference, w.via, w.hooksAt),
			func() bool { return len(a.sink.accepted(w.p.Reference)) > 0 })
	}
	// Every delivery is recorded as delivered: no attempt is in flight or
	// due anywhere, so a second POST of an event would already have been
	// made (nothing is left to claim).
	eventually(t, 30*time.Second, "every delivery recorded as delivered", func() bool {
		ds := a.deliveries()
		if len(ds) < len(paid) {
			return false
		}
		for _, d := range ds {
			if d.Status != "delivered" {
				return false
			}
		}
		return true
	})

	// Each payment: one event, one webhook-id, one POST, verified, and
	// readable through the replica that did not start it.
	idOwner := map[string]string{}
	for _, w := range paid {
		got := a.sink.forRef(w.p.Reference)
		if len(got) != 1 {
			t.Errorf("%s: the sink got %d POSTs, want exactly 1 (one event, delivered once): %+v", w.p.Reference, len(got), got)
			continue
		}
		r := got[0]
		if r.VerifyErr != "" || r.Type != "payment.succeeded" || r.Path != w.path || r.Data.PaymentID != w.p.ID ||
			r.Data.Status != "succeeded" || r.Data.Provider != w.p.Provider || !strings.HasPrefix(r.WebhookID, "evt_") {
			t.Errorf("%s: the sink got %+v; want a verified payment.succeeded of %s at %s", w.p.Reference, r, w.p.ID, w.path)
		}
		if prev, dup := idOwner[r.WebhookID]; dup {
			t.Errorf("webhook-id %s was sent for %s and for %s", r.WebhookID, prev, w.p.Reference)
		}
		idOwner[r.WebhookID] = w.p.Reference

		o := replica[other[w.via]]
		if p := o.getPayment(w.p.ID); p.Status != "succeeded" {
			t.Errorf("%s: replica %s says %q, want succeeded", w.p.Reference, other[w.via], p.Status)
		}
		code, _, resp := o.call(http.MethodGet, "/v1/events/"+r.WebhookID, o.token, nil)
		var ev struct {
			PaymentID string `json:"payment_id"`
			Attempts  []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
			Deliveries []deliveryView `json:"deliveries"`
		}
		if code != http.StatusOK || json.Unmarshal(resp, &ev) != nil {
			t.Errorf("GET /v1/events/%s on %s: %d %s", r.WebhookID, other[w.via], code, resp)
			continue
		}
		if ev.PaymentID != w.p.ID || len(ev.Attempts) != 1 || len(ev.Deliveries) != 1 || ev.Deliveries[0].Status != "delivered" {
			t.Errorf("GET /v1/events/%s: %s; want one attempt and one delivered delivery of %s", r.WebhookID, resp, w.p.ID)
		}
	}
	if n := len(a.sink.all()); n != len(paid) {
		t.Errorf("the sink got %d POSTs for %d payments", n, len(paid))
	}
	a.sink.checkClean(t)

	// The replicas' own counts: together exactly one delivery per event.
	// A worker counts a delivery just after its attempt is committed (the
	// moment the API shows it delivered): under load the count can lag
	// behind what the test has read, so wait for it, then check it is
	// not more.
	var byA, byB float64
	eventually(t, 30*time.Second, fmt.Sprintf("the replicas to count %d delivered deliveries", len(paid)), func() bool {
		byA = a.metricSum("finconnectd_deliveries_total", `result="delivered"`)
		byB = b.metricSum("finconnectd_deliveries_total", `result="delivered"`)
		return int(byA+byB) >= len(paid)
	})
	t.Logf("deliveries: %v by A, %v by B", byA, byB)
	if int(byA+byB) != len(paid) {
		t.Errorf("the replicas count %v + %v delivered deliveries, want %d in all", byA, byB, len(paid))
	}

	// A replay written by the CLI (through B's configuration) is found by
	// both replicas' workers, each polling the store about once a second:
	// each event is sent exactly once more, under the same webhook-id.
	var ids []string
	for id := range idOwner {
		ids = append(ids, id)
	}
	if r := runCLI(t, b.env, append([]string{"events", "replay", "-config", b.cfgDir}, ids...)...); r.code != 0 {
		t.Fatalf("events replay through B's configuration:\n%s", r)
	}
	for _, w := range paid {
		eventually(t, 30*time.Second, w.p.Reference+" sent again after the replay", func() bool { return len(a.sink.accepted(w.p.Reference)) >= 2 })
	}
	var stuck []deliveryView
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range stuck {
				_, _, detail := a.call(http.MethodGet, "/v1/events/"+d.EventID, a.token, nil)
				t.Logf("not delivered after the replay: %+v\n%s", d, detail)
			}
		}
	})
	eventually(t, 30*time.Second, "every replayed delivery recorded as delivered", func() bool {
		stuck = stuck[:0]
		for _, d := range a.deliveries() {
			if d.Status != "delivered" {
				stuck = append(stuck, d)
			}
		}
		return len(stuck) == 0
	})

	// state list and plan through either configuration while both serve.
	// The replicas' reconcile runs hold the state lock now and then: wait.
	for _, e := range []*serveEnv{a, b} {
		r := runCLI(t, e.env, "state", "list", "-config", e.cfgDir)
		if r.code != 0 || !strings.Contains(r.stdout, "ipn.orders") || !strings.Contains(r.stdout, "key.azampay.tz") {
			t.Errorf("state list through %s: want ipn.orders and key.azampay.tz\n%s", e.cfgDir, r)
		}
	}
	r := runCLI(t, b.env, "plan", "-detailed-exitcode", "-lock-timeout", "30s", "-config", b.cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("plan through B's configuration while both serve: want exit 0 and No changes.\n%s", r)
	}

	// Both reconcile schedules run under the shared state lock: a run that
	// meets the other's lock is skipped, none fails.
	for name, e := range replica {
		eventually(t, 20*time.Second, "three reconcile runs on replica "+name, func() bool {
			return e.metricSum("finconnectd_reconcile_runs_total", `schedule="reconcile"`) >= 3
		})
	}
	for name, e := range replica {
		if n := e.metricSum("finconnectd_reconcile_runs_total", `outcome="error"`); n != 0 {
			t.Errorf("replica %s: %v reconcile runs failed", name, n)
		}
		t.Logf("replica %s: reconcile runs ok %v, skipped (locked) %v", name,
			e.metricSum("finconnectd_reconcile_runs_total", `schedule="reconcile"`, `outcome="ok"`),
			e.metricSum("finconnectd_reconcile_runs_total", `schedule="reconcile"`, `outcome="locked"`))
	}

	// Nothing arrived late: two POSTs per payment (the first delivery and
	// the replay), both under the event's one webhook-id.
	for _, w := range paid {
		got := a.sink.forRef(w.p.Reference)
		if len(got) != 2 || got[0].WebhookID != got[1].WebhookID || got[1].Answer/100 != 2 {
			t.Errorf("%s: the sink got %+v; want the event twice (delivered, replayed) under one webhook-id", w.p.Reference, got)
		}
	}
	if n := len(a.sink.all()); n != 2*len(paid) {
		t.Errorf("the sink got %d POSTs in the end for %d payments delivered and replayed once each", n, len(paid))
	}
	// Two replicas, one outcome: the same Idempotency-Key, or the same
	// reference, sent to both at once starts one payment.
	raceReplicas(t, a, b)
	noCanaries(t, append(append([]string(nil), a.canaries...), dsn), map[string]string{
		"apply output": applyOut, "serve A output": a.serve.output(), "serve B output": b.serve.output(),
	})
}

// TestReplicaKilledMidDelivery: replica A is killed (SIGKILL) while it is
// sending events, and nothing it acknowledged is lost. The sink holds
// every delivery unanswered, so with nine ClickPesa events (one route) and
// each replica sending at most 4 of a route's events at a time, A and B
// hold 4 each when A dies. B goes on: it delivers its own 4, the ninth,
// and AzamPay payments started while A is down. A's 4 stay leased to the
// dead process until A is restarted (as systemd would) and, seeing their
// owner is gone, releases them at start (not after the 2-minute lease):
// each of the nine is then accepted exactly once, under one webhook-id.
func TestReplicaKilledMidDelivery(t *testing.T) {
	t.Parallel()
	a, b, _ := newReplicas(t)
	a.apply()
	a.serve = startProc(t, "serve A", a.env, "serve", "-config", a.cfgDir)
	b.serve = startProc(t, "serve B", b.env, "serve", "-config", b.cfgDir)
	a.serve.waitHTTP(t, "http://"+a.api+"/readyz", 30*time.Second)
	b.serve.waitHTTP(t, "http://"+b.api+"/readyz", 30*time.Second)

	a.sink.hold()
	var held []payment
	for i := range 9 {
		held = append(held, []*serveEnv{a, b}[i%2].pay("clickpesa.tz", fmt.Sprintf("KILLCP%02d", i), "1000", "TZS", "255712345670"))
	}
	eventually(t, 30*time.Second, "8 deliveries held at the sink, 4 from each replica", func() bool { return a.sink.waiting() == 8 })
	for _, p := range held {
		eventually(t, 30*time.Second, p.Reference+" acknowledged (succeeded)", func() bool { return b.getPayment(p.ID).Status == "succeeded" })
	}
	if n := a.sink.waiting(); n != 8 {
		t.Fatalf("%d deliveries held at the sink before the kill, want 8 (4 per replica)", n)
	}

	a.serve.signal(t, syscall.SIGKILL)
	a.serve.waitExit(t, 10*time.Second)
	cut := func() []received {
		var out []received
		for _, r := range a.sink.all() {
			if r.Cut {
				out = append(out, r)
			}
		}
		return out
	}
	eventually(t, 10*time.Second, "A's held deliveries to be cut by the kill", func() bool { return len(cut()) == 4 })
	a.sink.release()

	// B carries on: its own 4 and the ninth, and payments whose
	// notifications go to B while A is down.
	var duringDown []payment
	for i := range 3 {
		duringDown = append(duringDown, b.pay("azampay.tz", fmt.Sprintf("KILL-AZ-%02d", i), "1000", "TZS", "255712345670"))
	}
	for _, p := range duringDown {
		eventually(t, 30*time.Second, p.Reference+" delivered by B while A is down", func() bool { return len(a.sink.accepted(p.Reference)) == 1 })
	}
	cutRefs := map[string]bool{}
	for _, r := range cut() {
		cutRefs[r.Data.Reference] = true
	}
	for _, p := range held {
		if !cutRefs[p.Reference] {
			eventually(t, 30*time.Second, p.Reference+" delivered by B", func() bool { return len(a.sink.accepted(p.Reference)) == 1 })
		}
	}

	// A restarts with the same configuration and releases the leases its
	// dead predecessor held: their deliveries go out now, not in 2 minutes.
	for ref := range cutRefs {
		if n := len(a.sink.accepted(ref)); n != 0 {
			t.Fatalf("%s was accepted %d times before A restarted; want 0 (leased to the killed A for 2 minutes)", ref, n)
		}
	}
	restarted := time.Now()
	a.serve = startProc(t, "serve A (restarted)", a.env, "serve", "-config", a.cfgDir)
	a.serve.waitHTTP(t, "http://"+a.api+"/readyz", 30*time.Second)
	for _, p := range held {
		eventually(t, 30*time.Second, p.Reference+" delivered after A restarted (its lease held by the killed A is 2 minutes; a restart on the same host should release it)",
			func() bool { return len(a.sink.accepted(p.Reference)) == 1 })
	}
	t.Logf("the killed replica's deliveries went out %s after its restart began", time.Since(restarted).Round(time.Millisecond))

	// Every acknowledged notification: one event, one webhook-id for all
	// its POSTs, accepted exactly once.
	eventually(t, 30*time.Second, "every delivery recorded as delivered", func() bool {
		ds := b.deliveries()
		for _, d := range ds {
			if d.Status != "delivered" {
				return false
			}
		}
		return len(ds) == len(held)+len(duringDown)
	})
	for _, p := range append(held, duringDown...) {
		posts := a.sink.forRef(p.Reference)
		if n := len(a.sink.accepted(p.Reference)); n != 1 {
			t.Errorf("%s accepted %d times, want 1: %+v", p.Reference, n, posts)
		}
		for _, r := range posts {
			if r.WebhookID != posts[0].WebhookID || r.Type != "payment.succeeded" || r.Data.PaymentID != p.ID {
				t.Errorf("%s: POSTs %+v; want one payment.succeeded of %s under one webhook-id", p.Reference, posts, p.ID)
				break
			}
		}
		if want := map[bool]int{true: 2, false: 1}[cutRefs[p.Reference]]; len(posts) != want {
			t.Errorf("%s: %d POSTs, want %d (cut by the kill: sent again once)", p.Reference, len(posts), want)
		}
	}
	a.sink.checkClean(t)
}

// answer is one pay API answer.
type answer struct {
	code int
	body []byte
	err  error
}

// postPayment is POST /v1/payments without t.Fatal, for goroutines.
func postPayment(ctx context.Context, e *serveEnv, body []byte, headers ...string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.api+"/v1/payments", bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: b, err: err}
}

// raceReplicas sends one payment to both replicas at the same moment,
// first with one Idempotency-Key, then with one reference and no key:
// one payment and one USSD push each time, and one event at the sink.
func raceReplicas(t *testing.T, a, b *serveEnv) {
	t.Helper()
	for _, c := range []struct {
		name, ref string
		headers   []string
	}{
		{"one Idempotency-Key", "RACEKEY1", []string{"Idempotency-Key", "race-key-1"}},
		{"one reference", "RACEREF1", nil},
	} {
		body := fmt.Appendf(nil, `{"provider":"clickpesa.tz","reference":%q,"amount":"1000","currency":"TZS","phone":"255712345670"}`, c.ref)
		var got [2]answer
		var wg sync.WaitGroup
		for i, e := range []*serveEnv{a, b} {
			wg.Go(func() { got[i] = postPayment(t.Context(), e, body, c.headers...) })
		}
		wg.Wait()
		t.Logf("%s sent to both replicas at once: A answered %d, B answered %d", c.name, got[0].code, got[1].code)
		created := 0
		for i, g := range got {
			if g.err != nil {
				t.Fatalf("%s, replica %s: %v", c.name, "AB"[i:i+1], g.err)
			}
			switch {
			case g.code == http.StatusCreated || g.code == http.StatusOK && c.headers != nil:
				created++
			case g.code == http.StatusConflict && c.headers != nil && strings.Contains(string(g.body), problemType+"idempotency-key-in-flight"):
			case g.code == http.StatusConflict && c.headers == nil && strings.Contains(string(g.body), problemType+"reference-in-use"):
			default:
				t.Errorf("%s sent to both replicas at once: replica %s answered %d %s", c.name, "AB"[i:i+1], g.code, g.body)
			}
		}
		if created == 2 && !bytes.Equal(got[0].body, got[1].body) {
			t.Errorf("%s: both replicas answered 2xx with different payments:\n%s\n%s", c.name, got[0].body, got[1].body)
		}
		if created == 0 {
			t.Errorf("%s sent to both replicas at once: neither started the payment (%d %s; %d %s)", c.name,
				got[0].code, got[0].body, got[1].code, got[1].body)
		}
		if n := a.pushes(c.ref); n != 1 {
			t.Errorf("%s sent to both replicas at once: %d USSD pushes, want 1", c.name, n)
		}
		eventually(t, 30*time.Second, c.ref+" at the sink", func() bool { return len(a.sink.accepted(c.ref)) > 0 })
	}
	for _, ref := range []string{"RACEKEY1", "RACEREF1"} {
		eventually(t, 30*time.Second, "every delivery recorded as delivered", func() bool {
			for _, d := range a.deliveries() {
				if d.Status != "delivered" {
					return false
				}
			}
			return true
		})
		if got := a.sink.forRef(ref); len(got) != 1 {
			t.Errorf("%s: the sink got %d POSTs, want 1: %+v", ref, len(got), got)
		}
	}
}

// TestReplicaInOwnPIDNamespaceKeepsLiveLeases: two replicas on machines
// (or containers) that report the same hostname but do not see each
// other's processes. Replica B starts while A is sending events; B must
// not take A's live leases for a crashed process's and send those events
// a second time. B runs in its own PID namespace (unshare), which is what
// a container, or a cloned VM that kept the image's hostname, looks like.
// (Lease owners carry procscope.Scope, the machine boot and PID namespace:
// B's differs from A's, so B never looks A's PID up.)
func TestReplicaInOwnPIDNamespaceKeepsLiveLeases(t *testing.T) {
	t.Parallel()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) to run a replica in its own PID namespace")
	}
	if out, err := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot create a PID namespace here (needs root or user namespaces): %v %s", err, out)
	}
	a, b, _ := newReplicas(t)
	a.apply()
	a.serve = startProc(t, "serve A", a.env, "serve", "-config", a.cfgDir)
	a.serve.waitHTTP(t, "http://"+a.api+"/readyz", 30*time.Second)

	// A holds 4 deliveries in flight (the sink does not answer yet).
	a.sink.hold()
	var held []payment
	for i := range 4 {
		held = append(held, a.pay("clickpesa.tz", fmt.Sprintf("NSCP%02d", i), "1000", "TZS", "255712345670"))
	}
	eventually(t, 30*time.Second, "A's 4 deliveries held at the sink", func() bool { return a.sink.waiting() == 4 })

	// B starts in its own PID namespace, on the same host name.
	bin := testBinary(t)
	b.serve = startProcCmd(t, "serve B (own PID namespace)", b.env,
		unshare, "--pid", "--fork", "--mount-proc", "--kill-child", bin, "serve", "-config", b.cfgDir)
	b.serve.waitHTTP(t, "http://"+b.api+"/readyz", 30*time.Second)

	// B's workers have claimed whatever was free (they claim at start and
	// then at least once a second). A second POST of a held event means
	// B took a live lease.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && a.sink.waiting() == 4 {
		time.Sleep(25 * time.Millisecond)
	}
	if n := a.sink.waiting(); n != 4 {
		t.Errorf("%d deliveries in flight after B started, want A's 4: B released A's live leases (A is alive, in another PID namespace with the same host name) and sent those events again", n)
	}
	a.sink.release()
	eventually(t, 30*time.Second, "every delivery recorded as delivered", func() bool {
		ds := a.deliveries()
		for _, d := range ds {
			if d.Status != "delivered" {
				return false
			}
		}
		return len(ds) == len(held)
	})
	for _, p := range held {
		if got := a.sink.forRef(p.Reference); len(got) != 1 {
			t.Errorf("%s: the sink got %d POSTs, want 1 (A's delivery only)", p.Reference, len(got))
		}
	}
}
