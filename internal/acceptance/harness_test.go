package acceptance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/openapi/openapitest"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// binaryEnv names the binary under test; `make test` exports it.
const binaryEnv = "FINCONNECTD_TEST_BINARY"

// TestMain makes sure $FINCONNECTD_TEST_BINARY names a binary: when it is
// unset (or names nothing), the binary is built once for the package into
// a temporary directory removed afterwards.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if p := os.Getenv(binaryEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return m.Run()
		}
	}
	dir, err := os.MkdirTemp("", "finconnectd-acceptance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptance:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "finconnectd")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/finconnectd")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "acceptance: go build: %v\n%s", err, out)
		return 1
	}
	if err := os.Setenv(binaryEnv, bin); err != nil {
		fmt.Fprintln(os.Stderr, "acceptance:", err)
		return 1
	}
	return m.Run()
}

// testBinary is the finconnectd binary under test.
func testBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv(binaryEnv)
	if p == "" {
		t.Fatalf("$%s is not set (TestMain sets it)", binaryEnv)
	}
	return p
}

// canary is a unique secret-looking value that must never appear in any
// output.
func canary(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "canary-" + what + "-" + hex.EncodeToString(b)
}

// whsec returns a fresh Standard Webhooks secret and its decoded key.
func whsec(t *testing.T) (string, []byte) {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s := "whsec_" + base64.StdEncoding.EncodeToString(key)
	dec, err := delivery.DecodeSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, dec
}

// baseEnv is the environment every finconnectd process gets: the test's
// own, without anything that would make it talk to systemd or pick another
// configuration.
func baseEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID", "FINCONNECT_CONFIG",
			"FINCONNECT_SANDBOX_CLICKPESA_CHECKSUM_KEY":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// syncBuffer is an io.Writer safe for a process's stdout and stderr and
// concurrent readers.
type syncBuffer = testkit.SyncBuffer

// proc is one running finconnectd process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error // Wait's answer; read after done
}

// startProc starts bin with args. The process is killed when the test
// ends; if the test failed its output is logged.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startProcCmd(t, name, env, testBinary(t), args...)
}

// startProcCmd is startProc for another program (a wrapper such as
// unshare(1) that runs the binary).
func startProcCmd(t *testing.T, name string, env []string, prog string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(t.Context(), prog, args...)
	p.cmd.Env = baseEnv(env)
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("---- %s (%s) stdout ----\n%s", name, strings.Join(args, " "), lastLines(p.stdout.String(), 80))
			t.Logf("---- %s stderr ----\n%s", name, lastLines(p.stderr.String(), 120))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// output is everything the process wrote so far.
func (p *proc) output() string { return p.stdout.String() + p.stderr.String() }

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// waitExit waits up to d for the process to end and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %s", p.name, d)
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// waitHTTP polls url until it answers 200, failing when the process exits
// first or the deadline passes.
func (p *proc) waitHTTP(t *testing.T, url string, d time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(d)
	for {
		if p.exited() {
			t.Fatalf("%s exited before %s answered:\n%s", p.name, url, lastLines(p.output(), 40))
		}
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer 200 within %s:\n%s", p.name, url, d, lastLines(p.output(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOutput polls the process's output until it contains want.
func (p *proc) waitOutput(t *testing.T, want string, d time.Duration) {
	t.Helper()
	eventually(t, d, fmt.Sprintf("%s to log %q", p.name, want), func() bool {
		return strings.Contains(p.output(), want)
	})
}

// eventually polls cond every 25 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.EventuallyWithin(t, d, what, cond)
}

// cliResult is one finished CLI run.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r cliResult) String() string {
	return fmt.Sprintf("finconnectd %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runCLI runs one finconnectd command to its end (bounded) with stdin
// empty, as in CI.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, testBinary(t), args...)
	cmd.Env = baseEnv(env)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("finconnectd %s: %v\n%s%s", strings.Join(args, " "), err, r.stdout, r.stderr)
	}
	return r
}

// sandbox is a running `finconnectd sandbox` process.
type sandbox struct {
	*proc
	url string // http://127.0.0.1:PORT
}

// startSandbox runs `finconnectd sandbox` on a free loopback port with
// settings posted to /_sandbox/settings once it answers (nil: defaults).
func startSandbox(t *testing.T, settings map[string]any) *sandbox {
	t.Helper()
	addr := testkit.FreeAddr(t)
	p := startProc(t, "sandbox", nil, "sandbox", "-listen", addr)
	s := &sandbox{proc: p, url: "http://" + addr}
	p.waitHTTP(t, s.url+"/", 20*time.Second)
	if settings != nil {
		s.settings(t, settings)
	}
	return s
}

// settings posts a settings change.
func (s *sandbox) settings(t *testing.T, settings map[string]any) {
	t.Helper()
	body, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	code, resp := httpDo(t, http.MethodPost, s.url+"/_sandbox/settings", nil, body)
	if code != http.StatusOK {
		t.Fatalf("sandbox settings: %d %s", code, resp)
	}
}

// sandboxRequest is one request the sandbox recorded.
type sandboxRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	Body   string `json:"body"`
	Status int    `json:"status"`
}

// requests lists what the sandbox received, oldest first.
func (s *sandbox) requests(t *testing.T) []sandboxRequest {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, s.url+"/_sandbox/requests", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("sandbox requests: %d %s", code, body)
	}
	var reqs []sandboxRequest
	if err := json.Unmarshal(body, &reqs); err != nil {
		t.Fatalf("sandbox requests: %v: %s", err, body)
	}
	return reqs
}

// count counts recorded requests with this method and path (compared
// case-insensitively, as the sandbox matches PesaPal and AzamPay paths)
// whose body contains bodyHas.
func (s *sandbox) count(t *testing.T, method, path, bodyHas string) int {
	t.Helper()
	n := 0
	for _, r := range s.requests(t) {
		if r.Method == method && strings.EqualFold(r.Path, path) && strings.Contains(r.Body, bodyHas) {
			n++
		}
	}
	return n
}

// countOK counts recorded requests with this method and path that the
// sandbox answered 2xx (it records a request once answered, also one
// whose caller went away: that one is not 2xx).
func (s *sandbox) countOK(t *testing.T, method, path string) int {
	t.Helper()
	n := 0
	for _, r := range s.requests(t) {
		if r.Method == method && strings.EqualFold(r.Path, path) && r.Status/100 == 2 {
			n++
		}
	}
	return n
}

// httpDo sends one request and returns the status and body. Headers are
// name, value pairs.
func httpDo(t *testing.T, method, url string, headers []string, body []byte) (int, []byte) {
	t.Helper()
	code, _, b := httpDoH(t, method, url, headers, body)
	return code, b
}

func httpDoH(t *testing.T, method, url string, headers []string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 90 * time.Second, Transport: openapitest.Transport(t, nil)}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// writeFile writes a file the test owns.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noCanaries fails when any canary value appears in any of the outputs.
func noCanaries(t *testing.T, canaries []string, outputs map[string]string) {
	t.Helper()
	for name, out := range outputs {
		for _, c := range canaries {
			if strings.Contains(out, c) {
				t.Errorf("secret %q appears in %s", c[:min(len(c), 20)]+"…", name)
			}
		}
	}
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
