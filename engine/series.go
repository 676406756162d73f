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
	duration durationHistogram

	// UpstreamErrors and UpstreamTimeouts count failed exchanges with the
	// route's upstream (answered 502 and 504); nil for the unmatched route.
	UpstreamErrors, UpstreamTimeouts *metrics.Counter
}

// durationHistogram is what a route needs of its latency histogram; both
// kinds, *metrics.PrometheusHistogram and *metrics.Histogram, have it, and
// calling it through the interface allocates nothing.
type durationHistogram interface{ Update(seconds float64) }

// latencyBuckets are the le bounds, in seconds, of the prometheus
// histograms (metrics.histograms: prometheus): Prometheus' client defaults
// (5ms … 10s in steps of 1, 2.5, 5 per decade) extended down to 0.5ms. Why
// that low: the proxy adds well under a millisecond itself, and answers it
// gives on its own (401, 403, 429, 404) or relays from an upstream on the
// same host take 0.5 … 5ms, which the defaults would lump into one bucket.
// Why no higher than 10s: slower requests are streams or exchanges near an
// upstream timeout (30s by default); they land in le="+Inf" (how many: its
// count less le="10"), where a percentile reads as 10s. Three steps a
// decade keep histogram_quantile's linear interpolation within a bucket of
// ratio 2.5 at most, for a fixed 17 series per route (14 bounds, +Inf, _sum
// and _count); vmrange buckets are finer (18 per decade) but only the
// non-empty ones are exported, so their number varies with the traffic.
var latencyBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// seriesSet holds the per-route series of a process across reloads. Why:
// Prometheus reads a counter that drops as a restart of the process, and
// the counts between the last scrape and a reload were lost; so a route
// keeps its series for as long as a route of that name is configured, and
// only a removed route's series go (an upstream's, once no route uses it).
// A reload compiles a new Runtime that takes its predecessor's seriesSet.
// The histogram kind is the first generation's metrics.histograms: a route
// keeps its histogram object across generations, and the scraper must see
// one kind, so a reload that changes the setting takes effect on restart.
type seriesSet struct {
	mu         sync.Mutex
	set        *metrics.Set
	histograms string // config.Metrics.Histograms: prometheus or vmrange
	routes     map[string]*routeSeries
	upstreams  map[string][2]*metrics.Counter
}

var statusClasses = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// seriesOrNew returns rt's series, or new ones for the first generation,
// whose latency histograms are of kind histograms (config.Metrics'
// Histograms; a later generation's setting is not consulted).
func (rt *Runtime) seriesOrNew(histograms string) *seriesSet {
	if rt != nil && rt.series != nil {
		return rt.series
	}
	return &seriesSet{set: metrics.NewSet(), histograms: histograms, routes: map[string]*routeSeries{}, upstreams: map[string][2]*metrics.Counter{}}
}

// newDuration registers the latency histogram called name: vmrange
// buckets when the process was started with metrics.histograms: vmrange,
// else le buckets at latencyBuckets.
func (ss *seriesSet) newDuration(name string) durationHistogram {
	if ss.histograms == "vmrange" {
		return ss.set.NewHistogram(name)
	}
	return ss.set.NewPrometheusHistogramExt(name, latencyBuckets)
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
			rs.duration = ss.newDuration(fmt.Sprintf(`tollgate_http_request_duration_seconds{route=%q}`, name))
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
