package ratelimit

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
