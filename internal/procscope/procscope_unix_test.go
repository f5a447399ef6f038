//go:build unix

package procscope

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestGone(t *testing.T) {
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	for _, tt := range []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), false},
		{"init (maybe not ours to signal)", 1, false},
		{"zero", 0, false},
		{"negative", -1, false},
		{"exited and reaped", exited.Process.Pid, true},
	} {
		if got := Gone(tt.pid); got != tt.want {
			t.Errorf("Gone(%d) (%s) = %v, want %v", tt.pid, tt.name, got, tt.want)
		}
	}
}

// TestScopeOtherPIDNamespace: a process in a PID namespace of its own, on
// the same machine, has another scope; a child in ours has the same one.
func TestScopeOtherPIDNamespace(t *testing.T) {
	if os.Getenv("PROCSCOPE_PRINT_SCOPE") == "1" {
		fmt.Printf("scope=%s\n", Scope())
		os.Exit(0)
	}
	here := Scope()
	if here == "" {
		t.Skip("no scope on this platform")
	}
	child := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "PROCSCOPE_PRINT_SCOPE=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %q: %v", name, args, err)
		}
		for line := range strings.Lines(string(out)) {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "scope="); ok {
				return s
			}
		}
		t.Fatalf("%s %q printed no scope: %s", name, args, out)
		return ""
	}
	self := []string{os.Args[0], "-test.run=^TestScopeOtherPIDNamespace$"}
	if got := child(t, self[0], self[1:]...); got != here {
		t.Errorf("a child in our PID namespace has scope %q, want ours %q", got, here)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) for a PID namespace of its own")
	}
	if out, err := exec.Command(unshare, "--pid", "--fork", "--kill-child", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot create a PID namespace here (needs root or user namespaces): %v %s", err, out)
	}
	for _, mountProc := range []bool{false, true} {
		args := []string{"--pid", "--fork", "--kill-child"}
		if mountProc {
			args = append(args, "--mount-proc")
		}
		got := child(t, unshare, append(args, self...)...)
		if got == "" || got == here {
			t.Errorf("unshare %q: scope %q, want a non-empty scope other than ours (%q)", args, got, here)
		}
	}
}
