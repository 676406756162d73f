package engine

import (
	"fmt"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// routeSeries are one route's request counters (by status class: 1xx …
// 5xx, other), its duration histogram and its upstream's error counters.
type routeSeries struct {
	requests [6]*metrics.Counter
	duration *metrics.Histogram

	// UpstreamErrors and UpstreamTimeouts count failed exchanges with the
	// route's upstream (answered 502 and 504); nil for the unmatched route.
	UpstreamErrors, UpstreamTimeouts *metrics.Counter
}

// seriesSet holds the per-route series of a process across reloads. Why:
// Prometheus reads a counter that drops as a restart of the process, and
// the counts between the last scrape and a reload were lost; so a route
// keeps its series for as long as a route of that name is configured, and
// only a removed route's series go (an upstream's, once no route uses it).
// A reload compiles a new Runtime that takes its predecessor's seriesSet.
type seriesSet struct {
	mu        sync.Mutex
	set       *metrics.Set
	routes    map[string]*routeSeries
	upstreams map[string][2]*metrics.Counter
}

var statusClasses = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// seriesOrNew returns rt's series, or new ones for the first generation.
func (rt *Runtime) seriesOrNew() *seriesSet {
	if rt != nil && rt.series != nil {
		return rt.series
	}
	return &seriesSet{set: metrics.NewSet(), routes: map[string]*routeSeries{}, upstreams: map[string][2]*metrics.Counter{}}
}

// attach gives each route its series, making those of new names, and
// unregisters the series of names no longer among routes.
func (ss *seriesSet) attach(routes []*Route) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	keep := make(map[string]bool, len(routes))
	keepUp := map[string]bool{}
	for _, r := range routes {
		name := seriesName(r)
		keep[name] = true
		rs := ss.routes[name]
		if rs == nil {
			rs = &routeSeries{}
			for i, c := range statusClasses {
				rs.requests[i] = ss.set.NewCounter(fmt.Sprintf(`tollgate_http_requests_total{route=%q,class=%q}`, name, c))
			}
			rs.duration = ss.set.NewHistogram(fmt.Sprintf(`tollgate_http_request_duration_seconds{route=%q}`, name))
			ss.routes[name] = rs
		}
		if up := r.Info.Upstream; up != "" {
			keepUp[up] = true
			uc, ok := ss.upstreams[up]
			if !ok {
				uc[0] = ss.set.NewCounter(fmt.Sprintf(`tollgate_upstream_errors_total{upstream=%q,kind="unavailable"}`, up))
				uc[1] = ss.set.NewCounter(fmt.Sprintf(`tollgate_upstream_errors_total{upstream=%q,kind="timeout"}`, up))
				ss.upstreams[up] = uc
			}
			// A route whose upstream changed gets the new upstream's
			// counters; its own series are the route's.
			rs = &routeSeries{requests: rs.requests, duration: rs.duration, UpstreamErrors: uc[0], UpstreamTimeouts: uc[1]}
		}
		r.routeSeries = rs
	}
	for name := range ss.routes {
		if !keep[name] {
			for _, c := range statusClasses {
				ss.set.UnregisterMetric(fmt.Sprintf(`tollgate_http_requests_total{route=%q,class=%q}`, name, c))
			}
			ss.set.UnregisterMetric(fmt.Sprintf(`tollgate_http_request_duration_seconds{route=%q}`, name))
			delete(ss.routes, name)
		}
	}
	for up := range ss.upstreams {
		if !keepUp[up] {
			ss.set.UnregisterMetric(fmt.Sprintf(`tollgate_upstream_errors_total{upstream=%q,kind="unavailable"}`, up))
			ss.set.UnregisterMetric(fmt.Sprintf(`tollgate_upstream_errors_total{upstream=%q,kind="timeout"}`, up))
			delete(ss.upstreams, up)
		}
	}
}

func seriesName(r *Route) string {
	if r.Info.Name == "" {
		return "(none)"
	}
	return r.Info.Name
}
