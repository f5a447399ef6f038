package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"

	"github.com/finconnectd/finconnectd/internal/procscope"
)

// LocalOwner is NewOwner for this process: its hostname, procscope.Scope()
// and PID. Either name part is "" when it cannot be told; such an owner
// then never judges another one dead (its leases just run out).
func LocalOwner() string {
	host, _ := os.Hostname()
	return NewOwner(host, procscope.Scope(), os.Getpid())
}

// NewOwner names the delivery leases of a process: "HOST/SCOPE/PID/RANDOM".
// HOST and SCOPE (procscope.Scope: the machine boot and PID namespace) say
// where PID means this process, so that a later process that sees the
// same PIDs can tell the leases of one that crashed (OwnerDead); 8 random
// hex digits make two runs that happen to get the same PID (a container's
// PID 1 after a restart) never share a name.
func NewOwner(host, scope string, pid int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "/" + scope + "/" + strconv.Itoa(pid) + "/" + hex.EncodeToString(b[:])
}

// ParseOwner splits an owner made by NewOwner into its host, scope (may be
// "") and PID; ok is false for an owner of another form, including the
// older "HOST/PID/RANDOM". It reads from the right (the last three fields
// are the scope, the PID and the random part), so a host containing "/"
// still parses.
func ParseOwner(owner string) (host, scope string, pid int, ok bool) {
	rest, random, found := cutLast(owner, "/")
	if !found || random == "" {
		return "", "", 0, false
	}
	rest, p, found := cutLast(rest, "/")
	if !found {
		return "", "", 0, false
	}
	host, scope, found = cutLast(rest, "/")
	if !found || host == "" {
		return "", "", 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != p {
		return "", "", 0, false
	}
	return host, scope, pid, true
}

// OwnerDead reports whether owner names a process that self (our own
// owner) can see and that gone reports as no longer running: the leases
// of such an owner will never be completed and can be released at once.
// Only when both are in NewOwner's form with the same host and the same
// non-empty scope, i.e. the same machine boot and PID namespace, and
// owner is not self. A replica in another container or on a cloned VM
// with the same hostname has another scope: its PIDs are not ours to look
// up, and its leases run out instead. gone must look PIDs up in self's
// scope (procscope.Gone, in the process self names).
func OwnerDead(owner, self string, gone func(pid int) bool) bool {
	if owner == self {
		return false
	}
	host, scope, _, ok := ParseOwner(self)
	if !ok || scope == "" {
		return false
	}
	h, s, pid, ok := ParseOwner(owner)
	return ok && h == host && s == scope && gone(pid)
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
