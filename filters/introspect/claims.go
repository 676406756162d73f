package introspect

import (
	"bytes"
	"encoding/json"

	"github.com/tollgate-proxy/tollgate/filters"
)

// claimReq is one require_claims entry, parsed by
// filters.ParseClaimRequirements with the same meaning as the jwtauth
// filter's: "present", one value, or a list of accepted values (strings,
// booleans, float64s); a member holding an array passes when one element
// matches.
type claimReq = filters.ClaimRequirement

// compileClaims parses the require_claims map into checks sorted by name,
// so the first failing entry of a response is always the same one.
// Messages are relative to the filter entry.
func compileClaims(m map[string]any) ([]claimReq, []string) {
	return filters.ParseClaimRequirements(m)
}

// checkClaims returns the detail naming the first require_claims entry the
// response fails, or "".
func checkClaims(reqs []claimReq, members map[string]json.RawMessage) string {
	for i := range reqs {
		r := &reqs[i]
		v := lookup(members, r.Path)
		if isNull(v) {
			return r.Missing
		}
		if r.Present {
			continue
		}
		var x any
		d := json.NewDecoder(bytes.NewReader(v))
		if d.Decode(&x) != nil || !holds(r, x) {
			return r.Mismatch
		}
	}
	return ""
}

// holds reports whether the decoded value x is accepted by r, or is an
// array holding an accepted value.
func holds(r *claimReq, x any) bool {
	if a, ok := x.([]any); ok {
		for _, e := range a {
			if matches(r, e) {
				return true
			}
		}
		return false
	}
	return matches(r, x)
}

func matches(r *claimReq, x any) bool {
	for _, w := range r.Want {
		if x == w {
			return true
		}
	}
	return false
}
