package gnetengine

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// TestEpollFDFound guards pause_linux.go: if gnet's event loop layout
// changes, the relay silently loses its backpressure, and this fails.
func TestEpollFDFound(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
	l := p.srv.listeners[0]
	l.loopsMu.Lock()
	defer l.loopsMu.Unlock()
	if len(l.loops) == 0 {
		t.Fatal("no loop state after a request")
	}
	for _, lp := range l.loops {
		if lp.epfd < 0 {
			t.Fatal("the loop's epoll descriptor was not found: reads cannot be paused")
		}
	}
}

// sweeps returns the number of deadline sweeps every loop has run.
func (s *Server) sweeps() uint64 {
	var n uint64
	for _, l := range s.listeners {
		l.loopsMu.Lock()
		for _, lp := range l.loops {
			n += lp.sweeps.Load()
		}
		l.loopsMu.Unlock()
	}
	return n
}
