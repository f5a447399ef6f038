package loadbench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// PayReport is the pay API against a direct client.
type PayReport struct {
	// One client, emulator latency 50 ms.
	SerialDaemonP50, SerialDaemonP99 time.Duration
	SerialDirectP50, SerialDirectP99 time.Duration
	OverheadP50, OverheadP99         time.Duration
	// The direct call between two SQLite commits (the payment written
	// before, the provider's answer after, as the daemon does), and the
	// daemon's overhead over it: what the API adds beyond the durability
	// the daemon owes anyway.
	SerialDurableP50, SerialDurableP99     time.Duration
	DurableOverheadP50, DurableOverheadP99 time.Duration
	// 32 clients, emulator latency 50 ms: payments per second (median of rounds).
	Daemon, DaemonIdempotent, Direct, TokenPerPayment float64
	// DurableDirect is the direct client between two commits (as
	// SerialDurable), 32 of them sharing commits: what the durability
	// alone leaves of the direct client's rate.
	DurableDirect float64
	Failed        int
	// The daemon's CPU time (user and system) per payment over the
	// 32-client rounds, without and with Idempotency-Key: on a shared
	// machine it moves less with the load than the rates do.
	DaemonCPU, DaemonIdempotentCPU time.Duration
	// The daemon's store commits over the same rounds (from its /metrics):
	// how long they took, estimated from the histogram's buckets, and how
	// many writes each carried. A payment waits for two of them.
	CommitP50, CommitP99 time.Duration
	WritesPerCommit      float64
	// The same of the direct client between two commits (DurableDirect).
	DurableCommitP50, DurableCommitP99 time.Duration
	DurableWritesPerCommit             float64
}

// payPhone ends in 0 (the emulated customer would pay), but the emulator's
// customer answers only after a day, so payments stay pending.
const payPhone = "255712345670"

func (e *env) nextRef() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	return fmt.Sprintf("BENCH%s%07d", e.token[6:12], e.seq)
}

