package app

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// idleEvictor closes the connection idle the longest whenever a server holds all the connections
// its cap allows: the next client, waiting in the kernel's queue, then gets a place at once, and
// clients that keep connections open without using them cannot shut others out until their idle
// timeout.
type idleEvictor struct {
	max  int
	mu   sync.Mutex
	open int
	idle map[net.Conn]time.Time // since when each idle connection has been
}

func newIdleEvictor(max int) *idleEvictor {
	return &idleEvictor{max: max, idle: map[net.Conn]time.Time{}}
}

// track is the server's ConnState hook.
func (e *idleEvictor) track(c net.Conn, s http.ConnState) {
	e.mu.Lock()
	switch s {
	case http.StateNew:
		e.open++
	case http.StateIdle:
		e.idle[c] = time.Now()
	case http.StateActive:
		delete(e.idle, c)
	case http.StateClosed, http.StateHijacked:
		e.open--
		delete(e.idle, c)
	}
	var oldest net.Conn
	if e.open >= e.max && (s == http.StateNew || s == http.StateIdle) {
		var since time.Time
		for conn, t := range e.idle {
			if oldest == nil || t.Before(since) {
				oldest, since = conn, t
			}
		}
		delete(e.idle, oldest)
	}
	e.mu.Unlock()
	if oldest != nil {
		_ = oldest.Close() // its client sees the close, as after an idle timeout, and reconnects
	}
}
