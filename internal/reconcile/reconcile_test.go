package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// env is one test's world: an emulator, a state store and a clock.
type env struct {
	emu    *sandbox.Emulator
	st     state.StateStore
	remote Remote
	now    time.Time
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	return &env{emu: startEmulator(tb), st: newTestStore(tb), now: t0}
}

func (e *env) clock() time.Time { return e.now }

func (e *env) cfg(tb testing.TB, azampay bool, ipns ...*config.IPN) *config.Config {
	tb.Helper()
	cfg := testConfig(e.emu.URL(), azampay, ipns...)
	e.remote = newClientRemote(tb, cfg)
	return cfg
}

func (e *env) plan(tb testing.TB, cfg *config.Config) *Plan {
	tb.Helper()
	p, err := MakePlan(context.Background(), cfg, e.st, e.remote, PlanOptions{Refresh: true, Now: e.clock})
	if err != nil {
		tb.Fatalf("plan: %v", err)
	}
	return p
}

func (e *env) apply(tb testing.TB, cfg *config.Config) ApplyResult {
	tb.Helper()
	p := e.plan(tb, cfg)
	res, err := Apply(context.Background(), p, e.st, e.remote, ApplyOptions{Now: e.clock})
	if err != nil {
		tb.Fatalf("apply: %v", err)
	}
	return res
}

var scrubbers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`[0-9a-f]{64}`), "<sha256>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z`), "<created>"},
}

func scrub(s string) string {
	for _, r := range scrubbers {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name string
		// setup brings the world to the state before the plan and returns
		// the configuration to plan.
		setup func(t *testing.T, e *env) *config.Config
		add   int
		chg   int
		fgt   int
	}{
		{"create", func(t *testing.T, e *env) *config.Config {
			return e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"), ipn("refunds", "https://pay.example.com/hooks/refunds"))
		}, 2, 0, 0},
		{"adopt", func(t *testing.T, e *env) *config.Config {
			cfg := e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"))
			if _, err := e.remote.RegisterIPN(context.Background(), "pesapal.ke", "https://pay.example.com/hooks/pesapal", "POST"); err != nil {
				t.Fatal(err)
			}
			return cfg
		}, 1, 0, 0},
		{"replace", func(t *testing.T, e *env) *config.Config {
			e.apply(t, e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal")))
			return e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal-v2"))
		}, 1, 0, 1},
		{"forget", func(t *testing.T, e *env) *config.Config {
			e.apply(t, e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"), ipn("old", "https://pay.example.com/hooks/old")))
			return e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"))
		}, 0, 0, 1},
		{"key_create", func(t *testing.T, e *env) *config.Config {
			return e.cfg(t, true)
		}, 1, 0, 0},
		{"key_refresh", func(t *testing.T, e *env) *config.Config {
			cfg := e.cfg(t, true)
			e.apply(t, cfg)
			e.now = e.now.Add(25 * time.Hour)
			return cfg
		}, 0, 1, 0},
		{"no_changes", func(t *testing.T, e *env) *config.Config {
			cfg := e.cfg(t, true, ipn("orders", "https://pay.example.com/hooks/pesapal"))
			e.apply(t, cfg)
			return cfg
		}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := tt.setup(t, e)
			p := e.plan(t, cfg)
			var buf bytes.Buffer
			if err := Render(&buf, p); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, scrub(buf.String()))
			add, chg, fgt := p.Counts()
			if add != tt.add || chg != tt.chg || fgt != tt.fgt {
				t.Errorf("counts = %d/%d/%d, want %d/%d/%d", add, chg, fgt, tt.add, tt.chg, tt.fgt)
			}
			if strings.Contains(buf.String(), "canary") {
				t.Errorf("plan output contains a secret:\n%s", buf.String())
			}
			// Applying the plan converges: the next plan has no changes.
			if _, err := Apply(context.Background(), p, e.st, e.remote, ApplyOptions{Now: e.clock}); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if p2 := e.plan(t, cfg); p2.HasChanges() {
				var b bytes.Buffer
				_ = Render(&b, p2)
				t.Errorf("plan after apply still has changes:\n%s", b.String())
			}
		})
	}
}

