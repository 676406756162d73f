package filters

import (
	"sort"
	"strconv"
	"strings"
)

// ClaimPresent is the require_claims value that asks only that a claim be
// there and not null.
const ClaimPresent = "present"

// ClaimRequirement is one require_claims entry, parsed once for every
// filter that checks claims of a verified credential (jwtauth over a
// token's payload, introspect over an introspection response). The
// parsing and the problem details live here so the two filters cannot
// drift in what a configuration means or in what a refused client reads;
// each filter keeps its own matcher, because each holds the claims in a
// different form (raw JSON bytes matched without allocating, or decoded
// members).
type ClaimRequirement struct {
	Name    string   // the entry's key, a dotted claim path
	Path    []string // Name split at its dots; no segment is empty
	Present bool     // any non-null value will do
	// Want holds the accepted values, each a string, a bool or a
	// float64 (integers of the configuration are widened); a claim that
	// is an array passes when one of its elements is accepted.
	Want     []any
	Missing  string // problem detail when the claim is absent or null
	Mismatch string // problem detail when it holds no accepted value
}

// ParseClaimRequirements turns a require_claims map into requirements
// sorted by claim name, so the first refusal of a credential with several
// bad claims is always the same one. Each value is "present", a string, a
// boolean, a number or a non-empty list of them. It returns every problem
// at once, as messages relative to the filter entry
// ("require_claims.<name>: …"); an entry whose name is not a dotted path
// is left out of the result.
func ParseClaimRequirements(m map[string]any) ([]ClaimRequirement, []string) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []ClaimRequirement
	var msgs []string
	for _, name := range names {
		at := "require_claims." + name
		path := strings.Split(name, ".")
		if !validClaimPath(path) {
			msgs = append(msgs, at+": "+strconv.Quote(name)+" is not a dotted claim path")
			continue
		}
		r := ClaimRequirement{Name: name, Path: path,
			Missing:  "claim " + strconv.Quote(name) + " is required",
			Mismatch: "claim " + strconv.Quote(name) + " does not hold a required value",
		}
		add := func(v any) bool {
			switch x := v.(type) {
			case string, bool, float64:
				r.Want = append(r.Want, x)
			case int:
				r.Want = append(r.Want, float64(x))
			default:
				return false
			}
			return true
		}
		switch v := m[name].(type) {
		case string:
			if v == ClaimPresent {
				r.Present = true
			} else {
				add(v)
			}
		case []any:
			if len(v) == 0 {
				msgs = append(msgs, at+": list at least one accepted value")
			}
			for _, x := range v {
				if !add(x) {
					msgs = append(msgs, at+": want strings, booleans or numbers in the list")
					break
				}
			}
		default:
			if !add(v) {
				msgs = append(msgs, at+`: want "present", a string, a boolean, a number or a list of them`)
			}
		}
		out = append(out, r)
	}
	return out, msgs
}

func validClaimPath(p []string) bool {
	for _, s := range p {
		if s == "" {
			return false
		}
	}
	return len(p) > 0
}
