package state

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// idAlphabet is base32's lowercase alphabet (a-z, 2-7) in byte order, so
// that IDs sort as the times they begin with.
const idAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

const (
	// idTimeChars is how many characters of an ID are its time:
	// milliseconds since 1970 in 45 bits, enough until the year 3084.
	idTimeChars = 9
	// idRandChars is how many are random: 85 bits.
	idRandChars = 17
)

// NewID returns prefix + 26 lowercase base32 characters: the first 9 are
// the time in milliseconds, so IDs made close in time sort close together,
// the other 17 are 85 random bits. The stores' indexes on IDs then take
// the IDs of one batch of writes in a few pages instead of one page each
// (a random ID lands anywhere in the index, so each one dirties a page of
// its own). The time is when the ID was made: nothing the row's own
// timestamps do not tell.
func NewID(prefix string) string { return newID(prefix, time.Now()) }

func newID(prefix string, now time.Time) string {
	n := len(prefix)
	out := make([]byte, n+idTimeChars+idRandChars)
	copy(out, prefix)
	ms := uint64(max(0, now.UnixMilli()))
	for i := n + idTimeChars - 1; i >= n; i-- {
		out[i] = idAlphabet[ms&31]
		ms >>= 5
	}
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read does not fail on supported platforms
	hi, lo := binary.BigEndian.Uint64(r[:8]), binary.BigEndian.Uint64(r[8:])
	for i := n + idTimeChars; i < len(out); i++ {
		out[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}
