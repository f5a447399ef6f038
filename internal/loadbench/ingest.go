package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
)

// ingestTarget is the p99 an ingest rate must keep to count.
const ingestTarget = 50 * time.Millisecond

// IngestReport is the open-loop webhook sweep.
type IngestReport struct {
	Steps map[string][]Result // by target: finconnectd, receiver, group-commit
	// Best is the highest rate each target kept with p99 <= 50 ms and no error.
	Best map[string]float64
	// AckToDelivered at AckRate, finconnectd's best rate (or its first
	// step when none met the target): webhook acknowledged -> event
	// received by the operator's endpoint.
	AckRate                              float64
	AckToDeliveredP50, AckToDeliveredP99 time.Duration
	Undelivered                          int // acknowledged but not delivered within 30 s
	// Overload is finconnectd's first step past its best rate, if any.
	Overload        *Result
	PeakRSS, EndRSS int64 // the daemon's, bytes
}

const (
	targetDaemon   = "finconnectd"
	targetReceiver = "sqlite-receiver"
	targetGroup    = "sqlite-group-commit"
)

// webhook is a signed ClickPesa "PAYMENT RECEIVED" for s.
func (e *env) webhook(s seed) []byte {
	now := time.Now().UTC().Format(time.RFC3339)
	data := map[string]any{
		"id": s.providerRef, "status": "SUCCESS", "orderReference": s.ref, "message": "success",
		"channel": "TIGO-PESA", "createdAt": now, "updatedAt": now,
		"paymentReference": "P" + s.ref, "collectedAmount": "1000", "collectedCurrency": "TZS",
		"customer": map[string]any{"customerName": "Bench", "customerEmail": nil, "customerPhoneNumber": payPhone},
	}
	body := map[string]any{"event": "PAYMENT RECEIVED", "data": data}
	payload := compact(body)
	sum, err := clickpesa.Checksum("canonical", []byte(e.cpKey), payload)
	if err != nil {
		panic(err) // a map we built is always JSON
	}
	body["checksum"], body["checksumMethod"] = sum, "canonical"
	return compact(body)
}

