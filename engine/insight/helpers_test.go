package insight

import (
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/filters"
)

// t0 is a fixed start time for synthetic streams, on a whole hour so
// window panes line up with round numbers.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestStats(t testing.TB, cfg Config) (*Stats, *clock) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("cannot validate config: %v", err)
	}
	c := &clock{t: t0}
	s := newStats(cfg, nil, c.now)
	return s, c
}

// req describes one synthetic request.
type req struct {
	at        time.Duration // completion time after t0
	principal string
	ip        string
	method    string
	route     string
	path      string
	status    uint16
	decision  auditlog.Decision
	latency   time.Duration
}

func (r req) entry(e *auditlog.Entry) {
	e.Reset()
	lat := r.latency
	if lat == 0 {
		lat = time.Millisecond
	}
	e.Start = t0.Add(r.at).UnixNano() - int64(lat)
	e.Duration = int64(lat)
	e.Principal = append(e.Principal, r.principal...)
	if r.ip != "" {
		e.ClientIP = netip.MustParseAddr(r.ip)
	}
	m := r.method
	if m == "" {
		m = "GET"
	}
	e.Method = append(e.Method, m...)
	e.Route = append(e.Route, r.route...)
	e.Path = append(e.Path, r.path...)
	e.Status = r.status
	if e.Status == 0 {
		e.Status = 200
	}
	e.Decision = r.decision
}

// feed observes every request and then folds them at the clock's time.
func (s *Stats) feedAll(c *clock, rs ...req) {
	var e auditlog.Entry
	for _, r := range rs {
		r.entry(&e)
		s.Observe(&e)
		if s.q.head.Load()-s.q.tail.Load() >= uint64(len(s.q.slots)) {
			s.step(c.t)
		}
	}
	s.step(c.t)
}

// repeat returns n copies of r spaced by every.
func repeat(n int, every time.Duration, r req) []req {
	out := make([]req, n)
	for i := range out {
		out[i] = r
		out[i].at += time.Duration(i) * every
	}
	return out
}

func cat(parts ...[]req) []req {
	var out []req
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type durationT = filters.Duration

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func parseQuery(q string) (url.Values, error) { return url.ParseQuery(q) }
