package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	registerIPNPath = "/pesapal/api/URLSetup/RegisterIPN"
	getIPNListPath  = "/pesapal/api/URLSetup/GetIpnList"
)

// ipnBlock is one `ipn` block and the route serving its path.
type ipnBlock struct {
	name, url, notificationType, routePath string
}

// reconcileConfig is an operator's configuration for plan/apply: a
// PesaPal provider on the sandbox, the ipn blocks, and a route per ipn
// path. Every credential comes from env().
func reconcileConfig(statePath, sandboxURL, sinkURL string, ipns []ipnBlock) string {
	var b strings.Builder
	fmt.Fprintf(&b, `state {
  path = %q
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("ACC_PESAPAL_KEY")
  consumer_secret = env("ACC_PESAPAL_SECRET")
  base_url        = %q
}
`, statePath, sandboxURL+"/pesapal")
	for _, i := range ipns {
		fmt.Fprintf(&b, `
ipn %q {
  provider          = provider.pesapal.ke
  url               = %q
  notification_type = %q
}

route %q {
  provider = provider.pesapal.ke
  path     = %q

  forward {
    url    = %q
    secret = env("ACC_WHSEC")
  }
}
`, i.name, i.url, i.notificationType, i.name, i.routePath, sinkURL)
	}
	return b.String()
}

// pesapalByHand is what an operator does in PesaPal's dashboard (or with
// curl): it talks to the sandbox directly with its own credentials.
type pesapalByHand struct {
	base  string
	token string
}

