package jwtauth

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// filterMetrics are the filter's counters, built once per filter in a
// metrics.Set of its own (see Filter.Metrics).
type filterMetrics struct {
	set        *metrics.Set
	hits       *metrics.Counter
	misses     *metrics.Counter
	anonymous  *metrics.Counter
	refusals   [numRefusals]*metrics.Counter
	refreshOK  []*metrics.Counter // by issuer
	refreshErr []*metrics.Counter // by issuer
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func newFilterMetrics(route string, issuers []*issuer) *filterMetrics {
	m := &filterMetrics{set: metrics.NewSet()}
	r := `route="` + labelEscaper.Replace(route) + `"`
	m.hits = m.set.NewCounter(`tollgate_jwtauth_accepted_total{` + r + `,cache="hit"}`)
	m.misses = m.set.NewCounter(`tollgate_jwtauth_accepted_total{` + r + `,cache="miss"}`)
	m.anonymous = m.set.NewCounter(`tollgate_jwtauth_anonymous_total{` + r + `}`)
	for i, rf := range refusals {
		m.refusals[i] = m.set.NewCounter(`tollgate_jwtauth_refused_total{` + r + `,reason="` + rf.reason.Code + `"}`)
	}
	for _, is := range issuers {
		l := r + `,issuer="` + labelEscaper.Replace(is.name) + `"`
		m.refreshOK = append(m.refreshOK, m.set.NewCounter(`tollgate_jwtauth_jwks_refreshes_total{`+l+`,result="ok"}`))
		m.refreshErr = append(m.refreshErr, m.set.NewCounter(`tollgate_jwtauth_jwks_refreshes_total{`+l+`,result="error"}`))
		is := is
		m.set.NewGauge(`tollgate_jwtauth_jwks_keys{`+l+`}`, func() float64 {
			if ks := is.keys.Load(); ks != nil {
				return float64(len(ks.keys))
			}
			return 0
		})
	}
	return m
}
