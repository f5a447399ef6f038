package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// TestReadOnlyCommandsCreateNoStore: the commands that read a store refuse
// to run without one instead of creating an empty one next to the
// configuration, and print the configuration's warnings not at all
// (validate does).
func TestReadOnlyCommandsCreateNoStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// No api block: a warning ("No API tokens") but a valid configuration.
	src := "state {\n  path = \"dev.db\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "dev.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"payments", "list", "-config", "dev.hcl"},
		{"payments", "show", "-config", "dev.hcl", "pay_x"},
		{"events", "list", "-config", "dev.hcl"},
		{"events", "replay", "-config", "dev.hcl", "evt_x"},
		{"state", "list", "-config", "dev.hcl"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cfgRun(t, nil, dir, "", args...)
			if r.code != ExitError || !strings.Contains(r.stderr, "no state store at "+filepath.Join(dir, "dev.db")) {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "Warning") {
				t.Errorf("a read-only command printed the configuration's warnings:\n%s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "dev.db")); !os.IsNotExist(err) {
				t.Fatalf("%v created the store (stat: %v)", args, err)
			}
		})
	}
	// With the store there, the same commands work and still say nothing
	// about the configuration.
	teststore.Open(t, filepath.Join(dir, "dev.db")).Put(state.Payment{ID: "pay_a", Provider: "clickpesa.tz", Reference: "R1",
		Status: "pending", Amount: "1", Currency: "TZS", CreatedAt: time.Now(), UpdatedAt: time.Now()})
	r := cfgRun(t, nil, dir, "", "payments", "list", "-config", "dev.hcl")
	if r.code != ExitOK || !strings.Contains(r.stdout, "pay_a") || r.stderr != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestDevFlagReadsTheServeDevStore: -dev finds the store serve -dev
// recorded under the cache directory, and says clearly when none runs.
func TestDevFlagReadsTheServeDevStore(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	env := map[string]string{"XDG_CACHE_HOME": cache, "HOME": t.TempDir()}
	r := cfgRun(t, env, t.TempDir(), "", "payments", "list", "-dev")
	if r.code != ExitError || !strings.Contains(r.stderr, "no 'finconnectd serve -dev' is running") {
		t.Fatalf("without serve -dev: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	store := filepath.Join(t.TempDir(), "finconnect.db")
	st := teststore.Open(t, store)
	st.Put(state.Payment{ID: "pay_dev", Provider: "clickpesa.tz", Reference: "R1",
		Status: "pending", Amount: "1", Currency: "TZS", CreatedAt: time.Now(), UpdatedAt: time.Now()})
	rec := filepath.Join(cache, "finconnectd", "dev-state")
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rec, []byte(store+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cfgRun(t, env, t.TempDir(), "", "payments", "list", "-dev")
	if r.code != ExitOK || !strings.Contains(r.stdout, "pay_dev") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = cfgRun(t, env, t.TempDir(), "", "events", "list", "-dev")
	if r.code != ExitOK || !strings.Contains(r.stdout, "No deliveries.") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = cfgRun(t, env, t.TempDir(), "", "events", "list", "-dev", "-config", "x.hcl")
	if r.code != ExitError || !strings.Contains(r.stderr, "drop -config") {
		t.Fatalf("-dev with -config: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
