package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Helpers of the config commands' tests are prefixed cfg: other commands'
// tests live in the same package.

const cfgWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

type cfgResult struct {
	code           int
	stdout, stderr string
}

// cfgRun runs finconnectd in-process with env and working directory cwd.
func cfgRun(t testing.TB, env map[string]string, cwd string, stdin string, args ...string) cfgResult {
	t.Helper()
	var out, errb bytes.Buffer
	io := IO{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		Cwd: cwd,
	}
	code := Run(context.Background(), args, io)
	return cfgResult{code, out.String(), errb.String()}
}

// checkCode reports an exit code other than want, with what the command
// said on stderr.
func (r cfgResult) checkCode(t testing.TB, want int) {
	t.Helper()
	if r.code != want {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", r.code, want, r.stderr)
	}
}

func cfgRepoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("finding the repository root: %v", err)
	}
	return root
}

var cfgEnvCall = regexp.MustCompile(`env\("([A-Z0-9_]+)"`)

// cfgExampleEnv gives every variable the examples name the value value
// (webhook secrets stay valid).
func cfgExampleEnv(t testing.TB, value string) map[string]string {
	t.Helper()
	env := map[string]string{}
	files, err := filepath.Glob(filepath.Join(cfgRepoRoot(t), "examples", "*.hcl"))
	if err != nil {
		t.Fatalf("listing the examples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading an example: %v", err)
		}
		for _, m := range cfgEnvCall.FindAllSubmatch(b, -1) {
			env[string(m[1])] = value
			if strings.Contains(string(m[1]), "WEBHOOK_SECRET") {
				env[string(m[1])] = cfgWebhookSecret
			}
		}
	}
	return env
}

func cfgWrite(t testing.TB, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatalf("creating the directory of %s: %v", name, err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatalf("writing %s: %v", name, err)
	}
	return p
}

const cfgValid = `api {
  tokens = [env("TOKEN")]
}

provider "clickpesa" "tz" {
  client_id = env("TOKEN")
  api_key   = env("TOKEN")
}

route "clickpesa" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("WEBHOOK_SECRET")
  }
}
`

func TestValidate(t *testing.T) {
	root := cfgRepoRoot(t)
	dir := t.TempDir()
	cfgWrite(t, dir, "ok/main.hcl", cfgValid)
	cfgWrite(t, dir, "warn/main.hcl", strings.Replace(cfgValid, `[env("TOKEN")]`, `[]`, 1))
	cfgWrite(t, dir, "bad/a.hcl", strings.Replace(cfgValid, `"/hooks/clickpesa"`, `"hooks"`, 1))
	cfgWrite(t, dir, "bad/b.hcl", `schedule "reconcile" { cron = "often" }`+"\n")
	env := map[string]string{"TOKEN": "tok", "WEBHOOK_SECRET": cfgWebhookSecret}

	tests := []struct {
		name       string
		env        map[string]string
		cwd        string
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring; "" means stderr must be empty
		stderrNot  string
		stderrRegx string
	}{
		{name: "production example", env: cfgExampleEnv(t, "dummy"), cwd: root, args: []string{"validate", "-config", "examples/production.hcl"}, code: ExitOK, stdout: "Success! The configuration is valid.\n"},
		{name: "minimal example", env: cfgExampleEnv(t, "dummy"), cwd: root, args: []string{"validate", "-config", "examples/minimal.hcl"}, code: ExitOK, stdout: "Success!"},
		{name: "dev example without env", env: nil, cwd: root, args: []string{"validate", "-config", "examples/dev.hcl"}, code: ExitOK, stdout: "Success!"},
		{name: "directory flag", env: env, cwd: dir, args: []string{"validate", "-config", "ok"}, code: ExitOK, stdout: "Success!"},
		{name: "FINCONNECT_CONFIG", env: map[string]string{"TOKEN": "t", "WEBHOOK_SECRET": cfgWebhookSecret, "FINCONNECT_CONFIG": filepath.Join(dir, "ok")}, cwd: "/", args: []string{"validate"}, code: ExitOK, stdout: "Success!"},
		{name: "working directory", env: env, cwd: filepath.Join(dir, "ok"), args: []string{"validate"}, code: ExitOK, stdout: "Success!"},
		{name: "warnings still valid", env: env, cwd: dir, args: []string{"validate", "-config", "warn"}, code: ExitOK, stdout: "Success! The configuration is valid, but there were some warnings as shown above.", stderr: "Warning: No API tokens"},
		{name: "errors in two files", env: env, cwd: dir, args: []string{"validate", "-config", "bad"}, code: ExitError, stderr: "on bad/b.hcl line 1, in schedule \"reconcile\":", stderrRegx: `(?s)Error: Invalid route path.*on bad/a\.hcl line 12.*Error: Invalid cron spec`},
		{name: "working directory names files relatively", env: env, cwd: filepath.Join(dir, "bad"), args: []string{"validate"}, code: ExitError, stderr: "  on a.hcl line 12, in route \"clickpesa\":"},
		{name: "missing env", env: nil, cwd: dir, args: []string{"validate", "-config", "ok"}, code: ExitError, stderr: "Error: Environment variable not set"},
		{name: "missing config", env: env, cwd: dir, args: []string{"validate", "-config", "nope.hcl"}, code: ExitError, stderr: "Error: Cannot read configuration"},
		{name: "help", args: []string{"validate", "-help"}, code: ExitOK, stderr: "Examples:"},
		{name: "bad flag", args: []string{"validate", "-bogus"}, code: ExitError, stderr: "Usage: finconnectd validate"},
		{name: "positional argument", args: []string{"validate", "prod.hcl"}, code: ExitError, stderr: "unexpected argument \"prod.hcl\""},
		{name: "no colour off a terminal", env: env, cwd: dir, args: []string{"validate", "-config", "bad"}, code: ExitError, stderrNot: "\x1b["},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cfgRun(t, tt.env, tt.cwd, "", tt.args...)
			r.checkCode(t, tt.code)
			if tt.stdout != "" && !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", r.stdout, tt.stdout)
			}
			if tt.code == ExitError && strings.Contains(r.stdout, "Success") {
				t.Errorf("stdout = %q, want no Success on an error", r.stdout)
			}
			switch {
			case tt.stderr != "":
				if !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.stderr)
				}
			case tt.stderrNot == "" && tt.stderrRegx == "":
				if r.stderr != "" {
					t.Errorf("stderr = %q, want it empty", r.stderr)
				}
			}
			if tt.stderrNot != "" && strings.Contains(r.stderr, tt.stderrNot) {
				t.Errorf("stderr = %q, want it not to contain %q", r.stderr, tt.stderrNot)
			}
			if tt.stderrRegx != "" && !regexp.MustCompile(tt.stderrRegx).MatchString(r.stderr) {
				t.Errorf("stderr = %q, want a match for %q", r.stderr, tt.stderrRegx)
			}
		})
	}
}

