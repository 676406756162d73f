package ratelimit

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// PolicyStats is a snapshot of one policy's counters, for metrics.
type PolicyStats struct {
	// Name is the policy's name.
	Name string
	LimiterStats
}

// Stats returns a snapshot per policy. It scans every table
// (O(total max_keys)); call it from a metrics scrape, not per request.
func (f *Filter) Stats() []PolicyStats {
	now := f.clock()
	out := make([]PolicyStats, len(f.policies))
	for i := range f.policies {
		out[i] = PolicyStats{Name: f.policies[i].name, LimiterStats: f.policies[i].lim.Stats(now)}
	}
	return out
}

// Metrics returns the filter's metrics, built when the filter was: per
// policy, the key capacity and live keys (a table scan per scrape), the
// evictions (the key cap biting) and the refusals. The counters are sharded
// atomics read at scrape time, so counting costs the hot path nothing
// shared.
func (f *Filter) Metrics() *metrics.Set { return f.metrics }

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func newMetrics(route string, f *Filter) *metrics.Set {
	set := metrics.NewSet()
	r := `route="` + labelEscaper.Replace(route) + `"`
	for i := range f.policies {
		lim := f.policies[i].lim
		l := `{` + r + `,policy="` + f.policies[i].name + `"}` // names are [A-Za-z0-9._-]
		set.NewGauge(`tollgate_ratelimit_keys_capacity`+l, func() float64 { return float64(lim.Capacity()) })
		set.NewGauge(`tollgate_ratelimit_keys_live`+l, func() float64 { return float64(lim.Live(f.clock())) })
		set.NewGauge(`tollgate_ratelimit_evictions_total`+l, func() float64 { return float64(lim.Evicted()) })
		set.NewGauge(`tollgate_ratelimit_limited_total`+l, func() float64 { return float64(lim.Limited()) })
		if f.policies[i].shared != nil {
			newStoreMetrics(set, l, &f.policies[i])
		}
	}
	return set
}
