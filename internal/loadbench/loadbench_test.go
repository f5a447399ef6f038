package loadbench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for finconnectd-bench when the
// bench starts its baselines as child processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "baseline-") {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// binary is the finconnectd binary under test: $FINCONNECTD_TEST_BINARY
// (make test sets it) or one built into a temporary directory.
func binary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FINCONNECTD_TEST_BINARY"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	bin := filepath.Join(t.TempDir(), "finconnectd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/finconnectd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestQuickRun runs the whole bench on tiny steps against the built
// binary: every part produces figures for finconnectd and its baselines,
// every queued event is delivered, and the report prints each goal. It
// checks the tool works, not how fast anything is.
func TestQuickRun(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(t.Context(), Options{Binary: binary(t), Self: self, Quick: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{targetDaemon, targetReceiver, targetGroup} {
		steps := rep.Ingest.Steps[target]
		if len(steps) == 0 || steps[0].OK == 0 {
			t.Errorf("ingest %s: no successful step: %+v", target, steps)
		}
		if (target == targetDaemon) != (len(steps) > 0 && steps[0].WritesPerCommit >= 1 && steps[0].CommitP50 > 0) {
			t.Errorf("ingest %s: store commits measured for finconnectd only: %+v", target, steps)
		}
	}
	// Every acknowledged webhook's event arrived (a latency of 0 is an
	// event that arrived before its acknowledgement did).
	if in := rep.Ingest; in.AckRate <= 0 || in.Undelivered != 0 {
		t.Errorf("ack -> delivered not measured: %+v", rep.Ingest)
	}
	if d := rep.Delivery; d.Missing != 0 || d.Daemon <= 0 || d.Forwarder <= 0 {
		t.Errorf("delivery: %+v", d)
	}
	if p := rep.Pay; p.Daemon <= 0 || p.DaemonIdempotent <= 0 || p.Direct <= 0 || p.TokenPerPayment <= 0 || p.SerialDaemonP50 <= 0 || p.SerialDurableP50 <= 0 || p.Failed != 0 ||
		p.CommitP50 <= 0 || p.CommitP99 < p.CommitP50 || p.WritesPerCommit < 1 || p.DurableDirect <= 0 ||
		p.DurableCommitP50 <= 0 || p.DurableWritesPerCommit < 1 {
		t.Errorf("pay: %+v", p)
	}
	var out strings.Builder
	rep.Print(&out)
	for _, want := range []string{"ingest: highest rate", "ack -> delivered", "drain of", "overhead p50", "vs a token per payment", "store commits", "commits + direct"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestOpenLoop: requests go out at their scheduled times whatever the
// server does, and answers are sorted into ok, 503 and errors.
func TestOpenLoop(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	reqs := make([]request, 30)
	var done atomic.Int64
	for i := range reqs {
		reqs[i] = request{method: http.MethodPost, url: srv.URL, done: func(time.Time, int) { done.Add(1) }}
	}
	res := openLoop(t.Context(), newClient(5*time.Second), reqs, 1000, http.StatusOK)
	if res.Sent != 30 || res.OK != 10 || res.Rejected != 10 || res.Errors != 10 || done.Load() != 30 {
		t.Fatalf("got %+v (done %d), want 30 sent: 10 ok, 10 rejected, 10 errors", res, done.Load())
	}
	if res.Good(time.Hour) {
		t.Error("a step with errors counts as good")
	}
}

func TestPercentilesAndDrainRate(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	p50, p99, mx := percentiles(d)
	if p50 != 51*time.Millisecond || p99 != 100*time.Millisecond || mx != 100*time.Millisecond {
		t.Errorf("percentiles = %s %s %s", p50, p99, mx)
	}
	t0 := time.Now()
	arr := map[string]time.Time{}
	for i := range 11 {
		arr[fmt.Sprint(i)] = t0.Add(time.Duration(i) * 100 * time.Millisecond)
	}
	if r := drainRate(arr); r < 9.99 || r > 10.01 {
		t.Errorf("drainRate = %v, want 10/s", r)
	}
	if r := ratio(1, 0); r != 0 {
		t.Errorf("ratio by zero = %v", r)
	}
}

// TestStatCPU: utime and stime are read after the command name, whatever
// it holds.
func TestStatCPU(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		stat string
		want time.Duration
	}{
		{"1234 (finconnectd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0", 3250 * time.Millisecond},
		{"99 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 30 * time.Millisecond},
		{"garbage", 0},
		{"1 (x) S 1 2", 0},
	} {
		if got := statCPU(tt.stat); got != tt.want {
			t.Errorf("statCPU(%q) = %s, want %s", tt.stat, got, tt.want)
		}
	}
}

// TestRatesFlag: -rates replaces the sweep's rates, and a rate that is not
// one is refused naming the flag.
func TestRatesFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []float64
		wantErr string
	}{
		{args: nil, want: []float64{250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000}},
		{args: []string{"-rates", "500, 2000,3000"}, want: []float64{500, 2000, 3000}},
		{args: []string{"-rates", "fast"}, wantErr: `-rates: "fast"`},
		{args: []string{"-rates", "0"}, wantErr: `-rates: "0"`},
	} {
		o, err := parseOptions(tc.args, io.Discard)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		o.derive()
		if !slices.Equal(o.rates, tc.want) {
			t.Errorf("%v: rates %v, want %v", tc.args, o.rates, tc.want)
		}
	}
}

// TestSweepRetriesAMissOnce: a target that misses a rate runs it again
// after the others, goes on when the second try keeps it, and stops after
// two misses; the sweep ends when every target stopped. Without
// untilFailed every rate runs once per target.
func TestSweepRetriesAMissOnce(t *testing.T) {
	// keeps[target][rate] lists the outcome of each try at that rate.
	keeps := map[string]map[float64][]bool{
		"a": {1: {true}, 2: {false, true}, 3: {false, false}},
		"b": {1: {false, false}},
	}
	var ran []string
	step := func(target string, rate float64, again bool) (bool, error) {
		ran = append(ran, fmt.Sprintf("%s%.0f%v", target, rate, map[bool]string{true: "+", false: ""}[again]))
		tries := keeps[target][rate]
		if len(tries) == 0 {
			t.Fatalf("%s ran at %.0f more often than expected", target, rate)
		}
		keeps[target][rate] = tries[1:]
		return tries[0], nil
	}
	if err := sweep([]float64{1, 2, 3, 4}, []string{"a", "b"}, true, step); err != nil {
		t.Fatal(err)
	}
	want := []string{"a1", "b1", "b1+", "a2", "a2+", "a3", "a3+"}
	if !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}

	ran = nil
	keeps = map[string]map[float64][]bool{"a": {1: {false}, 2: {false}}}
	if err := sweep([]float64{1, 2}, []string{"a"}, false, step); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "a2"}; !slices.Equal(ran, want) {
		t.Errorf("without untilFailed ran %v, want %v", ran, want)
	}
}