func TestValidateColour(t *testing.T) {
	dir := t.TempDir()
	cfgWrite(t, dir, "bad.hcl", `schedule "reconcile" { cron = "often" }`+"\n")
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		code := Run(context.Background(), args, IO{Stdout: &out, Stderr: &errb, Cwd: dir, StderrIsTerminal: true})
		if code != ExitError {
			t.Fatalf("finconnectd %s: exit code = %d, want %d", strings.Join(args, " "), code, ExitError)
		}
		return errb.String()
	}
	if got, want := run("validate", "-config", "bad.hcl"), "\x1b[31mError\x1b[0m"; !strings.Contains(got, want) {
		t.Errorf("stderr on a terminal = %q, want it to contain the red %q", got, want)
	}
	if got := run("validate", "-no-color", "-config", "bad.hcl"); strings.Contains(got, "\x1b[") {
		t.Errorf("stderr with -no-color = %q, want no escape sequence", got)
	}
}

func TestParseValidateArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    validateArgs
		wantErr bool
	}{
		{nil, validateArgs{}, false},
		{[]string{"-config", "x.hcl"}, validateArgs{Config: "x.hcl"}, false},
		{[]string{"-config=dir", "-no-color"}, validateArgs{Config: "dir", NoColor: true}, false},
		{[]string{"-x"}, validateArgs{}, true},
		{[]string{"extra"}, validateArgs{}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parseValidateArgs(tt.args, &bytes.Buffer{})
			if tt.wantErr {
				if err == nil {
					t.Errorf("parseValidateArgs gave %+v and no error, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseValidateArgs: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseValidateArgs = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestConfigCommandsNeverPrintSecrets runs validate, fmt and version with
// every environment variable set to a canary and configurations that put
// sensitive values into errors and warnings; no output contains it.
func TestConfigCommandsNeverPrintSecrets(t *testing.T) {
	const canary = "canary-0b7e1f-5eb63bbbe01eeed093cb22bb8f5acdc3"
	root := cfgRepoRoot(t)
	env := cfgExampleEnv(t, canary)
	env["C"] = canary
	env["TOKEN"] = canary
	env["WEBHOOK_SECRET"] = canary // not whsec_: an error about a secret
	dir := t.TempDir()
	cfgWrite(t, dir, "secret.key", canary+"\n")
	cfgWrite(t, dir, "bad/main.hcl", strings.Replace(cfgValid, `url    = "http://127.0.0.1:9000/events"`, `url    = env("C")`, 1)+`
schedule "reconcile" { cron = env("C") }
server {
  listen     = file("../secret.key")
  public_url = "https://${env("C")}:1/x"
}
state {
  backend = trimspace(file("../secret.key"))
}
`)
	cfgWrite(t, dir, "literal/main.hcl", strings.Replace(cfgValid, `[env("TOKEN")]`, `[tostring(env("TOKEN"))]`, 1))
	runs := [][]string{
		{"validate", "-config", filepath.Join(root, "examples")},
		{"validate", "-config", filepath.Join(root, "examples", "production.hcl")},
		{"validate", "-config", filepath.Join(root, "examples", "dev.hcl")},
		{"validate", "-config", "bad"},
		{"validate", "-config", "literal"},
		{"validate"},
		{"fmt", "-check", "-diff", filepath.Join(root, "examples")},
		{"fmt", "-check", "-diff", "bad"},
		{"version"},
	}
	for _, args := range runs {
		r := cfgRun(t, env, dir, "", args...)
		if out := r.stdout + r.stderr; strings.Contains(out, canary[:16]) {
			// canary[:16] is a prefix of canary: this catches both.
			t.Errorf("finconnectd %s shows the secret (or its start):\n%s", strings.Join(args, " "), out)
		}
	}
	r := cfgRun(t, env, dir, "", "validate", "-config", "bad")
	if r.code != ExitError {
		t.Errorf("exit code = %d, want %d", r.code, ExitError)
	}
	if !strings.Contains(r.stderr, "(sensitive value)") {
		t.Errorf("stderr = %q, want it to show %q in place of the secret", r.stderr, "(sensitive value)")
	}
}
