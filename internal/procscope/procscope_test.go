package procscope

import (
	"os"
	"regexp"
	"testing"
)

func TestScopeOf(t *testing.T) {
	const boot, ns = "0f3c5bde-8d2a-4d7e-9a51-1c2b3d4e5f60\n", "pid:[4026531836]"
	base := scopeOf(boot, ns)
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(base) {
		t.Fatalf("scopeOf = %q, want 12 hex digits", base)
	}
	for _, tt := range []struct {
		name     string
		boot, ns string
		want     string // "=" same as base, "!" different and non-empty
	}{
		{"same inputs", boot, ns, "="},
		{"surrounding space ignored", " " + boot, ns + "\n", "="},
		{"another PID namespace", boot, "pid:[4026532201]", "!"},
		{"another boot (reboot, cloned VM)", "7a1e0000-8d2a-4d7e-9a51-1c2b3d4e5f60", ns, "!"},
		{"no boot ID", "", ns, ""},
		{"no namespace", boot, " ", ""},
	} {
		got := scopeOf(tt.boot, tt.ns)
		switch tt.want {
		case "=":
			if got != base {
				t.Errorf("%s: scopeOf = %q, want %q", tt.name, got, base)
			}
		case "!":
			if got == base || len(got) != scopeLen {
				t.Errorf("%s: scopeOf = %q, want a scope other than %q", tt.name, got, base)
			}
		default:
			if got != tt.want {
				t.Errorf("%s: scopeOf = %q, want %q", tt.name, got, tt.want)
			}
		}
	}
}

func TestScopeStable(t *testing.T) {
	a, b := Scope(), Scope()
	if a != b {
		t.Fatalf("Scope changed between calls: %q, %q", a, b)
	}
	if a != "" && !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("Scope = %q, want \"\" or 12 hex digits", a)
	}
	if _, err := os.Stat("/proc/self/ns/pid"); err == nil && a == "" {
		t.Errorf("Scope = \"\" although /proc/self/ns/pid exists")
	}
}
