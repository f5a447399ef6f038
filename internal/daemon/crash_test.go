package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// crashSink is the forward of the crash test: it verifies each delivery's
// Standard Webhooks signature and records the references delivered and
// the webhook-id of each. While slow, it holds requests until released.
type crashSink struct {
	key []byte
	mu  sync.Mutex
	// byRef: reference → webhook-ids seen for it.
	byRef   map[string]map[string]bool
	bad     []string
	slow    bool
	release chan struct{}
	inSlow  chan struct{}
}

func (s *crashSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	id := r.Header.Get("webhook-id")
	if err := delivery.Verify(s.key, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now(), 10*time.Minute); err != nil {
		s.mu.Lock()
		s.bad = append(s.bad, err.Error())
		s.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	slow, release := s.slow, s.release
	s.mu.Unlock()
	if slow {
		select {
		case s.inSlow <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	var ev struct {
		Data struct {
			Reference string `json:"reference"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	s.mu.Lock()
	if s.byRef[ev.Data.Reference] == nil {
		s.byRef[ev.Data.Reference] = map[string]bool{}
	}
	s.byRef[ev.Data.Reference][id] = true
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *crashSink) missing(refs []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range refs {
		if len(s.byRef[r]) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// testBinary returns the finconnectd binary: $FINCONNECTD_TEST_BINARY
// (make build exports it) or one built now.
func testBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FINCONNECTD_TEST_BINARY"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), "finconnectd")
	cmd := exec.Command("go", "build", "-o", out, "../../cmd/finconnectd")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// proc is one run of finconnectd serve.
type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func startServe(t *testing.T, bin, cfgPath string, env []string) *proc {
	t.Helper()
	p := &proc{logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "-config", cfgPath)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start serve: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits for /readyz; when the process exits first it returns
// its output.
func (p *proc) waitReady(t *testing.T, api string) (bool, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return false, p.logs.String()
		}
		resp, err := http.Get("http://" + api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true, ""
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve not ready within 30 s:\n%s", p.logs.String())
	return false, ""
}

// TestCrash kills the real binary with SIGKILL during ingest and during
// delivery and checks that every notification that got a 2xx reaches the
// sink at least once, duplicates sharing their webhook-id.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds, runs and kills the binary three times")
	}
	bin := testBinary(t)
	dir := t.TempDir()
	secretKey := []byte("0123456789abcdef0123456789abcdef")
	sink := &crashSink{key: secretKey, byRef: map[string]map[string]bool{}, release: make(chan struct{}), inSlow: make(chan struct{}, 1)}
	sinkSrv := httptest.NewServer(sink)
	defer sinkSrv.Close()

	// Every start listens on fresh ports: between a kill and the restart,
	// another process on a loaded machine may take the old ones as the
	// local end of a connection (bind: address already in use).
	var public, api string
	cfgPath := filepath.Join(dir, "finconnect.hcl")
	writeCfg := func() {
		t.Helper()
		public, api = testkit.FreeAddr(t), testkit.FreeAddr(t)
		cfg := fmt.Sprintf(`
state {
  path = %q
}
server {
  listen = %q
}
api {
  listen = %q
  tokens = [env("CRASH_API_TOKEN")]
}
provider "clickpesa" "tz" {
  client_id    = env("CRASH_CP_CLIENT")
  api_key      = env("CRASH_CP_KEY")
  checksum_key = env("CRASH_CP_CHECKSUM")
  base_url     = "http://127.0.0.1:1/clickpesa"
}
route "cp" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"
  forward {
    url     = %q
    secret  = env("CRASH_WHSEC")
    timeout = "30s"
  }
}
schedule "reconcile" {
  cron = "@every 1h"
}
schedule "refresh_keys" {
  cron = "@every 1h"
}
schedule "sync_payments" {
  cron = "@every 1h"
}
`, filepath.Join(dir, "finconnect.db"), public, api, sinkSrv.URL+"/events")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"CRASH_API_TOKEN=crash-token", "CRASH_CP_CLIENT=c", "CRASH_CP_KEY=k", "CRASH_CP_CHECKSUM=" + checksumKey,
		"CRASH_WHSEC=whsec_" + base64.StdEncoding.EncodeToString(secretKey),
		"NOTIFY_SOCKET=", "FINCONNECT_CONFIG=",
	}

	writeCfg()
	const n = 60
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("CRASH-%03d", i)
	}
	seedSQLite(t, filepath.Join(dir, "finconnect.db"), refs)
	p := startServe(t, bin, cfgPath, env)
	if ok, out := p.waitReady(t, api); !ok {
		t.Fatalf("serve exited:\n%s", out)
	}

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	send := func(ctx context.Context, todo []string, killAfter int, kill func()) {
		var wg sync.WaitGroup
		ch := make(chan string)
		var once sync.Once
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 10 * time.Second}
				for ref := range ch {
					resp, err := c.Post("http://"+public+"/hooks/clickpesa", "application/json",
						bytes.NewReader(signedWebhook(t, ref, "SUCCESS", "1000")))
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						mu.Lock()
						acked[ref] = true
						k := len(acked)
						mu.Unlock()
						if killAfter > 0 && k >= killAfter {
							once.Do(kill)
						}
					}
				}
			}()
		}
		for _, r := range todo {
			select {
			case ch <- r:
			case <-ctx.Done():
			}
		}
		close(ch)
		wg.Wait()
	}
	unacked := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, r := range refs {
			if !acked[r] {
				out = append(out, r)
			}
		}
		return out
	}

	// 1. SIGKILL in the middle of ingest.
	send(context.Background(), refs, n/3, p.kill)
	p.kill()
	t.Logf("phase 1: %d acked before SIGKILL", len(acked))

	// 2. Restart with a slow sink; the providers retry what was not acked.
	sink.mu.Lock()
	sink.slow = true
	sink.mu.Unlock()
	writeCfg()
	p = startServe(t, bin, cfgPath, env)
	if ok, out := p.waitReady(t, api); !ok {
		t.Fatalf("restart 1 exited:\n%s", out)
	}
	send(context.Background(), unacked(), 0, nil)
	select {
	case <-sink.inSlow:
	case <-time.After(30 * time.Second):
		t.Fatalf("no delivery reached the sink:\n%s", p.logs.String())
	}
	p.kill() // 3. SIGKILL in the middle of delivery.
	sink.mu.Lock()
	sink.slow = false
	close(sink.release)
	sink.mu.Unlock()

	// 4. Restart; everything acked must arrive. The killed process's
	// leases (2 minutes) are released at start because its PID is gone
	// from this host, so this must not take anywhere near 2 minutes.
	writeCfg()
	p = startServe(t, bin, cfgPath, env)
	if ok, out := p.waitReady(t, api); !ok {
		t.Fatalf("restart 2 exited:\n%s", out)
	}
	mu.Lock()
	var want []string
	for r := range acked {
		want = append(want, r)
	}
	mu.Unlock()
	if len(want) != n {
		t.Fatalf("only %d of %d notifications acked", len(want), n)
	}
	// The deadline is generous for a loaded machine yet well under the
	// lease: passing proves the leases were released, not waited out.
	deadline := time.Now().Add(45 * time.Second)
	for len(sink.missing(want)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered within 45 s of the restart (the killed process's leases were not released?): %v\n%s",
				sink.missing(want), lastLines(p.logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(p.logs.String(), "leases of a stopped process") {
		t.Errorf("the restarted process did not log releasing the killed one's leases:\n%s", lastLines(p.logs.String(), 40))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bad) > 0 {
		t.Fatalf("deliveries with bad signatures: %v", sink.bad)
	}
	for ref, ids := range sink.byRef {
		if len(ids) != 1 {
			t.Fatalf("%s delivered under %d webhook-ids, want 1 (duplicates share the id)", ref, len(ids))
		}
	}
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// seedSQLite stores pending 1000 TZS ClickPesa payments in the SQLite
// store at path before the daemon opens it: a signed webhook is proof only
// about a payment the store holds.
func seedSQLite(t *testing.T, path string, refs []string) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer s.Close()
	for i, ref := range refs {
		p := state.Payment{ID: fmt.Sprintf("pay_seed%03d", i), Provider: "clickpesa.tz", Reference: ref,
			Status: state.StatusPending, Amount: "1000", Currency: "TZS"}
		if err := s.CreatePayment(ctx, p); err != nil {
			t.Fatalf("seed %s: %v", ref, err)
		}
	}
}
