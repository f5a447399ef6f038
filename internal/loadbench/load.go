package loadbench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// maxInFlight bounds the open-loop generator: a request that would exceed it
// is not sent and counts as an error, so an overloaded server cannot make
// the generator grow without bound either.
const maxInFlight = 8192

// Result is what one load step measured.
type Result struct {
	Offered  float64       // requests per second offered
	Sent     int           // requests sent
	OK       int           // answered with the expected status
	Errors   int           // any other answer, a transport error, or not sent
	Rejected int           // 503 answers (back pressure)
	Achieved float64       // OK answers per second of the step
	P50, P99 time.Duration // latency from the request's scheduled time
	Max      time.Duration
	// Again marks an ingest step run a second time at its rate, the
	// first having missed the latency target.
	Again bool
	// CPU is the CPU time the measured process used per answered
	// request (ingest steps; for finconnectd it includes delivering the
	// step's events), 0 when unknown.
	CPU time.Duration
	// Commits are finconnectd's store commits over the step, its events'
	// delivery included (from its /metrics; zero for the baselines).
	CommitP50, CommitP99 time.Duration
	WritesPerCommit      float64
}

// Good reports whether the step met the latency target with no errors.
func (r Result) Good(p99 time.Duration) bool {
	return r.Errors == 0 && r.Rejected == 0 && r.OK == r.Sent && r.P99 <= p99
}

// request is one prepared request of a load step.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte
	// done is called with the time the answer was complete (or zero on
	// error), for per-request bookkeeping such as ack times.
	done func(at time.Time, status int)
}

// openLoop sends reqs at rate per second, each at its scheduled time
// whatever the earlier ones are doing (no coordinated omission: latency
// counts from the scheduled time), and waits for every answer.
func openLoop(ctx context.Context, client *http.Client, reqs []request, rate float64, want int) Result {
	res := Result{Offered: rate}
	if len(reqs) == 0 {
		return res
	}
	var (
		wg       sync.WaitGroup
		inFlight atomic.Int64
		mu       sync.Mutex
		lats     = make([]time.Duration, 0, len(reqs))
		ok, errs int
		rejected int
	)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var lastDone atomic.Int64
	for i, rq := range reqs {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				res.Errors += len(reqs) - i
				goto wait
			case <-time.After(d):
			}
		}
		res.Sent++
		if inFlight.Load() >= maxInFlight {
			mu.Lock()
			errs++
			mu.Unlock()
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func(rq request, at time.Time) {
			defer wg.Done()
			defer inFlight.Add(-1)
			status := send(ctx, client, rq)
			now := time.Now()
			lastDone.Store(now.UnixNano())
			if rq.done != nil {
				rq.done(now, status)
			}
			mu.Lock()
			defer mu.Unlock()
			switch status {
			case want:
				ok++
				lats = append(lats, now.Sub(at))
			case http.StatusServiceUnavailable:
				rejected++
			default:
				errs++
			}
		}(rq, at)
	}
wait:
	wg.Wait()
	res.OK, res.Errors, res.Rejected = ok, res.Errors+errs, rejected
	elapsed := time.Duration(lastDone.Load() - start.UnixNano())
	if elapsed > 0 {
		res.Achieved = float64(ok) / elapsed.Seconds()
	}
	res.P50, res.P99, res.Max = percentiles(lats)
	return res
}

// send does one request and returns its status, or 0 on a transport error.
func send(ctx context.Context, client *http.Client, rq request) int {
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, bytes.NewReader(rq.body))
	if err != nil {
		return 0
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// percentiles returns p50, p99 and max of d (sorted in place).
func percentiles(d []time.Duration) (p50, p99, maxd time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1]
}

// closedLoop runs workers clients, each sending its next request as soon as
// the previous one is answered, for d, and returns the throughput and the
// latency of successful calls. call returns whether the call succeeded.
func closedLoop(ctx context.Context, workers int, d time.Duration, call func(ctx context.Context, worker, i int) bool) (perSec float64, p50, p99 time.Duration, failed int) {
	var (
		mu    sync.Mutex
		lats  []time.Duration
		fails int
		wg    sync.WaitGroup
		count atomic.Int64
	)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				good := call(context.WithoutCancel(ctx), w, i)
				lat := time.Since(t0)
				mu.Lock()
				if good {
					lats = append(lats, lat)
					count.Add(1)
				} else {
					fails++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	p50, p99, _ = percentiles(lats)
	return float64(count.Load()) / elapsed.Seconds(), p50, p99, fails
}

// newClient is an HTTP client for load: many idle connections, bounded
// timeouts.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}
