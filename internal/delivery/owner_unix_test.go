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
	"github.com/finconnectd/finconnectd/internal/state"
)

func TestProcessGone(t *testing.T) {
	for _, tt := range []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), false},
		{"init (not ours to signal)", 1, false},
		{"zero", 0, false},
		{"negative", -1, false},
		{"exited and reaped", exitedPID(t), true},
	} {
		if got := processGone(tt.pid); got != tt.want {
			t.Errorf("processGone(%d) (%s) = %v, want %v", tt.pid, tt.name, got, tt.want)
		}
	}
}

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
// host had claimed (with a long lease) are delivered at once by the next
// dispatcher; a running process's rows and another host's rows keep their
// lease and go out only when it ends.
func TestStartReleasesLeasesOfStoppedProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := newReceiver(t, e.clk.Now, nil)
	ctx := context.Background()
	dead := exitedPID(t)
	owners := map[string]string{
		"crashed": fmt.Sprintf("thishost/%d/abc", dead),
		"running": fmt.Sprintf("thishost/%d/abc", os.Getpid()),
		"remote":  fmt.Sprintf("otherhost/%d/abc", dead),
	}
	ids := map[string]string{}
	for _, who := range []string{"crashed", "running", "remote"} {
		ids[who] = e.enqueue("orders")
		got, err := e.st.ClaimDeliveries(ctx, "orders", owners[who], e.clk.Now(), time.Hour, 1)
		if err != nil || len(got) != 1 || got[0].EventID != ids[who] {
			t.Fatalf("claim as %s: %v, %+v", who, err, got)
		}
	}
	free := e.enqueue("orders")

	var logs syncBuffer
	d := e.start(Config{Routes: []*config.Route{route("orders", rv.URL())}, Owner: NewOwner("thishost", os.Getpid()),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	// Start released the crashed owner's lease before its workers ran;
	// the others' leases are live and still theirs.
	var leaseOwners []string
	if _, err := e.st.ReleaseLeases(ctx, e.clk.Now(), func(o string) bool {
		leaseOwners = append(leaseOwners, o)
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(leaseOwners, owners["crashed"]) || !slices.Contains(leaseOwners, owners["running"]) || !slices.Contains(leaseOwners, owners["remote"]) {
		t.Errorf("live lease owners after start = %q; want the running and the remote owner, not the crashed one", leaseOwners)
	}
	e.waitStatus(ids["crashed"], "orders", state.DeliveryDelivered)
	e.waitStatus(free, "orders", state.DeliveryDelivered)
	want := fmt.Sprintf("delivery: released 1 leases of a stopped process (owner %s)", owners["crashed"])
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	for _, who := range []string{"running", "remote"} {
		if _, dels, _ := e.detail(ids[who]); dels[0].Attempts != 0 {
			t.Errorf("the %s owner's delivery was sent while its lease was live: %+v", who, dels[0])
		}
	}

	// Their leases end: now they go out.
	e.clk.Add(time.Hour)
	d.Notify()
	for _, who := range []string{"running", "remote"} {
		e.waitStatus(ids[who], "orders", state.DeliveryDelivered)
	}
	if n := len(rv.requests()); n != 4 {
		t.Errorf("receiver got %d requests, want 4 (each event once)", n)
	}
}