// TestCommitStats: the commit figures come from two reads of the daemon's
// histogram, and quantiles are interpolated within a bucket as Prometheus
// does.
func TestCommitStats(t *testing.T) {
	t.Parallel()
	bounds := []float64{.001, .002, .004, math.Inf(1)}
	before := commitStats{commits: 10, writes: 20, bounds: bounds, cum: []float64{10, 10, 10, 10}}
	after := commitStats{commits: 110, writes: 270, bounds: bounds, cum: []float64{60, 90, 100, 110}}
	d := after.minus(before)
	if d.commits != 100 || d.writes != 250 || d.perCommit() != 2.5 {
		t.Fatalf("difference: %+v (%.2f writes per commit)", d, d.perCommit())
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.25, 500 * time.Microsecond},  // 25 of the 50 under 1 ms
		{0.5, time.Millisecond},         // the 50th is the last under 1 ms
		{0.65, 1500 * time.Microsecond}, // 15 of the 30 between 1 and 2 ms
		{0.85, 3 * time.Millisecond},    // 5 of the 10 between 2 and 4 ms
		{0.99, 4 * time.Millisecond},    // past the last finite bound: that bound
	}
	for _, tt := range tests {
		if got := d.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	sum := d.plus(d)
	if sum.commits != 200 || sum.quantile(0.5) != time.Millisecond {
		t.Errorf("sum of two differences: %+v, median %v", sum, sum.quantile(0.5))
	}
	if (commitStats{}).quantile(0.5) != 0 || (commitStats{}).perCommit() != 0 {
		t.Error("no commits should give zero figures")
	}
}
