package gnetengine

import (
	"testing"
)

// TestEpollFDFound guards pause_linux.go: if gnet's event loop layout
// changes, the relay silently loses its backpressure, and this fails.
func TestEpollFDFound(t *testing.T) {
	up := startUpstream(t)
	p := quick(t, up, "", "")
	do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
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