func compact(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func (e *env) benchIngest(ctx context.Context) (IngestReport, error) {
	rep := IngestReport{Steps: map[string][]Result{}, Best: map[string]float64{}}
	urls := map[string]string{targetDaemon: "http://" + e.pubAddr + "/hooks/clickpesa"}
	procs := map[string]*proc{targetDaemon: e.daemon}
	baselines := []struct {
		name  string
		group bool
	}{{targetReceiver, false}, {targetGroup, true}}
	targets := []string{targetDaemon, targetReceiver, targetGroup}
	if len(e.o.Rates) > 0 && !e.o.Baselines {
		baselines, targets = nil, targets[:1]
	}
	for _, t := range baselines {
		args := []string{"baseline-receiver", "-listen", "127.0.0.1:0", "-db", filepath.Join(e.dir, t.name+".db")}
		if t.group {
			args = append(args, "-group")
		}
		p, err := startProc(ctx, t.name, nil, e.o.Self, args...)
		if err != nil {
			return rep, err
		}
		defer p.stop(5 * time.Second)
		procs[t.name] = p
		line, err := p.waitLine("listening ", 10*time.Second)
		if err != nil {
			return rep, err
		}
		urls[t.name] = "http://" + strings.TrimPrefix(line, "listening ")
	}
	// step runs target at rate once and records it.
	step := func(target string, rate float64, again bool) (bool, error) {
		n := int(rate * e.o.step.Seconds())
		seeds := synthetic(n)
		if target == targetDaemon {
			var err error
			if seeds, err = e.takeSeeds(ctx, n); err != nil {
				return false, err
			}
		}
		var (
			mu   sync.Mutex
			acks = make(map[string]time.Time, n)
			refs = make([]string, 0, n)
		)
		reqs := make([]request, n)
		for i, s := range seeds {
			ref := s.ref
			reqs[i] = request{method: http.MethodPost, url: urls[target], header: http.Header{"Content-Type": {"application/json"}},
				body: e.webhook(s)}
			if target == targetDaemon {
				refs = append(refs, ref)
				reqs[i].done = func(at time.Time, status int) {
					if status == http.StatusOK {
						mu.Lock()
						acks[ref] = at
						mu.Unlock()
					}
				}
			}
		}
		label := ""
		if again {
			label = " (again)"
		}
		fmt.Fprintf(e.log, "  %s at %.0f/s%s ...", target, rate, label)
		var commits0 commitStats
		if target == targetDaemon {
			var err error
			if commits0, err = e.readCommits(ctx); err != nil {
				return false, err
			}
		}
		cpu0 := procs[target].cpu()
		res := openLoop(ctx, e.client, reqs, rate, http.StatusOK)
		res.Again = again
		var arr map[string]time.Time
		if target == targetDaemon {
			// Let delivery catch up before the next step, so each
			// step starts from an empty queue (and its CPU counts
			// with the step's).
			arr = e.sink.waitArrived(refs, 60*time.Second)
		}
		if cpu1 := procs[target].cpu(); cpu0 > 0 && res.OK > 0 {
			res.CPU = (cpu1 - cpu0) / time.Duration(res.OK)
		}
		if target == targetDaemon {
			// Read after the CPU, which the scrape must not add to.
			commits1, err := e.readCommits(ctx)
			if err != nil {
				return false, err
			}
			c := commits1.minus(commits0)
			res.CommitP50, res.CommitP99, res.WritesPerCommit = c.quantile(0.5), c.quantile(0.99), c.perCommit()
		}
		commits := ""
		if res.WritesPerCommit > 0 {
			commits = fmt.Sprintf(", commits p50 %s p99 %s of %.1f writes", ms(res.CommitP50), ms(res.CommitP99), res.WritesPerCommit)
		}
		fmt.Fprintf(e.log, " p50 %s p99 %s, %d errors, %d rejected, CPU %s per request%s\n", res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Errors, res.Rejected, us(res.CPU), commits)
		rep.Steps[target] = append(rep.Steps[target], res)
		good := res.Good(ingestTarget)
		if target == targetDaemon {
			// ack -> delivered is kept for the best good step (or
			// the first step when none was good).
			if good || rep.AckRate == 0 {
				rep.AckRate = rate
				rep.AckToDeliveredP50, rep.AckToDeliveredP99, rep.Undelivered = ackToDelivered(acks, arr)
			}
			if !good {
				r := res
				rep.Overload = &r
			}
		}
		if good {
			rep.Best[target] = rate
			if target == targetDaemon && again {
				rep.Overload = nil // its first try's, forgiven
			}
		}
		return good, nil
	}
	if err := sweep(e.o.rates, targets, len(e.o.Rates) == 0, step); err != nil {
		return rep, err
	}
	rep.EndRSS, rep.PeakRSS = e.daemon.rss()
	return rep, nil
}

// ackToDelivered is the latency from each acknowledged webhook to its
// event's arrival, and how many acknowledged never arrived.
func ackToDelivered(acks, arrivals map[string]time.Time) (p50, p99 time.Duration, missing int) {
	var d []time.Duration
	for ref, at := range acks {
		got, ok := arrivals[ref]
		if !ok {
			missing++
			continue
		}
		d = append(d, max(0, got.Sub(at)))
	}
	p50, p99, _ = percentiles(d)
	return p50, p99, missing
}

// synthetic is n webhook subjects for the baselines, which store bodies
// without reading them.
func synthetic(n int) []seed {
	out := make([]seed, n)
	for i := range out {
		out[i] = seed{ref: fmt.Sprintf("SYN%07d", i), providerRef: fmt.Sprintf("SYNP%07d", i)}
	}
	return out
}

// sweep runs step for each target at each rate in turn. With untilFailed
// (the full sweep), a target that misses a rate tries it once more, after
// the other targets' steps at that rate: on a shared machine a single
// spike of another process can spoil one 5 s step, and a target's sweep
// should not end on it. The rate counts if either try kept the target;
// a target that misses both tries is done, and the sweep ends when every
// target is. The baselines get the same second chance as finconnectd.
// Without untilFailed, every target runs every rate once.
func sweep(rates []float64, targets []string, untilFailed bool, step func(target string, rate float64, again bool) (bool, error)) error {
	failed := map[string]bool{}
	for _, rate := range rates {
		var missed []string
		for _, target := range targets {
			if failed[target] {
				continue
			}
			good, err := step(target, rate, false)
			if err != nil {
				return err
			}
			if !good && untilFailed {
				missed = append(missed, target)
			}
		}
		for _, target := range missed {
			good, err := step(target, rate, true)
			if err != nil {
				return err
			}
			if !good {
				failed[target] = true
			}
		}
		if untilFailed && len(failed) == len(targets) {
			return nil
		}
	}
	return nil
}
