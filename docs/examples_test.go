package docs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/cli"
)

var envCall = regexp.MustCompile(`env\("([A-Z0-9_]+)"\)`) // env(NAME) without a default

// envFile reads KEY=value lines, commented-out ones too (those are
// optional), as systemd's EnvironmentFile= and `set -a; . FILE` do.
func envFile(t *testing.T, path string) (set, optional map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	set, optional = map[string]string{}, map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		target := set
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			line, target = rest, optional
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			target[k] = v
		}
	}
	return set, optional
}

// TestProductionEnvExample: examples/finconnectd.env.example names every
// variable examples/production.hcl reads (the PostgreSQL one, commented
// out in both, commented out too), and with its placeholder values the
// configuration validates.
func TestProductionEnvExample(t *testing.T) {
	hcl, err := os.ReadFile("../examples/production.hcl")
	if err != nil {
		t.Fatal(err)
	}
	set, optional := envFile(t, "../examples/finconnectd.env.example")
	var missing []string
	for _, m := range envCall.FindAllSubmatch(hcl, -1) {
		name := string(m[1])
		_, isSet := set[name]
		_, isOptional := optional[name]
		if !isSet && !isOptional && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("examples/finconnectd.env.example does not list %v", missing)
	}

	abs, err := filepath.Abs("../examples/production.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := cli.Run(context.Background(), []string{"validate", "-config", abs}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Cwd: t.TempDir(),
		LookupEnv: func(k string) (string, bool) { v, ok := set[k]; return v, ok },
	})
	if code != cli.ExitOK || !strings.Contains(out.String(), "Success!") {
		t.Errorf("validate examples/production.hcl with the example environment: exit %d\n%s", code, out.String())
	}
}
