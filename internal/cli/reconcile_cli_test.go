package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// rcWorld is a config directory pointing at an emulator on loopback.
type rcWorld struct {
	emu *sandbox.Emulator
	dir string
	env map[string]string
	st  *teststore.Store // the state file every command of the world opens
}

func newRCWorld(t *testing.T) *rcWorld {
	t.Helper()
	emu, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Stop(ctx)
	})
	w := &rcWorld{emu: emu, dir: t.TempDir(), env: map[string]string{
		"PESAPAL_KEY": "ck-canary-1111", "PESAPAL_SECRET": "cs-canary-2222", "AZ_SECRET": "az-canary-3333",
		"HOOK_SECRET": "whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRldi13ZWJob29r",
	}}
	w.st = teststore.Open(t, filepath.Join(w.dir, "state.db"))
	return w
}

// write writes the configuration with the given ipn blocks (name -> path).
func (w *rcWorld) write(t *testing.T, ipns map[string]string) {
	t.Helper()
	base := w.emu.URL()
	var b strings.Builder
	fmt.Fprintf(&b, `state {
  path = "state.db"
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("PESAPAL_KEY")
  consumer_secret = env("PESAPAL_SECRET")
  base_url        = "%[1]s/pesapal"
}

provider "azampay" "tz" {
  environment   = "sandbox"
  app_name      = "shop"
  client_id     = env("PESAPAL_KEY")
  client_secret = env("AZ_SECRET")
  api_key       = env("AZ_SECRET")
  auth_url      = "%[1]s/azampay-auth"
  base_url      = "%[1]s/azampay"
}
`, base)
	for name, path := range ipns {
		fmt.Fprintf(&b, `
ipn %q {
  provider          = provider.pesapal.ke
  url               = "http://127.0.0.1:8080%[2]s"
  notification_type = "POST"
}

route %[1]q {
  provider = provider.pesapal.ke
  path     = %[2]q
  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("HOOK_SECRET")
  }
}
`, name, path)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "main.hcl"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs finconnectd in-process.
func (w *rcWorld) run(t *testing.T, stdin string, terminal bool, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	io := IO{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		LookupEnv:       func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
		StdinIsTerminal: terminal, Cwd: w.dir,
	}
	opener := openStore
	var code int
	switch args[0] {
	case "plan":
		code = planMain(context.Background(), io, args[1:], opener)
	case "apply":
		code = applyMain(context.Background(), io, args[1:], opener)
	case "state":
		code = stateMain(context.Background(), io, args[1:], opener)
	default:
		t.Fatalf("unexpected command %v", args)
	}
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, "canary") {
			t.Errorf("finconnectd %v printed a secret:\n%s", args, s)
		}
	}
	return code, out.String(), errb.String()
}

