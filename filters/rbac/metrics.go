package rbac

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// filterMetrics are the filter's counters, built once per filter in a
// metrics.Set of its own (see Filter.Metrics), so nothing is looked up per
// request.
type filterMetrics struct {
	set      *metrics.Set
	outcomes [numOutcomes]*metrics.Counter
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func newFilterMetrics(route string) *filterMetrics {
	m := &filterMetrics{set: metrics.NewSet()}
	r := `route="` + labelEscaper.Replace(route) + `"`
	m.outcomes[outAllowed] = m.set.NewCounter(`tollgate_rbac_allowed_total{` + r + `}`)
	for o, reason := range outcomeReasons {
		if reason != nil {
			m.outcomes[o] = m.set.NewCounter(`tollgate_rbac_refused_total{` + r + `,reason="` + reason.Code + `"}`)
		}
	}
	return m
}
