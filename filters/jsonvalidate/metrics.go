package jsonvalidate

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
)

// filterMetrics are the filter's counters, built once per filter in a
// metrics.Set of its own (see Filter.Metrics), so nothing is looked up per
// request.
type filterMetrics struct {
	set       *metrics.Set
	allowed   *metrics.Counter
	bodyBytes *metrics.Counter
	reasons   []*filters.Reason
	counters  []*metrics.Counter
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

var allReasons = []*filters.Reason{reasonBody, reasonMalformed, reasonQuery, reasonHeader, reasonMedia, reasonEncoding, reasonTooLarge}

func newFilterMetrics(route string) *filterMetrics {
	m := &filterMetrics{set: metrics.NewSet()}
	r := `route="` + labelEscaper.Replace(route) + `"`
	m.allowed = m.set.NewCounter(`tollgate_jsonvalidate_allowed_total{` + r + `}`)
	m.bodyBytes = m.set.NewCounter(`tollgate_jsonvalidate_body_bytes_total{` + r + `}`)
	for _, reason := range allReasons {
		m.reasons = append(m.reasons, reason)
		m.counters = append(m.counters, m.set.NewCounter(`tollgate_jsonvalidate_refused_total{`+r+`,reason="`+reason.Code+`"}`))
	}
	return m
}

func (m *filterMetrics) refused(r *filters.Reason) *metrics.Counter {
	for i, x := range m.reasons {
		if x == r {
			return m.counters[i]
		}
	}
	return m.counters[0]
}

// Metrics returns the filter's metric set, to be registered by the engine
// with the configuration generation that built the filter.
func (f *Filter) Metrics() *metrics.Set { return f.m.set }