func newPesapalByHand(t *testing.T, sandboxURL string) *pesapalByHand {
	t.Helper()
	p := &pesapalByHand{base: sandboxURL + "/pesapal"}
	code, body := httpDo(t, http.MethodPost, p.base+"/api/Auth/RequestToken", []string{"Accept", "application/json"},
		[]byte(`{"consumer_key":"by-hand-key","consumer_secret":"by-hand-secret"}`))
	var tok struct {
		Token string `json:"token"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.Token == "" {
		t.Fatalf("pesapal token by hand: %d %s", code, body)
	}
	p.token = tok.Token
	return p
}

func (p *pesapalByHand) register(t *testing.T, url, typ string) string {
	t.Helper()
	code, body := httpDo(t, http.MethodPost, p.base+"/api/URLSetup/RegisterIPN", []string{"Authorization", "Bearer " + p.token},
		fmt.Appendf(nil, `{"url":%q,"ipn_notification_type":%q}`, url, typ))
	var r struct {
		IPNID string `json:"ipn_id"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.IPNID == "" {
		t.Fatalf("RegisterIPN by hand: %d %s", code, body)
	}
	return r.IPNID
}

// list is GetIpnList: URL → how many registrations it has.
func (p *pesapalByHand) list(t *testing.T) map[string]int {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, p.base+"/api/URLSetup/GetIpnList", []string{"Authorization", "Bearer " + p.token}, nil)
	var l []struct {
		URL string `json:"url"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &l) != nil {
		t.Fatalf("GetIpnList by hand: %d %s", code, body)
	}
	m := map[string]int{}
	for _, i := range l {
		m[i.URL]++
	}
	return m
}

// TestReconcileAgainstSandbox is issue 4's "Done when", with the binary
// and the emulator as separate processes: plan shows the IPNs to add and
// exits 2; apply registers each once (an IPN registered by hand before is
// adopted, not registered again); the next plan says "No changes." and
// exits 0; a changed URL plans -/+; a removed block plans - and says the
// IPN stays registered at PesaPal; a saved plan is refused after another
// apply; state list shows the addresses; and no credential appears in any
// output, plan file or the state file.
func TestReconcileAgainstSandbox(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, nil)
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config")
	if err := os.Mkdir(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(cfgDir, "finconnect.hcl")
	statePath := filepath.Join(dir, "state", "finconnect.db")
	if err := os.Mkdir(filepath.Dir(statePath), 0o700); err != nil {
		t.Fatal(err)
	}
	whsecValue, _ := whsec(t)
	key, sec := canary(t, "pesapal-key"), canary(t, "pesapal-secret")
	env := []string{"ACC_PESAPAL_KEY=" + key, "ACC_PESAPAL_SECRET=" + sec, "ACC_WHSEC=" + whsecValue}
	canaries := []string{key, sec, whsecValue}
	outputs := map[string]string{}
	cli := func(args ...string) cliResult {
		t.Helper()
		r := runCLI(t, env, args...)
		outputs[fmt.Sprintf("output of #%d %s", len(outputs)+1, strings.Join(args, " "))] = r.stdout + r.stderr
		return r
	}
	registrations := func() int {
		t.Helper()
		return sb.count(t, http.MethodPost, registerIPNPath, "")
	}

	public := "http://127.0.0.1:18080"
	orders := ipnBlock{"orders", public + "/hooks/pesapal", "POST", "/hooks/pesapal"}
	refunds := ipnBlock{"refunds", public + "/hooks/pesapal-refunds", "GET", "/hooks/pesapal-refunds"}
	writeFile(t, cfgFile, reconcileConfig(statePath, sb.url, "http://127.0.0.1:19000/events", []ipnBlock{orders, refunds}))

	if r := cli("validate", "-config", cfgDir); r.code != 0 || !strings.Contains(r.stdout, "Success!") {
		t.Fatalf("the configuration does not validate:\n%s", r)
	}

	// The operator registered the orders URL by hand before finconnectd
	// managed it.
	hand := newPesapalByHand(t, sb.url)
	handID := hand.register(t, orders.url, "POST")
	if n := registrations(); n != 1 {
		t.Fatalf("RegisterIPN requests before plan = %d, want 1 (ours)", n)
	}

	// 1. plan: two to add, the hand-made one adopted; exit 2.
	r := cli("plan", "-detailed-exitcode", "-config", cfgDir)
	if r.code != 2 {
		t.Fatalf("first plan: want exit 2 (changes)\n%s", r)
	}
	for _, want := range []string{
		"# ipn.orders will be created (adopts existing ipn_id " + handID + "; no new registration)",
		"# ipn.refunds will be created",
		`+ url               = "` + refunds.url + `"`,
		`+ notification_type = "GET"`,
		"Plan: 2 to add, 0 to change, 0 to forget.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("first plan lacks %q\n%s", want, r)
		}
	}
	if n := registrations(); n != 1 {
		t.Fatalf("plan registered something: %d RegisterIPN requests, want 1", n)
	}

	// 2. apply: registers refunds once, adopts orders.
	r = cli("apply", "-auto-approve", "-config", cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete! Resources: 2 added, 0 changed, 0 forgotten.") {
		t.Fatalf("first apply:\n%s", r)
	}
	if n := registrations(); n != 2 {
		t.Fatalf("after apply: %d RegisterIPN requests, want 2 (one by hand, one for ipn.refunds)", n)
	}
	if got := hand.list(t); got[orders.url] != 1 || got[refunds.url] != 1 {
		t.Fatalf("GetIpnList after apply: %v; want each URL registered once", got)
	}
	r = cli("state", "show", "-config", cfgDir, "ipn.orders")
	if r.code != 0 || !strings.Contains(r.stdout, handID) {
		t.Fatalf("state show ipn.orders does not carry the adopted ipn_id %s:\n%s", handID, r)
	}

	// 3. Nothing left: "No changes.", exit 0, nothing registered.
	r = cli("plan", "-detailed-exitcode", "-config", cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Fatalf("plan after apply: want exit 0 and No changes.\n%s", r)
	}
	r = cli("state", "list", "-config", cfgDir)
	if r.code != 0 || strings.Join(strings.Fields(r.stdout), " ") != "ipn.orders ipn.refunds" {
		t.Fatalf("state list: want ipn.orders and ipn.refunds\n%s", r)
	}

	// 4. A changed URL is a replacement; the old IPN stays at PesaPal.
	refunds2 := refunds
	refunds2.url, refunds2.routePath = public+"/hooks/refunds-v2", "/hooks/refunds-v2"
	writeFile(t, cfgFile, reconcileConfig(statePath, sb.url, "http://127.0.0.1:19000/events", []ipnBlock{orders, refunds2}))
	r = cli("plan", "-detailed-exitcode", "-config", cfgDir)
	if r.code != 2 {
		t.Fatalf("plan with a changed URL: want exit 2\n%s", r)
	}
	for _, want := range []string{"-/+ resource \"ipn\" \"refunds\"", "# ipn.refunds must be replaced", "stays registered at PesaPal",
		"# forces replacement", "Plan: 1 to add, 0 to change, 1 to forget."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("replace plan lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "ipn.orders") {
		t.Errorf("replace plan mentions the unchanged ipn.orders\n%s", r)
	}

	// 5. A plan saved now is stale after another apply.
	planFile := filepath.Join(dir, "tfplan")
	if r = cli("plan", "-config", cfgDir, "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out:\n%s", r)
	}
	r = cli("apply", "-auto-approve", "-config", cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete!") {
		t.Fatalf("apply of the replacement:\n%s", r)
	}
	if n := registrations(); n != 3 {
		t.Fatalf("after the replacement: %d RegisterIPN requests, want 3", n)
	}
	r = cli("apply", "-config", cfgDir, planFile)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "Saved plan is stale") {
		t.Fatalf("apply of a stale saved plan: want exit 1 and 'Saved plan is stale'\n%s", r)
	}
	if n := registrations(); n != 3 {
		t.Fatalf("the stale plan registered something: %d RegisterIPN requests, want 3", n)
	}
	if got := hand.list(t); got[refunds.url] != 1 || got[refunds2.url] != 1 {
		t.Fatalf("GetIpnList after the replacement: %v; the old URL stays registered once, the new one once", got)
	}

	// 6. A removed block is forgotten: it stays registered at PesaPal.
	writeFile(t, cfgFile, reconcileConfig(statePath, sb.url, "http://127.0.0.1:19000/events", []ipnBlock{orders}))
	r = cli("plan", "-detailed-exitcode", "-config", cfgDir)
	if r.code != 2 {
		t.Fatalf("plan without the refunds block: want exit 2\n%s", r)
	}
	for _, want := range []string{"# ipn.refunds will be forgotten", "stays registered at PesaPal", "Plan: 0 to add, 0 to change, 1 to forget."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("forget plan lacks %q\n%s", want, r)
		}
	}
	if !regexp.MustCompile(`(?m)^\s+- resource "ipn" "refunds"`).MatchString(r.stdout) {
		t.Errorf("forget plan does not mark ipn.refunds with -\n%s", r)
	}
	r = cli("apply", "-auto-approve", "-config", cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete! Resources: 0 added, 0 changed, 1 forgotten.") {
		t.Fatalf("apply of the forget:\n%s", r)
	}
	r = cli("state", "list", "-config", cfgDir)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "ipn.orders" {
		t.Fatalf("state list after forgetting: want only ipn.orders\n%s", r)
	}
	r = cli("plan", "-detailed-exitcode", "-json", "-config", cfgDir)
	if r.code != 0 {
		t.Fatalf("final plan -json: want exit 0\n%s", r)
	}
	var doc struct {
		FormatVersion   string            `json:"format_version"`
		ResourceChanges []json.RawMessage `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.FormatVersion == "" {
		t.Fatalf("plan -json is not one JSON document with format_version (%v)\n%s", err, r)
	}
	if n := registrations(); n != 3 {
		t.Fatalf("at the end: %d RegisterIPN requests, want 3", n)
	}
	if got := hand.list(t); got[orders.url] != 1 {
		t.Fatalf("GetIpnList at the end: %v; the orders URL must be registered exactly once", got)
	}

	// No credential in any output, the plan file or the state store.
	for _, p := range []string{planFile, statePath, statePath + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		outputs[p] = string(b)
	}
	noCanaries(t, canaries, outputs)
}

// TestApplyKilledHalfway: `apply` is SIGKILLed after it registered some of
// its IPNs (the sandbox answers slowly, so it is caught mid-way). The dead
// process still holds the state lock; the next plan takes it over (same
// host, same PID namespace, the PID is gone), adopts what was registered
// instead of registering it again, and the next apply finishes the job:
// every URL is registered exactly once at PesaPal.
func TestApplyKilledHalfway(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, map[string]any{"latency": "150ms"})
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config")
	if err := os.Mkdir(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	whsecValue, _ := whsec(t)
	env := []string{"ACC_PESAPAL_KEY=k", "ACC_PESAPAL_SECRET=s", "ACC_WHSEC=" + whsecValue}
	var ipns []ipnBlock
	for i := range 8 {
		path := fmt.Sprintf("/hooks/pesapal-%d", i)
		ipns = append(ipns, ipnBlock{fmt.Sprintf("ipn%d", i), "http://127.0.0.1:18080" + path, "POST", path})
	}
	writeFile(t, filepath.Join(cfgDir, "finconnect.hcl"), reconcileConfig(filepath.Join(dir, "finconnect.db"), sb.url, "http://127.0.0.1:19000/events", ipns))

	apply := startProc(t, "apply", env, "apply", "-auto-approve", "-config", cfgDir)
	eventually(t, 30*time.Second, "apply to register its first IPNs", func() bool {
		return sb.count(t, http.MethodPost, registerIPNPath, "") >= 2
	})
	apply.signal(t, syscall.SIGKILL)
	apply.waitExit(t, 10*time.Second)

	// What the killed apply wrote to state before it died (state is
	// written after each resource).
	r := runCLI(t, env, "state", "list", "-config", cfgDir)
	if r.code != 0 {
		t.Fatalf("state list after the killed apply:\n%s", r)
	}
	inState := strings.Count(r.stdout, "ipn.")

	// The re-plan takes over the dead apply's lock; what is in state is
	// settled, what was registered but not recorded (answered as the kill
	// came) is adopted, and only the rest is new.
	r = runCLI(t, env, "plan", "-detailed-exitcode", "-config", cfgDir)
	if r.code != 2 {
		t.Fatalf("plan after the killed apply: want exit 2\n%s", r)
	}
	// Registered: the requests the sandbox answered 2xx. The one the kill
	// cut while the sandbox was still waiting out its latency registered
	// nothing (it is recorded, answered 503, only once the sandbox sees
	// the connection gone: counted now, after the plan, not at the kill).
	before := sb.countOK(t, http.MethodPost, registerIPNPath)
	if before >= len(ipns) {
		t.Fatalf("apply registered all %d IPNs before it was killed; the test needs it caught half-way", before)
	}
	if inState > before {
		t.Fatalf("state has %d IPNs but only %d were registered\n%s", inState, before, r)
	}
	if !strings.Contains(r.stderr, "taking over the state lock of a process that no longer exists") {
		t.Errorf("plan did not say it took over the killed apply's lock\n%s", r)
	}
	if n := strings.Count(r.stdout, "(adopts existing ipn_id"); n != before-inState {
		t.Errorf("plan adopts %d IPNs, want %d (registered %d, recorded %d)\n%s", n, before-inState, before, inState, r)
	}
	if want := fmt.Sprintf("Plan: %d to add, 0 to change, 0 to forget.", len(ipns)-inState); !strings.Contains(r.stdout, want) {
		t.Errorf("plan lacks %q\n%s", want, r)
	}
	r = runCLI(t, env, "apply", "-auto-approve", "-config", cfgDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete!") {
		t.Fatalf("apply after the killed apply:\n%s", r)
	}
	got := newPesapalByHand(t, sb.url).list(t)
	for _, i := range ipns {
		if got[i.url] != 1 {
			t.Errorf("%s is registered %d times at PesaPal, want exactly once", i.url, got[i.url])
		}
	}
	if n := sb.countOK(t, http.MethodPost, registerIPNPath); n != len(ipns) {
		t.Errorf("RegisterIPN requests answered in all = %d, want %d (one per IPN)", n, len(ipns))
	}
	if r := runCLI(t, env, "plan", "-detailed-exitcode", "-config", cfgDir); r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("final plan: want No changes. and exit 0\n%s", r)
	}
}
