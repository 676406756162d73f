package introspect

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// filterMetrics are the filter's counters, built once per filter in a
// metrics.Set of its own (see Filter.Metrics), so nothing is looked up per
// request.
type filterMetrics struct {
	set          *metrics.Set
	hits         *metrics.Counter // cache lookups answered
	misses       *metrics.Counter // cache lookups that needed the server
	shared       *metrics.Counter // misses that waited for another request's call
	acceptedHit  *metrics.Counter
	acceptedMiss *metrics.Counter
	anonymous    *metrics.Counter
	refusals     [numRefusals]*metrics.Counter
	calls        [numResults]*metrics.Counter
	duration     *metrics.Histogram
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func newFilterMetrics(route string) *filterMetrics {
	m := &filterMetrics{set: metrics.NewSet()}
	r := `route="` + labelEscaper.Replace(route) + `"`
	m.hits = m.set.NewCounter(`tollgate_introspect_cache_lookups_total{` + r + `,result="hit"}`)
	m.misses = m.set.NewCounter(`tollgate_introspect_cache_lookups_total{` + r + `,result="miss"}`)
	m.shared = m.set.NewCounter(`tollgate_introspect_shared_calls_total{` + r + `}`)
	m.acceptedHit = m.set.NewCounter(`tollgate_introspect_accepted_total{` + r + `,cache="hit"}`)
	m.acceptedMiss = m.set.NewCounter(`tollgate_introspect_accepted_total{` + r + `,cache="miss"}`)
	m.anonymous = m.set.NewCounter(`tollgate_introspect_anonymous_total{` + r + `}`)
	for i, rf := range refusals {
		m.refusals[i] = m.set.NewCounter(`tollgate_introspect_refused_total{` + r + `,reason="` + rf.reason.Code + `"}`)
	}
	for i, name := range resultNames {
		if i == resultOK {
			continue // judged into active or inactive
		}
		m.calls[i] = m.set.NewCounter(`tollgate_introspect_calls_total{` + r + `,result="` + name + `"}`)
	}
	m.duration = m.set.NewHistogram(`tollgate_introspect_call_duration_seconds{` + r + `}`)
	return m
}
