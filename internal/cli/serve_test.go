package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

func TestParseServeArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    serveArgs
		wantErr string
	}{
		{nil, serveArgs{}, ""},
		{[]string{"-config", "/etc/finconnectd"}, serveArgs{Config: "/etc/finconnectd"}, ""},
		{[]string{"-dev", "-debug"}, serveArgs{Dev: true, Debug: true}, ""},
		{[]string{"-dev", "-config", "x"}, serveArgs{}, "drop -config"},
		{[]string{"extra"}, serveArgs{}, "unexpected arguments"},
		{[]string{"-nope"}, serveArgs{}, "not defined"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseServeArgs(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestServeReportsStoreFailure(t *testing.T) {
	dir := t.TempDir()
	src := `
api {
  listen = "127.0.0.1:0"
  tokens = [env("T")]
}
server {
  listen = "127.0.0.1:0"
}
provider "clickpesa" "tz" {
  client_id = env("T")
  api_key   = env("T")
}
route "cp" {
  provider = provider.clickpesa.tz
  path     = "/hooks/cp"
  forward {
    url    = "http://127.0.0.1:9/events"
    secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	io := IO{Stdout: &stdout, Stderr: &stderr, Cwd: dir, LookupEnv: func(k string) (string, bool) {
		if k == "T" {
			return "token-value", true
		}
		return "", false
	}}
	failing := func(_ context.Context, sio IO, _ *config.Config) (state.Store, error) {
		// A store's own warnings (a stale lock taken over) go through the
		// daemon's logger, in its format (JSON here: not a terminal).
		if sio.StoreLog == nil {
			t.Error("serve opened the store without its logger")
		} else {
			sio.StoreLog.Warn("state lock taken over (test)")
		}
		return nil, errors.New("open state store (test): disk on fire")
	}
	code := serveWith(context.Background(), io, []string{"-config", dir}, failing)
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, ExitError, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Error: open state store (test): disk on fire") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"state lock taken over (test)"`) {
		t.Errorf("the store's warning is not a JSON line of the daemon's log:\n%s", stderr.String())
	}
	if first, _, _ := strings.Cut(stderr.String(), "\n"); strings.Contains(stderr.String(), "stopping") ||
		!strings.Contains(stderr.String(), `"msg":"serve could not start"`) || strings.Contains(first, "stopp") {
		t.Errorf("a failed start should log its cause first and no draining:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "token-value") {
		t.Fatalf("a secret reached stderr")
	}
}
