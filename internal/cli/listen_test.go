package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestListenAndEventsTest: 'events test ROUTE' signs a test event with the
// route's secret and POSTs it to the forward; 'listen' verifies and prints
// it; a route with another secret is refused (401) and events test fails.
func TestListenAndEventsTest(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	const other = "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
	addr := testkit.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"listen", "-listen", addr}, IO{Stdout: out, Stderr: errb,
			LookupEnv: func(k string) (string, bool) { return secret, k == "FINCONNECT_LISTEN_SECRET" }})
	}()
	testkit.Eventually(t, "listen did not start", func() bool { return strings.Contains(errb.String(), "Listening for events on") })
	if strings.Contains(errb.String(), "Secret for the route") {
		t.Errorf("listen printed a made-up secret although one was given:\n%s", errb.String())
	}

	dir := t.TempDir()
	src := `
provider "clickpesa" "tz" {
  client_id = "x"
  api_key   = "y"
}
route "good" {
  provider = provider.clickpesa.tz
  path     = "/hooks/a"
  forward {
    url    = "http://%[1]s/events"
    secret = %[2]q
  }
}
route "bad" {
  provider = provider.clickpesa.tz
  path     = "/hooks/b"
  forward {
    url    = "http://%[1]s/elsewhere"
    secret = %[3]q
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fmt.Sprintf(src, addr, secret, other)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cfgRun(t, nil, dir, "", "events", "test", "good")
	if r.code != ExitOK || !strings.Contains(r.stdout, "to route good: HTTP 204") {
		t.Fatalf("events test good: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	testkit.Eventually(t, "listen did not print the test event", func() bool { return strings.Contains(out.String(), "event sink: test pay_test reference TEST") })
	r = cfgRun(t, nil, dir, "", "events", "test", "bad")
	if r.code != ExitError || !strings.Contains(r.stdout, "HTTP 401") {
		t.Fatalf("events test bad: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cfgRun(t, nil, dir, "", "events", "test", "nope"); r.code != ExitError || !strings.Contains(r.stderr, `no route "nope"`) {
		t.Fatalf("events test nope: exit %d\n%s", r.code, r.stderr)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("listen exit %d:\n%s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop")
	}
	if strings.Count(out.String(), "signature verified") != 1 {
		t.Errorf("listen printed:\n%s", out.String())
	}
}

// TestListenMakesASecret: without $FINCONNECT_LISTEN_SECRET listen makes
// one and prints it for the route.
func TestListenMakesASecret(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var errb testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"listen", "-listen", "127.0.0.1:0"}, IO{Stdout: &bytes.Buffer{}, Stderr: &errb})
	}()
	testkit.Eventually(t, "no secret printed", func() bool { return strings.Contains(errb.String(), "Secret for the route's forward block: whsec_") })
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d", code)
	}
}
