package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// NewOwner names the delivery leases of a process: "HOST/PID/RANDOM",
// the host and process it runs as, so that a later process on the same
// host can tell the leases of one that crashed (OwnerDead), and 8 random
// hex digits, so that two runs that happen to get the same PID (a
// container's PID 1 after a restart) never share a name.
func NewOwner(host string, pid int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "/" + strconv.Itoa(pid) + "/" + hex.EncodeToString(b[:])
}

// ParseOwner splits an owner made by NewOwner into its host and PID; ok is
// false for an owner of another form. It reads from the right (the last
// two fields are the PID and the random part), so a host containing "/"
// still parses.
func ParseOwner(owner string) (host string, pid int, ok bool) {
	rest, random, found := cutLast(owner, "/")
	if !found || random == "" {
		return "", 0, false
	}
	host, p, found := cutLast(rest, "/")
	if !found || host == "" {
		return "", 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != p {
		return "", 0, false
	}
	return host, pid, true
}

// OwnerDead reports whether owner names a process on host that gone
// reports as no longer running: the leases of such an owner will never be
// completed and can be released at once. Never for another host (its
// processes are not ours to see), an empty host, or an owner not made by
// NewOwner.
func OwnerDead(owner, host string, gone func(pid int) bool) bool {
	h, pid, ok := ParseOwner(owner)
	return ok && host != "" && h == host && gone(pid)
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
