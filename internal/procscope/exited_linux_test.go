//go:build linux

package procscope

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestGoneZombie: a child killed but not yet reaped is a zombie, which a
// signal check still finds; Gone must judge it gone all the same (a
// crashed daemon whose parent has not reaped it holds no lease).
func TestGoneZombie(t *testing.T) {
	t.Parallel()
	child := exec.Command("sleep", "600")
	if err := child.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	pid := child.Process.Pid
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	if Gone(pid) {
		t.Fatalf("Gone(%d) of a running child = true", pid)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	// Not reaped: the PID stays a zombie until Wait.
	testkit.Eventually(t, "the killed, unreaped child judged gone", func() bool { return Gone(pid) })
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the child was reaped before the check (kill -0: %v); the test proves nothing", err)
	}
	_ = child.Wait()
	reaped = true
	if !Gone(pid) {
		t.Errorf("Gone(%d) after reaping = false", pid)
	}
}

func TestStatState(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		stat string
		want byte
		ok   bool
	}{
		{"42 (sleep) S 1 42 42 0 -1", 'S', true},
		{"42 (a) b) (c) Z 1 42", 'Z', true},
		{"42 (my prog) R 1", 'R', true},
		{"42 (x)", 0, false},
		{"42 (x)Z", 0, false},
		{"", 0, false},
		{"garbage", 0, false},
	} {
		got, ok := statState([]byte(tt.stat))
		if got != tt.want || ok != tt.ok {
			t.Errorf("statState(%q) = %q, %v; want %q, %v", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
}
