package loadbench

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DeliveryReport is the drain of a queued backlog.
type DeliveryReport struct {
	Queued    int
	Daemon    float64 // events per second, first to last arrival
	Forwarder float64 // the minimal SQLite outbox forwarder, same way
	Missing   int     // queued events that did not arrive within the wait
	// CPU time per delivered event: the daemon's from when it answered
	// /readyz to the last arrival, the forwarder's from "go" to its exit.
	// Unlike the rates, this hardly depends on how busy the machine is.
	DaemonCPU    time.Duration
	ForwarderCPU time.Duration
}

func (e *env) benchDelivery(ctx context.Context) (DeliveryReport, error) {
	n := e.o.drainCount
	rep := DeliveryReport{Queued: n}
	seeds, err := e.takeSeeds(ctx, n)
	if err != nil {
		return rep, err
	}
	refs := make([]string, n)
	for i, s := range seeds {
		refs[i] = s.ref
	}

	// Queue the backlog: the endpoint holds the first requests, so every
	// other event waits in the outbox, due; then the daemon is killed with
	// its few deliveries in flight and restarted, and the restarted daemon
	// finds the whole backlog due at once (it releases the leases of the
	// process it replaces).
	e.sink.hold()
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if send(ctx, e.client, request{method: http.MethodPost, url: "http://" + e.pubAddr + "/hooks/clickpesa",
					header: http.Header{"Content-Type": {"application/json"}}, body: e.webhook(seeds[i])}) != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return rep, fmt.Errorf("%d webhooks were not acknowledged while queueing", failed.Load())
	}
	deadline := time.Now().Add(time.Minute)
	for e.sink.held.Load() == 0 {
		if time.Now().After(deadline) {
			return rep, fmt.Errorf("no delivery reached the endpoint within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = e.daemon.cmd.Process.Kill()
	<-e.daemon.done
	e.sink.unhold()
	if err := e.startDaemon(ctx); err != nil {
		return rep, err
	}
	cpu0 := e.daemon.cpu()
	arr := e.sink.waitArrived(refs, 3*time.Minute)
	rep.Missing = n - len(arr)
	rep.Daemon = drainRate(arr)
	if len(arr) > 0 {
		rep.DaemonCPU = (e.daemon.cpu() - cpu0) / time.Duration(len(arr))
	}

	p, err := startProc(ctx, "forwarder", nil, e.o.Self, "baseline-forwarder",
		"-db", filepath.Join(e.dir, "forwarder.db"), "-url", e.sink.url("/forwarder"), "-n", strconv.Itoa(n), "-concurrency", strconv.Itoa(deliveryConcurrency))
	if err != nil {
		return rep, err
	}
	defer p.stop(5 * time.Second)
	if _, err := p.waitLine("ready", time.Minute); err != nil {
		return rep, err
	}
	if _, err := fmt.Fprintln(p.stdin, "go"); err != nil {
		return rep, err
	}
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		return rep, fmt.Errorf("forwarder did not finish within 3 minutes")
	}
	fwd := make([]string, n)
	for i := range fwd {
		fwd[i] = fmt.Sprintf("FWD-%d", i)
	}
	fa := e.sink.arrivals(fwd)
	rep.Forwarder = drainRate(fa)
	if len(fa) > 0 {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cpu "); ok {
				if d, err := time.ParseDuration(v); err == nil {
					rep.ForwarderCPU = d / time.Duration(len(fa))
				}
			}
		}
	}
	return rep, nil
}

// drainRate is arrivals per second from the first to the last.
func drainRate(arr map[string]time.Time) float64 {
	var first, last time.Time
	for _, t := range arr {
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	if len(arr) < 2 || !last.After(first) {
		return 0
	}
	return float64(len(arr)-1) / last.Sub(first).Seconds()
}
