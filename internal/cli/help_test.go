package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// flagLine is a flag's line in flag.PrintDefaults output: "  -name ARG".
var flagLine = regexp.MustCompile(`(?m)^  -(\S+)(?: (.*))?$`)

// TestHelpFlagArguments: every command's -help names a flag's argument
// with one word (flag.PrintDefaults takes a `backquoted` part of the usage
// as the argument's name, so a backquoted example becomes the name).
func TestHelpFlagArguments(t *testing.T) {
	t.Parallel()
	names := make([]string, 0, len(commands()))
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	word := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9:._-]*$`)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			r := cfgRun(t, nil, t.TempDir(), "", n, "-help")
			out := r.stdout + r.stderr
			if r.code != ExitOK || !strings.Contains(out, "Usage: finconnectd "+n) {
				t.Fatalf("exit %d:\n%s", r.code, out)
			}
			for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
				if m[2] != "" && !word.MatchString(m[2]) {
					t.Errorf("flag -%s's argument is named %q", m[1], m[2])
				}
			}
		})
	}
}

func TestServeHelpHasExamples(t *testing.T) {
	t.Parallel()
	r := cfgRun(t, nil, t.TempDir(), "", "serve", "-help")
	for _, want := range []string{"Examples:\n  finconnectd serve -dev\n", "-emulator-listen host:port", "127.0.0.1:9999"} {
		if !strings.Contains(r.stderr+r.stdout, want) {
			t.Errorf("serve -help lacks %q:\n%s", want, r.stderr+r.stdout)
		}
	}
}

// TestNoColor: diagnostics on a terminal are coloured unless NO_COLOR is
// set to something.
func TestNoColor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("schedule \"sync_payments\" { cron = \"* *\" }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.hcl")
	if err := os.WriteFile(broken, []byte("api {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env   map[string]string
		color bool
	}{
		{nil, true},
		{map[string]string{"NO_COLOR": ""}, true},
		{map[string]string{"NO_COLOR": "1"}, false},
	} {
		var stdout, stderr bytes.Buffer
		io := IO{Stdout: &stdout, Stderr: &stderr, Cwd: dir, StderrIsTerminal: true,
			LookupEnv: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }}
		if code := Run(context.Background(), []string{"validate"}, io); code != ExitError {
			t.Fatalf("validate exit %d:\n%s", code, stderr.String())
		}
		if got := strings.Contains(stderr.String(), "\x1b["); got != c.color {
			t.Errorf("env %v: colour %v, want %v:\n%q", c.env, got, c.color, stderr.String())
		}
		stderr.Reset()
		if code := Run(context.Background(), []string{"fmt", "-check", broken}, io); code == ExitOK {
			t.Fatalf("fmt -check passed an invalid file")
		}
		if got := strings.Contains(stderr.String(), "\x1b["); got != c.color {
			t.Errorf("fmt, env %v: colour %v, want %v:\n%q", c.env, got, c.color, stderr.String())
		}
	}
}
