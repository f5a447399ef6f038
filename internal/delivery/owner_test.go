package delivery

import (
	"regexp"
	"testing"
)

func TestNewOwnerParses(t *testing.T) {
	a, b := NewOwner("db1.example", 4242), NewOwner("db1.example", 4242)
	if !regexp.MustCompile(`^db1\.example/4242/[0-9a-f]{8}$`).MatchString(a) {
		t.Fatalf("NewOwner = %q, want HOST/PID/8 hex digits", a)
	}
	if a == b {
		t.Errorf("two owners of one host and PID are both %q; a restart with the same PID must get a new name", a)
	}
	if host, pid, ok := ParseOwner(a); !ok || host != "db1.example" || pid != 4242 {
		t.Errorf("ParseOwner(%q) = %q, %d, %v", a, host, pid, ok)
	}
}

func TestParseOwner(t *testing.T) {
	for _, tt := range []struct {
		owner string
		host  string
		pid   int
		ok    bool
	}{
		{"h/12/ab", "h", 12, true},
		{"a/b/12/ab", "a/b", 12, true}, // read from the right
		{"h/12/ab/", "", 0, false},
		{"h/12/", "", 0, false},
		{"/12/ab", "", 0, false},
		{"h/x/ab", "", 0, false},
		{"h/0/ab", "", 0, false},
		{"h/-3/ab", "", 0, false},
		{"h/+3/ab", "", 0, false},
		{"h/012/ab", "", 0, false},
		{"h/99999999999999999999/ab", "", 0, false},
		{"12/ab", "", 0, false},
		{"delivery-0123abcd", "", 0, false},
		{"", "", 0, false},
	} {
		host, pid, ok := ParseOwner(tt.owner)
		if host != tt.host || pid != tt.pid || ok != tt.ok {
			t.Errorf("ParseOwner(%q) = %q, %d, %v; want %q, %d, %v", tt.owner, host, pid, ok, tt.host, tt.pid, tt.ok)
		}
	}
}

func TestOwnerDead(t *testing.T) {
	gone := func(pid int) bool { return pid == 7 }
	for _, tt := range []struct {
		owner, host string
		want        bool
	}{
		{"me/7/ab", "me", true},
		{"me/8/ab", "me", false},        // running
		{"other/7/ab", "me", false},     // another host: not ours to see
		{"me/7/ab", "", false},          // our host is unknown
		{"/7/ab", "", false},            // no host at all
		{"me/7", "me", false},           // not NewOwner's form
		{"worker-7", "worker-7", false}, // ditto
	} {
		if got := OwnerDead(tt.owner, tt.host, gone); got != tt.want {
			t.Errorf("OwnerDead(%q, %q) = %v, want %v", tt.owner, tt.host, got, tt.want)
		}
	}
}
