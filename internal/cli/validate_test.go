package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func cfgRepoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

var cfgEnvCall = regexp.MustCompile(`env\("([A-Z0-9_]+)"`)

// cfgExampleEnv gives every variable the examples name the value value
// (webhook secrets stay valid).
func cfgExampleEnv(t testing.TB, value string) map[string]string {
	t.Helper()
	env := map[string]string{}
	files, err := filepath.Glob(filepath.Join(cfgRepoRoot(t), "examples", "*.hcl"))
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
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
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
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
			assert.Equal(t, tt.code, r.code, "stderr:\n%s", r.stderr)
			if tt.stdout != "" {
				assert.Contains(t, r.stdout, tt.stdout)
			}
			if tt.code == ExitError {
				assert.NotContains(t, r.stdout, "Success")
			}
			switch {
			case tt.stderr != "":
				assert.Contains(t, r.stderr, tt.stderr)
			case tt.stderrNot == "" && tt.stderrRegx == "":
				assert.Empty(t, r.stderr)
			}
			if tt.stderrNot != "" {
				assert.NotContains(t, r.stderr, tt.stderrNot)
			}
			if tt.stderrRegx != "" {
				assert.Regexp(t, tt.stderrRegx, r.stderr)
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
		require.Equal(t, ExitError, code)
		return errb.String()
	}
	assert.Contains(t, run("validate", "-config", "bad.hcl"), "\x1b[31mError\x1b[0m")
	assert.NotContains(t, run("validate", "-no-color", "-config", "bad.hcl"), "\x1b[")
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
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
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
		assert.NotContains(t, r.stdout+r.stderr, canary, "finconnectd %s", strings.Join(args, " "))
		assert.NotContains(t, r.stdout+r.stderr, canary[:16], "finconnectd %s", strings.Join(args, " "))
	}
	r := cfgRun(t, env, dir, "", "validate", "-config", "bad")
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "(sensitive value)")
}