func TestApplyRegistersOnceAndAdopts(t *testing.T) {
	e := newEnv(t)
	url := "https://pay.example.com/hooks/pesapal"
	cfg := e.cfg(t, false, ipn("orders", url))
	// An IPN registered by hand with the same URL is adopted, not duplicated.
	pre, err := e.remote.RegisterIPN(context.Background(), "pesapal.ke", url, "POST")
	if err != nil {
		t.Fatal(err)
	}
	before := countCalls(e.emu, "/RegisterIPN")
	res := e.apply(t, cfg)
	if res.Added != 1 {
		t.Errorf("added = %d, want 1", res.Added)
	}
	if got := countCalls(e.emu, "/RegisterIPN") - before; got != 0 {
		t.Errorf("RegisterIPN calls = %d, want 0 (adopt)", got)
	}
	id, err := IPNID(context.Background(), e.st, "orders")
	if err != nil || id != pre.ID {
		t.Errorf("IPNID = %q, %v; want %q", id, err, pre.ID)
	}
}

func TestPlanCallsEachProviderOnce(t *testing.T) {
	e := newEnv(t)
	var ipns []*config.IPN
	for i := range 20 {
		ipns = append(ipns, ipn("n"+string(rune('a'+i)), "https://pay.example.com/hooks/"+string(rune('a'+i))))
	}
	cfg := e.cfg(t, true, ipns...)
	e.plan(t, cfg)
	for suffix, want := range map[string]int{"/GetIpnList": 1, "/RequestToken": 1, "/GenerateToken": 1, "/public-key": 1, "/RegisterIPN": 0} {
		if got := countCalls(e.emu, suffix); got != want {
			t.Errorf("%s calls = %d, want %d", suffix, got, want)
		}
	}
}

func TestPlanRecreatesVanishedOrInactive(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(list []RemoteIPN) []RemoteIPN
		reason string
	}{
		{"vanished", func(list []RemoteIPN) []RemoteIPN { return nil }, "no longer listed"},
		{"inactive", func(list []RemoteIPN) []RemoteIPN {
			out := append([]RemoteIPN(nil), list...)
			for i := range out {
				out[i].Active = false
			}
			return out
		}, "is inactive at PesaPal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"))
			e.apply(t, cfg)
			lm := &listMutator{Remote: e.remote, mutate: tt.mutate}
			e.remote = lm
			p := e.plan(t, cfg)
			if len(p.Changes) != 1 || p.Changes[0].Action != ActionReplace || !strings.Contains(p.Changes[0].Reason, tt.reason) {
				t.Fatalf("changes = %+v, want one replace because %q", p.Changes, tt.reason)
			}
			if _, err := Apply(context.Background(), p, e.st, e.remote, ApplyOptions{Now: e.clock}); err != nil {
				t.Fatal(err)
			}
			// Apply asks for a new registration (the emulator still lists the
			// old one, so the client may adopt it; real PesaPal would not).
			if got := lm.registered.Load(); got != 1 {
				t.Errorf("RegisterIPN calls = %d, want 1", got)
			}
		})
	}
}

type listMutator struct {
	Remote
	mutate     func([]RemoteIPN) []RemoteIPN
	registered atomic.Int32
}

func (l *listMutator) RegisterIPN(ctx context.Context, id, url, typ string) (RemoteIPN, error) {
	l.registered.Add(1)
	return l.Remote.RegisterIPN(ctx, id, url, typ)
}

func (l *listMutator) ListIPNs(ctx context.Context, id string) ([]RemoteIPN, error) {
	list, err := l.Remote.ListIPNs(ctx, id)
	return l.mutate(list), err
}

func TestInvalidCredentialsNameTheBlock(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"))
	cfg.Providers[0].PesaPal.ConsumerSecret = secret.New("invalid")
	_, err := MakePlan(context.Background(), cfg, e.st, newClientRemote(t, cfg), PlanOptions{Refresh: true, Now: e.clock})
	var ce *CredentialsError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CredentialsError", err)
	}
	if got, want := err.Error(), `Invalid credentials for provider "pesapal" "ke"`; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

func TestStalePlanRefused(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"))
	saved := e.plan(t, cfg)
	path := filepath.Join(t.TempDir(), "tfplan")
	if err := saved.Save(path); err != nil {
		t.Fatal(err)
	}
	e.apply(t, cfg) // another apply moves the state on
	loaded, err := LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	before := countCalls(e.emu, "/RegisterIPN")
	_, err = Apply(context.Background(), loaded, e.st, e.remote, ApplyOptions{Now: e.clock})
	var se *StalePlanError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "Saved plan is stale") {
		t.Fatalf("err = %v, want Saved plan is stale", err)
	}
	if got := countCalls(e.emu, "/RegisterIPN") - before; got != 0 {
		t.Errorf("a stale plan registered %d IPNs", got)
	}
}

