//go:build unix

package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// exitedPID returns the PID of a process that has exited and been reaped.
func exitedPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	return cmd.Process.Pid
}

// TestStartReleasesLeasesOfStoppedProcess: rows a dead process on this
// host and in this scope had claimed (with a long lease) are delivered at
// once by the next dispatcher; the rows of a running process, of another
// host, of our host name in another scope (a container with its own PID
// namespace, a cloned VM), of an unknown scope and of the older owner
// form keep their lease and go out only when it ends.
func TestStartReleasesLeasesOfStoppedProcess(t *testing.T) {
	t.Parallel()
	scope := procscope.Scope()
	if scope == "" {
		t.Skip("no process scope on this platform: no lease is ever judged dead")
	}
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	ctx := context.Background()
	dead := exitedPID(t)
	owners := map[string]string{
		"crashed": fmt.Sprintf("thishost/%s/%d/abc", scope, dead),
		"running": fmt.Sprintf("thishost/%s/%d/abc", scope, os.Getpid()),
		"remote":  fmt.Sprintf("otherhost/%s/%d/abc", scope, dead),
		// Same host name, another PID namespace (a container) or boot (a
		// cloned VM): its PID is not ours to look up.
		"elsewhere": fmt.Sprintf("thishost/%s/%d/abc", otherScope(scope), dead),
		"unscoped":  fmt.Sprintf("thishost//%d/abc", dead),
		"oldform":   fmt.Sprintf("thishost/%d/abc", dead),
	}
	live := []string{"running", "remote", "elsewhere", "unscoped", "oldform"}
	ids := map[string]string{}
	for _, who := range append([]string{"crashed"}, live...) {
		ids[who] = e.enqueue("orders")
		got, err := e.st.ClaimDeliveries(ctx, "orders", owners[who], e.clk.Now(), time.Hour, 1)
		if err != nil || len(got) != 1 || got[0].EventID != ids[who] {
			t.Fatalf("claim as %s: %v, %+v", who, err, got)
		}
	}
	free := e.enqueue("orders")

	var logs testkit.SyncBuffer
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Owner: NewOwner("thishost", scope, os.Getpid()),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	// Start released the crashed owner's lease before its workers ran;
	// the others' leases are live and still theirs.
	leaseOwners := e.liveLeaseOwners()
	if slices.Contains(leaseOwners, owners["crashed"]) {
		t.Errorf("live lease owners after start = %q; the crashed owner's lease is still live", leaseOwners)
	}
	for _, who := range live {
		if !slices.Contains(leaseOwners, owners[who]) {
			t.Errorf("live lease owners after start = %q; the %s owner's lease (%s) was released", leaseOwners, who, owners[who])
		}
	}
	e.waitStatus(ids["crashed"], "orders", state.DeliveryDelivered)
	e.waitStatus(free, "orders", state.DeliveryDelivered)
	want := fmt.Sprintf("delivery: released 1 leases of a stopped process (owner %s)", owners["crashed"])
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	for _, who := range live {
		if _, dels, _ := e.detail(ids[who]); dels[0].Attempts != 0 {
			t.Errorf("the %s owner's delivery was sent while its lease was live: %+v", who, dels[0])
		}
	}

	// Their leases end: now they go out.
	e.clk.Advance(time.Hour)
	d.Notify()
	for _, who := range live {
		e.waitStatus(ids[who], "orders", state.DeliveryDelivered)
	}
	if n, want := len(rv.requests()), len(owners)+1; n != want {
		t.Errorf("receiver got %d requests, want %d (each event once)", n, want)
	}
}

// TestStartReleasesNothingOutsideItsScope: a dispatcher whose owner name
// carries a scope other than the one this process runs in (or none) does
// not look PIDs up: procscope.Gone would look in the wrong place.
func TestStartReleasesNothingOutsideItsScope(t *testing.T) {
	t.Parallel()
	scope := procscope.Scope()
	if scope == "" {
		t.Skip("no process scope on this platform: no lease is ever judged dead")
	}
	for _, ours := range []string{otherScope(scope), ""} {
		e := newEnv(t)
		rv := newReceiver(t, e.clk.Now, nil)
		ctx := context.Background()
		crashed := fmt.Sprintf("thishost/%s/%d/abc", ours, exitedPID(t))
		id := e.enqueue("orders")
		if got, err := e.st.ClaimDeliveries(ctx, "orders", crashed, e.clk.Now(), time.Hour, 1); err != nil || len(got) != 1 {
			t.Fatalf("claim as %s: %v, %+v", crashed, err, got)
		}
		free := e.enqueue("orders")
		e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Owner: NewOwner("thishost", ours, os.Getpid())})
		// Start has released what it was going to release.
		if live := e.liveLeaseOwners(); !slices.Contains(live, crashed) {
			t.Errorf("owner scope %q: live lease owners after start = %q; the lease of %s was released", ours, live, crashed)
		}
		e.waitStatus(free, "orders", state.DeliveryDelivered)
		if _, dels, _ := e.detail(id); dels[0].Attempts != 0 {
			t.Errorf("owner scope %q: the delivery leased by %s was released and sent: %+v", ours, crashed, dels[0])
		}
	}
}

// liveLeaseOwners lists the owners of the leases live now, releasing none.
func (e *env) liveLeaseOwners() []string {
	e.t.Helper()
	var owners []string
	if _, err := e.st.ReleaseLeases(context.Background(), e.clk.Now(), func(o string) bool {
		owners = append(owners, o)
		return false
	}); err != nil {
		e.t.Fatal(err)
	}
	return owners
}

// otherScope is a scope that is not s.
func otherScope(s string) string {
	if s == "000000000000" {
		return "111111111111"
	}
	return "000000000000"
}
