package daemon

import (
	"net"
	"net/http"
	"sync"
)

// conns tracks a server's connections that have not yet sent a request.
//
// http.Server.Shutdown closes idle keep-alive connections at once but waits
// up to five seconds for a connection in StateNew (accepted, no request
// read yet) before treating it as idle. HTTP clients routinely leave such
// connections behind (a dial that lost the race to a reused connection), so
// without this a stop would often sit out those five seconds for nothing.
// A connection that has not sent a request has nothing in flight, so
// closing it at stop loses nothing: its client sees the connection close
// before any request was read, and retries elsewhere or later.
type conns struct {
	mu  sync.Mutex
	new map[net.Conn]struct{}
}

func newConns() *conns { return &conns{new: map[net.Conn]struct{}{}} }

// track is an http.Server ConnState hook.
func (c *conns) track(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == http.StateNew {
		c.new[conn] = struct{}{}
		return
	}
	delete(c.new, conn)
}

// closeUnused closes every connection that has not sent a request yet.
func (c *conns) closeUnused() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.new {
		_ = conn.Close()
		delete(c.new, conn)
	}
}