func TestPlanFileRoundTrip(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, true, ipn("orders", "https://pay.example.com/hooks/pesapal"), ipn("old", "https://pay.example.com/hooks/old"))
	e.apply(t, cfg)
	cfg = e.cfg(t, true, ipn("orders", "https://pay.example.com/hooks/v2"), ipn("new", "https://pay.example.com/hooks/new"))
	e.now = e.now.Add(48 * time.Hour)
	p := e.plan(t, cfg)
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode = %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "canary") {
		t.Errorf("plan file contains a secret")
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("plan file is not JSON: %v", err)
	}
	for _, k := range []string{"format_version", "lineage", "serial", "resource_changes"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("plan JSON lacks %q", k)
		}
	}
	back, err := LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	_ = Render(&a, p)
	_ = Render(&b, back)
	if a.String() != b.String() {
		t.Errorf("loaded plan renders differently:\n%s\n---\n%s", a.String(), b.String())
	}
	res, err := Apply(context.Background(), back, e.st, e.remote, ApplyOptions{Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 || res.Changed != 1 || res.Forgotten != 2 {
		t.Errorf("result = %+v, want 2 added, 1 changed, 2 forgotten", res)
	}
}

func TestConcurrentAppliesOneWins(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, false, ipn("orders", "https://pay.example.com/hooks/pesapal"), ipn("refunds", "https://pay.example.com/hooks/refunds"))
	var wg sync.WaitGroup
	var ok, locked atomic.Int32
	start := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			lock, err := AcquireLock(context.Background(), e.st, LockOptions{Operation: "apply", Now: e.clock})
			if err != nil {
				var le *state.LockedError
				if !errors.As(err, &le) || le.Holder.Operation != "apply" || !strings.Contains(err.Error(), "locked by apply") {
					t.Errorf("lock error = %v, want one naming the holder", err)
				}
				locked.Add(1)
				return
			}
			defer lock.Release(context.Background())
			p, err := MakePlan(context.Background(), cfg, e.st, e.remote, PlanOptions{Refresh: true, Now: e.clock})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := Apply(context.Background(), p, e.st, e.remote, ApplyOptions{Now: e.clock, Lock: lock}); err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	// Whatever the interleaving, the IPNs are registered exactly once.
	if got := countCalls(e.emu, "/RegisterIPN"); got != 2 {
		t.Errorf("RegisterIPN calls = %d, want 2", got)
	}
	if ok.Load()+locked.Load() != 2 || ok.Load() < 1 {
		t.Errorf("ok=%d locked=%d", ok.Load(), locked.Load())
	}
	// A second, sequential apply through Apply's own locking with a holder
	// present fails at once naming it.
	held, err := AcquireLock(context.Background(), e.st, LockOptions{Operation: "reconcile", Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(context.Background())
	_, err = Apply(context.Background(), e.plan(t, cfg), e.st, e.remote, ApplyOptions{Now: e.clock})
	if err == nil || !strings.Contains(err.Error(), "locked by reconcile") || !strings.Contains(err.Error(), held.Info.ID) {
		t.Errorf("apply under someone else's lock: err = %v", err)
	}
}

func TestLockWaitsUntilReleased(t *testing.T) {
	st := newTestStore(t)
	held, err := AcquireLock(context.Background(), st, LockOptions{Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	// The lock names where its PID can be looked up, so that only a store
	// in the same host and scope takes it over from a crashed holder.
	host, _ := os.Hostname()
	if h, ok, err := st.LockHolder(context.Background()); err != nil || !ok || h.Host != host || h.PID != os.Getpid() || h.Scope != procscope.Scope() {
		t.Errorf("lock holder = %+v, %v, %v; want host %q, PID %d, scope %q", h, ok, err, host, os.Getpid(), procscope.Scope())
	}
	waiting := make(chan state.LockInfo, 1)
	got := make(chan error, 1)
	go func() {
		l, err := AcquireLock(context.Background(), st, LockOptions{Operation: "apply", Timeout: time.Minute, PollInterval: 5 * time.Millisecond,
			Waiting: func(h state.LockInfo) { waiting <- h }})
		if err == nil {
			err = l.Release(context.Background())
		}
		got <- err
	}()
	if h := <-waiting; h.ID != held.Info.ID {
		t.Errorf("waiting for %s, want %s", h.ID, held.Info.ID)
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("waiting locker: %v", err)
	}
	// A waiting locker gives up at its deadline, naming the holder.
	held, _ = AcquireLock(context.Background(), st, LockOptions{Operation: "reconcile"})
	defer held.Release(context.Background())
	_, err = AcquireLock(context.Background(), st, LockOptions{Timeout: 20 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked by reconcile") {
		t.Errorf("timed-out lock: err = %v", err)
	}
}

// failAfter lets the first n registrations through and then fails, like a
// process killed halfway through apply, after PesaPal had registered the
// IPN but before state recorded it.
type failAfter struct {
	Remote
	n atomic.Int32
}

func (f *failAfter) RegisterIPN(ctx context.Context, id, url, typ string) (RemoteIPN, error) {
	r, err := f.Remote.RegisterIPN(ctx, id, url, typ)
	if f.n.Add(-1) < 0 {
		return RemoteIPN{}, &providers.Error{Provider: providers.PesaPal, Op: "register ipn", Kind: providers.Retryable, Message: "connection reset"}
	}
	return r, err
}

func TestInterruptedApplyThenReplanNoDuplicates(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, false, ipn("a", "https://pay.example.com/hooks/a"), ipn("b", "https://pay.example.com/hooks/b"), ipn("c", "https://pay.example.com/hooks/c"))
	p := e.plan(t, cfg)
	broken := &failAfter{Remote: e.remote}
	broken.n.Store(1)
	res, err := Apply(context.Background(), p, e.st, broken, ApplyOptions{Now: e.clock})
	if err == nil {
		t.Fatal("apply succeeded, want a failure halfway")
	}
	if strings.Join(res.Applied, ",") != "ipn.a" || strings.Join(res.NotApplied, ",") != "ipn.b,ipn.c" {
		t.Errorf("applied %v, not applied %v", res.Applied, res.NotApplied)
	}
	// State is true to what happened: only ipn.a is recorded.
	rs, _ := e.st.Resources(context.Background())
	if len(rs) != 1 || rs[0].Address != "ipn.a" {
		t.Errorf("state after failure = %v", rs)
	}
	// Re-plan: b was registered at PesaPal before the failure, so it is
	// adopted; only c is registered now.
	p2 := e.plan(t, cfg)
	if len(p2.Changes) != 2 || p2.Changes[0].AdoptID == "" || p2.Changes[1].AdoptID != "" {
		t.Errorf("re-plan = %+v, want b adopted and c created", p2.Changes)
	}
	if _, err := Apply(context.Background(), p2, e.st, e.remote, ApplyOptions{Now: e.clock}); err != nil {
		t.Fatal(err)
	}
	if got := countCalls(e.emu, "/RegisterIPN"); got != 3 {
		t.Errorf("RegisterIPN calls = %d, want 3 (no duplicate)", got)
	}
}

func TestApplyWithoutRefreshStillAdopts(t *testing.T) {
	e := newEnv(t)
	url := "https://pay.example.com/hooks/a"
	cfg := e.cfg(t, false, ipn("a", url))
	if _, err := e.remote.RegisterIPN(context.Background(), "pesapal.ke", url, "POST"); err != nil {
		t.Fatal(err)
	}
	lists := countCalls(e.emu, "/GetIpnList")
	p, err := MakePlan(context.Background(), cfg, e.st, nil, PlanOptions{Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if calls := countCalls(e.emu, "/GetIpnList") - lists; calls != 0 {
		t.Errorf("-refresh=false listed IPNs %d times", calls)
	}
	if _, err := Apply(context.Background(), p, e.st, e.remote, ApplyOptions{Now: e.clock}); err != nil {
		t.Fatal(err)
	}
	if got := countCalls(e.emu, "/RegisterIPN"); got != 1 {
		t.Errorf("RegisterIPN calls = %d, want 1 (the hand registration only)", got)
	}
}

func TestApplyStoreFailureStopsAndReports(t *testing.T) {
	e := newEnv(t)
	ms := teststore.New(t)
	ms.FailPutResource(func(addr string) error {
		if addr == "ipn.b" {
			return errors.New("disk full")
		}
		return nil
	})
	e.st = ms
	cfg := e.cfg(t, false, ipn("a", "https://x.example/a"), ipn("b", "https://x.example/b"), ipn("c", "https://x.example/c"))
	res, err := Apply(context.Background(), e.plan(t, cfg), e.st, e.remote, ApplyOptions{Now: e.clock})
	if err == nil || !strings.Contains(err.Error(), "write ipn.b to state") {
		t.Fatalf("err = %v", err)
	}
	if len(res.Applied) != 1 || len(res.NotApplied) != 2 {
		t.Errorf("res = %+v", res)
	}
	// The lock was released despite the failure.
	if _, held, _ := ms.LockHolder(context.Background()); held {
		t.Error("lock still held after a failed apply")
	}
}

func TestRunAndAzamPayKey(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, true, ipn("orders", "https://pay.example.com/hooks/pesapal"))
	s, err := Run(context.Background(), cfg, e.st, e.remote, RunOptions{Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "reconcile: 2 added, 0 changed, 0 forgotten"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	s, err = Run(context.Background(), cfg, e.st, e.remote, RunOptions{Now: e.clock})
	if err != nil || s.Planned != 0 {
		t.Errorf("second run: %v, %+v", err, s)
	}
	r, err := e.st.Resource(context.Background(), AzamPayKeyAddress("tz"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := attrMap(r)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := parsePublicKey([]byte(m["public_key_pem"]))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := parsePublicKey(e.emu.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(want) {
		t.Error("the recorded key differs from the emulator's key")
	}
}

func TestKeyChangedFingerprintIsUpdate(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, true)
	e.apply(t, cfg)
	// The provider rotated its key: state holds another fingerprint.
	r, _ := e.st.Resource(context.Background(), "key.azampay.tz")
	var attrs KeyAttributes
	_ = json.Unmarshal(r.Attributes, &attrs)
	attrs.Fingerprint = strings.Repeat("0", 64)
	r.Attributes, _ = json.Marshal(attrs)
	if _, err := e.st.PutResource(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	p := e.plan(t, cfg)
	if len(p.Changes) != 1 || p.Changes[0].Action != ActionUpdate || !strings.Contains(p.Changes[0].Reason, "changed") {
		t.Fatalf("changes = %+v", p.Changes)
	}
}

func TestJSONParsedBack(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, true, ipn("orders", "https://pay.example.com/hooks/pesapal"))
	p := e.plan(t, cfg)
	var buf bytes.Buffer
	if err := RenderJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion   string `json:"format_version"`
		Lineage         string `json:"lineage"`
		Serial          int64  `json:"serial"`
		ResourceChanges []struct {
			Address string            `json:"address"`
			Type    string            `json:"type"`
			Name    string            `json:"name"`
			Actions []string          `json:"actions"`
			Before  map[string]string `json:"before"`
			After   map[string]string `json:"after"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != "1.0" || doc.Lineage == "" || len(doc.ResourceChanges) != 2 {
		t.Fatalf("doc = %+v", doc)
	}
	rc := doc.ResourceChanges[0]
	if rc.Address != "ipn.orders" || rc.Type != "ipn" || rc.Name != "orders" || strings.Join(rc.Actions, ",") != "create" ||
		rc.Before != nil || rc.After["url"] != "https://pay.example.com/hooks/pesapal" {
		t.Errorf("resource change = %+v", rc)
	}
	if doc.ResourceChanges[1].Address != "key.azampay.tz" {
		t.Errorf("second change = %+v", doc.ResourceChanges[1])
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Error("-json output is not one document on one line")
	}
}

// cancelAfterRegister cancels the apply's context right after PesaPal
// answered a registration, like Ctrl-C at the worst moment.
type cancelAfterRegister struct {
	Remote
	cancel context.CancelFunc
}

func (c *cancelAfterRegister) RegisterIPN(ctx context.Context, id, url, typ string) (RemoteIPN, error) {
	r, err := c.Remote.RegisterIPN(ctx, id, url, typ)
	c.cancel()
	return r, err
}

func TestCancelledApplyRecordsWhatHappened(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg(t, false, ipn("a", "https://pay.example.com/hooks/a"), ipn("b", "https://pay.example.com/hooks/b"))
	p := e.plan(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Apply(ctx, p, e.st, &cancelAfterRegister{Remote: e.remote, cancel: cancel}, ApplyOptions{Now: e.clock})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if strings.Join(res.Applied, ",") != "ipn.a" || strings.Join(res.NotApplied, ",") != "ipn.b" {
		t.Errorf("applied %v, not applied %v", res.Applied, res.NotApplied)
	}
	// The registration PesaPal made was recorded despite the cancellation.
	if _, err := IPNID(context.Background(), e.st, "a"); err != nil {
		t.Errorf("ipn.a not in state: %v", err)
	}
	if _, held, _ := e.st.LockHolder(context.Background()); held {
		t.Error("lock still held after a cancelled apply")
	}
}
