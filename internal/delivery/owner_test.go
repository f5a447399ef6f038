package delivery

import (
	"os"
	"regexp"
	"testing"
)

func TestNewOwnerParses(t *testing.T) {
	a, b := NewOwner("db1.example", "0123456789ab", 4242), NewOwner("db1.example", "0123456789ab", 4242)
	if !regexp.MustCompile(`^db1\.example/0123456789ab/4242/[0-9a-f]{8}$`).MatchString(a) {
		t.Fatalf("NewOwner = %q, want HOST/SCOPE/PID/8 hex digits", a)
	}
	if a == b {
		t.Errorf("two owners of one host, scope and PID are both %q; a restart with the same PID must get a new name", a)
	}
	if host, scope, pid, ok := ParseOwner(a); !ok || host != "db1.example" || scope != "0123456789ab" || pid != 4242 {
		t.Errorf("ParseOwner(%q) = %q, %q, %d, %v", a, host, scope, pid, ok)
	}
	if host, scope, pid, ok := ParseOwner(NewOwner("h", "", 7)); !ok || host != "h" || scope != "" || pid != 7 {
		t.Errorf("ParseOwner of an owner with no scope = %q, %q, %d, %v", host, scope, pid, ok)
	}
}

func TestLocalOwner(t *testing.T) {
	self := LocalOwner()
	host, _, pid, ok := ParseOwner(self)
	want, _ := os.Hostname()
	if !ok || host != want || pid != os.Getpid() {
		t.Errorf("LocalOwner() = %q: parses as %q, %d, %v; want host %q, PID %d", self, host, pid, ok, want, os.Getpid())
	}
}

func TestParseOwner(t *testing.T) {
	for _, tt := range []struct {
		owner string
		host  string
		scope string
		pid   int
		ok    bool
	}{
		{"h/s1/12/ab", "h", "s1", 12, true},
		{"h//12/ab", "h", "", 12, true},
		{"a/b/s1/12/ab", "a/b", "s1", 12, true}, // read from the right
		{"h/12/ab", "", "", 0, false},           // the older HOST/PID/RANDOM
		{"h/s1/12/ab/", "", "", 0, false},
		{"h/s1/12/", "", "", 0, false},
		{"/s1/12/ab", "", "", 0, false},
		{"h/s1/x/ab", "", "", 0, false},
		{"h/s1/0/ab", "", "", 0, false},
		{"h/s1/-3/ab", "", "", 0, false},
		{"h/s1/+3/ab", "", "", 0, false},
		{"h/s1/012/ab", "", "", 0, false},
		{"h/s1/99999999999999999999/ab", "", "", 0, false},
		{"12/ab", "", "", 0, false},
		{"delivery-0123abcd", "", "", 0, false},
		{"", "", "", 0, false},
	} {
		host, scope, pid, ok := ParseOwner(tt.owner)
		if host != tt.host || scope != tt.scope || pid != tt.pid || ok != tt.ok {
			t.Errorf("ParseOwner(%q) = %q, %q, %d, %v; want %q, %q, %d, %v",
				tt.owner, host, scope, pid, ok, tt.host, tt.scope, tt.pid, tt.ok)
		}
	}
}

func TestOwnerDead(t *testing.T) {
	gone := func(pid int) bool { return pid == 7 }
	const self = "me/s1/100/aa"
	for _, tt := range []struct {
		owner, self string
		want        bool
	}{
		{"me/s1/7/ab", self, true},
		{"me/s1/8/ab", self, false},          // running
		{"other/s1/7/ab", self, false},       // another host: not ours to see
		{"me/s2/7/ab", self, false},          // same host name, another PID namespace or boot
		{"me//7/ab", self, false},            // its scope is unknown
		{"me//7/ab", "me//100/aa", false},    // ours is unknown: nothing is ever dead
		{"me/s1/7/ab", "me//100/aa", false},  // ditto
		{"me/s1/7/ab", "/s1/100/aa", false},  // our host is unknown
		{"me/s1/7/ab", "me/s1/7/ab", false},  // ourselves
		{"me/7/ab", self, false},             // the older HOST/PID/RANDOM: it runs out
		{"me/7/ab", "me/7/aa", false},        // ditto
		{"worker-7", "worker-7", false},      // not NewOwner's form
		{"me/s1/7/ab", "worker-100", false},  // ditto
		{"a/me/s1/7/ab", self, false},        // host "a/me"
		{"me/s1/7/ab", "me/s1/100/aa", true}, // (self repeated for the table)
	} {
		if got := OwnerDead(tt.owner, tt.self, gone); got != tt.want {
			t.Errorf("OwnerDead(%q, %q) = %v, want %v", tt.owner, tt.self, got, tt.want)
		}
	}
}
