// Package testkit holds the few helpers every package's tests use: a log
// buffer goroutines can write while a test reads it, polling with a
// deadline (tests never synchronise by sleeping), and a Tap that keeps what
// a sender posts while forwarding it. Only tests import it; it
// imports nothing of the module.
package testkit

import (
	"bytes"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// DefaultWait is how long Eventually polls.
const DefaultWait = 15 * time.Second

// Eventually polls cond every few milliseconds until it holds, and fails
// the test naming what it waited for when it does not within DefaultWait.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	EventuallyWithin(tb, DefaultWait, what, cond)
}

// EventuallyWithin is Eventually with its own deadline.
func EventuallyWithin(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FreeAddr returns a loopback address ("127.0.0.1:PORT") that is free now,
// for a child process to listen on. The port is drawn at random below the
// kernel's ephemeral range (32768 and up on Linux), never a port the kernel
// chose: a port the kernel handed to bind(":0") and that was closed again
// is the next one it hands to an outgoing connection or to another
// process's bind(":0"), so two children could be given one port (seen
// under load). No port is returned twice in one test binary, and the port
// is checked free by binding it before it is returned.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	for range 200 {
		port := freePortLow + rand.IntN(freePortHigh-freePortLow)
		if !handedOut.claim(port) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use by another process: draw again
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			tb.Fatalf("release %s: %v", addr, err)
		}
		return addr
	}
	tb.Fatalf("no free loopback port in [%d, %d) after 200 draws", freePortLow, freePortHigh)
	return ""
}

// The ports FreeAddr draws from: above the well-known services a machine
// runs (PostgreSQL 5432, Redis 6379, ...) and below Linux's default
// ephemeral range.
const freePortLow, freePortHigh = 20000, 32768

// handedOut is every port FreeAddr returned in this test binary. It is
// process-wide on purpose: ports are.
var handedOut portSet

type portSet struct {
	mu   sync.Mutex
	used map[int]bool
}

// claim reports whether port was not handed out yet, and marks it.
func (s *portSet) claim(port int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used[port] {
		return false
	}
	if s.used == nil {
		s.used = map[int]bool{}
	}
	s.used[port] = true
	return true
}

// OffsetClock is real time plus an offset a test moves forward, for code
// that takes a Now func: time still passes, and a test can jump ahead
// (past a retry delay, a lease, a grace period) without sleeping.
type OffsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now is the real time plus the offset.
func (c *OffsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock forward by d.
func (c *OffsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// ManualClock is a clock that moves only when a test moves it, for code
// that takes a Now func.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock standing at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now is the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