func (w *rcWorld) calls(suffix string) int {
	n := 0
	for _, r := range w.emu.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func TestPlanApplyStateWorkflow(t *testing.T) {
	w := newRCWorld(t)
	w.write(t, map[string]string{"orders": "/hooks/orders"})

	code, out, errs := w.run(t, "", false, "plan", "-detailed-exitcode")
	if code != ExitChanges || !strings.Contains(out, "# ipn.orders will be created") || !strings.Contains(out, "Plan: 2 to add, 0 to change, 0 to forget.") {
		t.Fatalf("fresh plan: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = w.run(t, "", false, "apply", "-auto-approve")
	if code != ExitOK || !strings.Contains(out, "Apply complete! Resources: 2 added, 0 changed, 0 forgotten.") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	if n := w.calls("/RegisterIPN"); n != 1 {
		t.Errorf("RegisterIPN calls = %d, want 1", n)
	}
	code, out, _ = w.run(t, "", false, "plan", "-detailed-exitcode")
	if code != ExitOK || !strings.Contains(out, "No changes.") {
		t.Fatalf("converged plan: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "", false, "state", "list")
	if code != ExitOK || out != "ipn.orders\nkey.azampay.tz\n" {
		t.Errorf("state list: exit %d %q", code, out)
	}
	code, out, _ = w.run(t, "", false, "state", "show", "ipn.orders")
	if code != ExitOK || !strings.Contains(out, `resource "ipn" "orders" {`) || !strings.Contains(out, "ipn_id") {
		t.Errorf("state show: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "", false, "state", "show", "key.azampay.tz")
	if code != ExitOK || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Errorf("state show key: exit %d\n%s", code, out)
	}

	// A saved plan is refused after another apply.
	w.write(t, map[string]string{"orders": "/hooks/orders-v2"})
	planFile := filepath.Join(w.dir, "tfplan")
	code, out, _ = w.run(t, "", false, "plan", "-out", planFile)
	if code != ExitOK || !strings.Contains(out, "-/+ resource \"ipn\" \"orders\"") || !strings.Contains(out, "stays registered at PesaPal") {
		t.Fatalf("replace plan: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "", false, "apply", "-auto-approve")
	if code != ExitOK || !strings.Contains(out, "1 added, 0 changed, 1 forgotten") {
		t.Fatalf("replace apply: exit %d\n%s", code, out)
	}
	code, _, errs = w.run(t, "", false, "apply", planFile)
	if code != ExitError || !strings.Contains(errs, "Error: Saved plan is stale") {
		t.Errorf("stale plan: exit %d\n%s", code, errs)
	}

	// Removing the block forgets it; it stays registered at PesaPal.
	w.write(t, nil)
	code, out, _ = w.run(t, "", false, "plan", "-detailed-exitcode")
	if code != ExitChanges || !strings.Contains(out, "# ipn.orders will be forgotten") || !strings.Contains(out, "PesaPal has no delete") {
		t.Errorf("forget plan: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "", false, "plan", "-json")
	var doc struct {
		FormatVersion   string `json:"format_version"`
		ResourceChanges []struct {
			Address string   `json:"address"`
			Actions []string `json:"actions"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitOK {
		t.Fatalf("plan -json: exit %d, %v\n%s", code, err, out)
	}
	if doc.FormatVersion != "1.0" || len(doc.ResourceChanges) != 1 || doc.ResourceChanges[0].Actions[0] != "forget" {
		t.Errorf("plan -json = %+v", doc)
	}
	code, out, _ = w.run(t, "", false, "state", "rm", "ipn.orders")
	if code != ExitOK || !strings.Contains(out, "stays registered at PesaPal") {
		t.Errorf("state rm: exit %d\n%s", code, out)
	}
	code, _, errs = w.run(t, "", false, "state", "show", "ipn.orders")
	if code != ExitError || !strings.Contains(errs, "no resource") {
		t.Errorf("state show after rm: exit %d\n%s", code, errs)
	}
}

func TestApplyApproval(t *testing.T) {
	tests := []struct {
		name     string
		stdin    string
		terminal bool
		code     int
		want     string
		register int
	}{
		{"no terminal", "", false, ExitError, "-auto-approve", 0},
		{"answer no", "no\n", true, ExitError, "Apply cancelled.", 0},
		{"answer yes", "yes\n", true, ExitOK, "Apply complete! Resources: 2 added", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRCWorld(t)
			w.write(t, map[string]string{"orders": "/hooks/orders"})
			code, out, errs := w.run(t, tt.stdin, tt.terminal, "apply")
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, tt.code, tt.want, out, errs)
			}
			if n := w.calls("/RegisterIPN"); n != tt.register {
				t.Errorf("RegisterIPN calls = %d, want %d", n, tt.register)
			}
		})
	}
}

func TestLockHeldAndForceUnlock(t *testing.T) {
	w := newRCWorld(t)
	w.write(t, map[string]string{"orders": "/hooks/orders"})
	st := w.st
	holder := state.LockInfo{ID: "11111111-2222-3333-4444-555555555555", Host: "elsewhere", PID: 4242, Operation: "apply", Since: time.Now()}
	if err := st.Lock(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plan"}, {"apply", "-auto-approve"}, {"state", "rm", "ipn.orders"}} {
		code, _, errs := w.run(t, "", false, args...)
		if code != ExitError || !strings.Contains(errs, "locked by apply (pid 4242 on elsewhere)") || !strings.Contains(errs, holder.ID) {
			t.Errorf("%v under a held lock: exit %d\n%s", args, code, errs)
		}
	}
	if n := w.calls("/RegisterIPN"); n != 0 {
		t.Errorf("RegisterIPN calls under a held lock = %d", n)
	}
	code, _, errs := w.run(t, "", false, "state", "force-unlock", holder.ID)
	if code != ExitError || !strings.Contains(errs, "-force") {
		t.Errorf("force-unlock without terminal: exit %d\n%s", code, errs)
	}
	code, out, _ := w.run(t, "", false, "state", "force-unlock", "-force", holder.ID)
	if code != ExitOK || !strings.Contains(out, "unlocked") {
		t.Errorf("force-unlock: exit %d\n%s", code, out)
	}
	if code, _, errs := w.run(t, "", false, "apply", "-auto-approve"); code != ExitOK {
		t.Errorf("apply after force-unlock: exit %d\n%s", code, errs)
	}
}

func TestInvalidCredentialsCLI(t *testing.T) {
	w := newRCWorld(t)
	w.env["PESAPAL_SECRET"] = "invalid"
	w.write(t, map[string]string{"orders": "/hooks/orders"})
	code, _, errs := w.run(t, "", false, "plan")
	if code != ExitError || !strings.Contains(errs, `Error: Invalid credentials for provider "pesapal" "ke"`) {
		t.Errorf("exit %d\n%s", code, errs)
	}
}

func TestReconcileCommandsHelpAndArgs(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plan", "-help"}, ExitOK, "-detailed-exitcode"},
		{[]string{"apply", "-help"}, ExitOK, "-auto-approve"},
		{[]string{"state", "-help"}, ExitOK, "force-unlock ID"},
		{[]string{"state", "show", "-help"}, ExitOK, "state show"},
		{[]string{"state"}, ExitError, "Subcommands"},
		{[]string{"state", "bogus"}, ExitError, "unknown subcommand"},
		{[]string{"state", "show"}, ExitError, "wrong number of arguments"},
		{[]string{"plan", "extra"}, ExitError, "unexpected argument"},
		{[]string{"apply", "a", "b"}, ExitError, "too many arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), tt.args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Cwd: t.TempDir()})
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, tt.code, tt.want, out.String(), errb.String())
			}
		})
	}
}

func TestParsePlanArgs(t *testing.T) {
	tests := []struct {
		args []string
		want planArgs
	}{
		{nil, planArgs{Refresh: true}},
		{[]string{"-refresh=false", "-json", "-out", "p", "-detailed-exitcode", "-lock-timeout", "2m", "-config", "c"},
			planArgs{Config: "c", Out: "p", DetailedExitcode: true, JSON: true, Refresh: false, LockTimeout: 2 * time.Minute}},
	}
	for _, tt := range tests {
		got, err := parsePlanArgs(tt.args, &bytes.Buffer{})
		if err != nil || got != tt.want {
			t.Errorf("parsePlanArgs(%v) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
}
