package apikey

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
)

// filterMetrics are the filter's counters, built once per filter in a
// metrics.Set of its own (see Filter.Metrics), so nothing is looked up per
// request. Accepted requests are counted per key id (ids are config names,
// not secrets), which shows which keys are still in use before one is
// retired.
type filterMetrics struct {
	set       *metrics.Set
	accepted  []*metrics.Counter // by key index
	missing   *metrics.Counter
	invalid   *metrics.Counter
	conflict  *metrics.Counter
	anonymous *metrics.Counter
	skipped   *metrics.Counter
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func newFilterMetrics(route string, ids []string) *filterMetrics {
	m := &filterMetrics{set: metrics.NewSet()}
	r := `route="` + labelEscaper.Replace(route) + `"`
	for _, id := range ids {
		m.accepted = append(m.accepted, m.set.NewCounter(`tollgate_apikey_accepted_total{`+r+`,key="`+labelEscaper.Replace(id)+`"}`))
	}
	m.missing = m.set.NewCounter(`tollgate_apikey_refused_total{` + r + `,reason="` + ReasonMissing.Code + `"}`)
	m.invalid = m.set.NewCounter(`tollgate_apikey_refused_total{` + r + `,reason="` + ReasonInvalid.Code + `"}`)
	m.conflict = m.set.NewCounter(`tollgate_apikey_refused_total{` + r + `,reason="` + filters.ReasonConflictingCredentials.Code + `"}`)
	m.anonymous = m.set.NewCounter(`tollgate_apikey_anonymous_total{` + r + `}`)
	m.skipped = m.set.NewCounter(`tollgate_apikey_skipped_total{` + r + `}`)
	return m
}
