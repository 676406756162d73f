//go:build !race

package insight

import (
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

func TestObserveAllocs(t *testing.T) {
	s, c := newTestStats(t, Config{})
	var e auditlog.Entry
	req{principal: "alice", ip: "2001:db8::7", route: "/orders/{id}", status: 403, decision: auditlog.DecisionDenied, latency: 3 * time.Millisecond}.entry(&e)
	e.Reason = "authz.forbidden"
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s.Observe(&e)
		if n++; n%1000 == 0 {
			s.step(c.t)
		}
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %v times per call, want 0", allocs)
	}
	// The aggregator's fold of a known key does not allocate either.
	s.step(c.t)
	allocs = testing.AllocsPerRun(100, func() {
		for range 10 {
			s.Observe(&e)
		}
		s.step(c.t)
	})
	if allocs != 0 {
		t.Fatalf("step allocates %v times per call, want 0", allocs)
	}
}