// createPayment is POST /v1/payments; with key, an Idempotency-Key.
func (e *env) createPayment(ctx context.Context, ref string, key bool) (seed, error) {
	body, _ := json.Marshal(map[string]any{
		"provider": "clickpesa.tz", "reference": ref, "amount": "1000", "currency": "TZS", "phone": payPhone,
		"description": "bench " + ref,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.apiAddr+"/v1/payments", bytes.NewReader(body))
	if err != nil {
		return seed{}, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	if key {
		req.Header.Set("Idempotency-Key", "idem-"+ref)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return seed{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return seed{}, fmt.Errorf("POST /v1/payments %s: %s: %s", ref, resp.Status, b)
	}
	var p struct {
		Reference         string `json:"reference"`
		ProviderReference string `json:"provider_reference"`
		Status            string `json:"status"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return seed{}, fmt.Errorf("decode payment: %w", err)
	}
	return seed{ref: ref, providerRef: p.ProviderReference}, nil
}

// addSeed keeps a created payment for the ingest bench.
func (e *env) addSeed(s seed) {
	e.mu.Lock()
	e.seeds = append(e.seeds, s)
	e.mu.Unlock()
}

// takeSeeds returns n pending payments, creating more through the pay API
// (32 clients) when there are not enough.
func (e *env) takeSeeds(ctx context.Context, n int) ([]seed, error) {
	e.mu.Lock()
	have := len(e.seeds)
	e.mu.Unlock()
	if have < n {
		need := n - have
		errc := make(chan error, 32)
		work := make(chan struct{}, need)
		for range need {
			work <- struct{}{}
		}
		close(work)
		for range 32 {
			go func() {
				for range work {
					s, err := e.createPayment(ctx, e.nextRef(), false)
					if err != nil {
						errc <- err
						return
					}
					e.addSeed(s)
				}
				errc <- nil
			}()
		}
		for range 32 {
			if err := <-errc; err != nil {
				return nil, err
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]seed(nil), e.seeds[:n]...)
	e.seeds = e.seeds[n:]
	return out, nil
}

func (e *env) directClient() (*clickpesa.Client, error) {
	return clickpesa.New(clickpesa.Options{
		BaseURL: "http://" + e.sbAddr + "/clickpesa", ClientID: secret.New(e.cpID), APIKey: secret.New(e.cpAPI),
		ChecksumKey: secret.New(e.cpKey),
	})
}

func directPay(ctx context.Context, c *clickpesa.Client, ref string) error {
	_, err := c.InitiatePayment(ctx, payRequest(ref))
	return err
}

// payRequest is the payment every direct client of the bench starts.
func payRequest(ref string) providers.PaymentRequest {
	return providers.PaymentRequest{Reference: ref, Amount: "1000", Currency: "TZS", Phone: payPhone, Description: "bench " + ref}
}

func (e *env) benchPay(ctx context.Context) (PayReport, error) {
	var r PayReport
	direct, err := e.directClient()
	if err != nil {
		return r, err
	}
	// Warm both sides (token, connections).
	if err := directPay(ctx, direct, e.nextRef()); err != nil {
		return r, fmt.Errorf("direct client: %w", err)
	}
	if _, err := e.createPayment(ctx, e.nextRef(), false); err != nil {
		return r, err
	}

	// One client, 50 ms at the provider: calls interleaved so both sides
	// see the same machine.
	if err := e.sandboxSettings(ctx, map[string]any{"latency": "50ms"}); err != nil {
		return r, err
	}
	durable, err := newDurablePayer(filepath.Join(e.dir, "durable-client.db"), direct)
	if err != nil {
		return r, err
	}
	defer durable.close()
	var dl, cl, ul []time.Duration
	for range e.o.paySerial {
		t0 := time.Now()
		if err := directPay(ctx, direct, e.nextRef()); err != nil {
			return r, fmt.Errorf("direct client: %w", err)
		}
		cl = append(cl, time.Since(t0))
		t0 = time.Now()
		if err := durable.pay(ctx, e.nextRef()); err != nil {
			return r, fmt.Errorf("direct client with commits: %w", err)
		}
		ul = append(ul, time.Since(t0))
		t0 = time.Now()
		s, err := e.createPayment(ctx, e.nextRef(), false)
		if err != nil {
			return r, err
		}
		dl = append(dl, time.Since(t0))
		e.addSeed(s)
	}
	r.SerialDaemonP50, r.SerialDaemonP99, _ = percentiles(dl)
	r.SerialDirectP50, r.SerialDirectP99, _ = percentiles(cl)
	r.OverheadP50, r.OverheadP99 = r.SerialDaemonP50-r.SerialDirectP50, r.SerialDaemonP99-r.SerialDirectP99
	r.SerialDurableP50, r.SerialDurableP99, _ = percentiles(ul)
	r.DurableOverheadP50, r.DurableOverheadP99 = r.SerialDaemonP50-r.SerialDurableP50, r.SerialDaemonP99-r.SerialDurableP99

	// 32 clients, still 50 ms at the provider, rounds interleaved.
	rounds := 3
	if e.o.Quick {
		rounds = 1
	}
	var (
		dir, sdk, dur []float64
		durCommits    []time.Duration
		durWrites     int
		commits       commitStats
	)
	// daemonRounds are the daemon's rounds, without or with a key.
	type daemonRounds struct {
		key   bool
		rates []float64
		cpu   time.Duration // the daemon's, over the rounds
		paid  atomic.Int64
	}
	plain, keyed := &daemonRounds{}, &daemonRounds{key: true}
	// daemonRound runs one round of rs and adds its CPU and commits.
	daemonRound := func(rs *daemonRounds) error {
		before, err := e.readCommits(ctx)
		if err != nil {
			return err
		}
		cpu0 := e.daemon.cpu()
		rate, _, _, failed := closedLoop(ctx, 32, e.o.payFor, func(ctx context.Context, _, _ int) bool {
			s, err := e.createPayment(ctx, e.nextRef(), rs.key)
			if err == nil {
				e.addSeed(s)
				rs.paid.Add(1)
			}
			return err == nil
		})
		rs.cpu += e.daemon.cpu() - cpu0
		rs.rates, r.Failed = append(rs.rates, rate), r.Failed+failed
		after, err := e.readCommits(ctx)
		if err != nil {
			return err
		}
		commits = commits.plus(after.minus(before))
		return nil
	}
	// baseline runs a 32-client round of call and keeps its rate in rates.
	baseline := func(rates *[]float64, call func(ctx context.Context) bool) {
		rate, _, _, failed := closedLoop(ctx, 32, e.o.payFor, func(ctx context.Context, _, _ int) bool { return call(ctx) })
		*rates, r.Failed = append(*rates, rate), r.Failed+failed
	}
	// The five targets of a round, each round starting one further along,
	// so that no target always runs right after the same other one.
	targets := []func() error{
		func() error { return daemonRound(plain) },
		func() error { return daemonRound(keyed) },
		func() error {
			baseline(&dir, func(ctx context.Context) bool { return directPay(ctx, direct, e.nextRef()) == nil })
			return nil
		},
		func() error {
			// The direct client between two commits, as the daemon's
			// durability needs, its writes sharing commits as the daemon's do.
			durable.takeCommits()
			baseline(&dur, func(ctx context.Context) bool { return durable.pay(ctx, e.nextRef()) == nil })
			c, n := durable.takeCommits()
			durCommits, durWrites = append(durCommits, c...), durWrites+n
			return nil
		},
		func() error {
			// What a client without a token cache does: a token for every payment.
			baseline(&sdk, func(ctx context.Context) bool {
				c, err := e.directClient()
				return err == nil && directPay(ctx, c, e.nextRef()) == nil
			})
			return nil
		},
	}
	for round := range rounds {
		for i := range targets {
			if err := targets[(round+i)%len(targets)](); err != nil {
				return r, err
			}
		}
	}
	r.Daemon, r.DaemonIdempotent, r.Direct, r.TokenPerPayment = median(plain.rates), median(keyed.rates), median(dir), median(sdk)
	r.DurableDirect = median(dur)
	r.DurableCommitP50, r.DurableCommitP99, _ = percentiles(durCommits)
	if len(durCommits) > 0 {
		r.DurableWritesPerCommit = float64(durWrites) / float64(len(durCommits))
	}
	if n := plain.paid.Load(); n > 0 {
		r.DaemonCPU = plain.cpu / time.Duration(n)
	}
	if n := keyed.paid.Load(); n > 0 {
		r.DaemonIdempotentCPU = keyed.cpu / time.Duration(n)
	}
	r.CommitP50, r.CommitP99, r.WritesPerCommit = commits.quantile(0.5), commits.quantile(0.99), commits.perCommit()
	return r, e.sandboxSettings(ctx, map[string]any{"latency": "0s"})
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// durablePayer is the direct client with the daemon's durability: the
// payment is committed (SQLite, WAL, synchronous=FULL, as the daemon's
// store) before the provider is called, and the provider's answer after.
// Its writes go through one writer that commits whatever writes are
// waiting together, as the daemon's store does: one client commits each
// write alone, 32 clients share their commits.
type durablePayer struct {
	db     *sql.DB
	client *clickpesa.Client
	g      *groupWriter[durableWrite]
	stop   context.CancelFunc

	mu      sync.Mutex
	commits []time.Duration // each commit's duration, since takeCommits
	wrote   int             // writes committed, since takeCommits
}

// durableWrite is one statement for the writer.
type durableWrite struct {
	query string
	args  []any
}

func newDurablePayer(path string, c *clickpesa.Client) (*durablePayer, error) {
	db, err := openBaselineDB(path)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS payments (reference TEXT PRIMARY KEY, status TEXT NOT NULL, provider_reference TEXT, created_at INTEGER NOT NULL)"); err != nil {
		db.Close()
		return nil, fmt.Errorf("create payments: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	d := &durablePayer{db: db, client: c, stop: stop}
	d.g = newGroupWriter(d.commit)
	go d.g.run(ctx)
	return d, nil
}

func (d *durablePayer) pay(ctx context.Context, ref string) error {
	if err := d.g.submit(ctx, durableWrite{"INSERT INTO payments (reference, status, created_at) VALUES (?, 'pending', ?)", []any{ref, time.Now().UnixNano()}}); err != nil {
		return fmt.Errorf("record payment: %w", err)
	}
	res, err := d.client.InitiatePayment(ctx, payRequest(ref))
	if err != nil {
		return err
	}
	if err := d.g.submit(ctx, durableWrite{"UPDATE payments SET provider_reference = ? WHERE reference = ?", []any{res.ProviderReference, ref}}); err != nil {
		return fmt.Errorf("record answer: %w", err)
	}
	return nil
}

// commit runs batch in one transaction (a failure fails the whole batch:
// the baseline's statements do not fail) and records how long the COMMIT
// took, as the daemon's store reports it.
func (d *durablePayer) commit(batch []durableWrite) error {
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	for _, w := range batch {
		if _, err := tx.Exec(w.query, w.args...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	start := time.Now()
	if err := tx.Commit(); err != nil {
		return err
	}
	took := time.Since(start)
	d.mu.Lock()
	d.commits, d.wrote = append(d.commits, took), d.wrote+len(batch)
	d.mu.Unlock()
	return nil
}

// takeCommits returns the durations of the commits since the last call
// and the writes they carried, and starts counting again.
func (d *durablePayer) takeCommits() ([]time.Duration, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, n := d.commits, d.wrote
	d.commits, d.wrote = nil, 0
	return c, n
}

func (d *durablePayer) close() {
	d.stop()
	<-d.g.stopped
	_ = d.db.Close()
}
