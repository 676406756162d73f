package introspect

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// claimReq is one compiled require_claims entry, with the same meaning as
// the jwtauth filter's: "present", one value, or a list of accepted
// values; a member holding an array passes when one element matches.
type claimReq struct {
	path     []string
	present  bool
	want     []any // string, bool or float64
	missing  string
	mismatch string
}

// compileClaims turns the require_claims map into checks sorted by name,
// so the first failing entry of a response is always the same one.
// Messages are relative to the filter entry.
func compileClaims(m map[string]any) ([]claimReq, []string) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []claimReq
	var msgs []string
	for _, name := range names {
		at := "require_claims." + name
		path := strings.Split(name, ".")
		if !validPath(path) {
			msgs = append(msgs, at+": "+strconv.Quote(name)+" is not a dotted claim path")
			continue
		}
		r := claimReq{path: path,
			missing:  "claim " + strconv.Quote(name) + " is required",
			mismatch: "claim " + strconv.Quote(name) + " does not hold a required value",
		}
		add := func(v any) bool {
			switch x := v.(type) {
			case string, bool, float64:
				r.want = append(r.want, x)
			case int:
				r.want = append(r.want, float64(x))
			default:
				return false
			}
			return true
		}
		switch v := m[name].(type) {
		case string:
			if v == "present" {
				r.present = true
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

func validPath(p []string) bool {
	for _, s := range p {
		if s == "" {
			return false
		}
	}
	return len(p) > 0
}

// checkClaims returns the detail naming the first require_claims entry the
// response fails, or "".
func checkClaims(reqs []claimReq, members map[string]json.RawMessage) string {
	for i := range reqs {
		r := &reqs[i]
		v := lookup(members, r.path)
		if isNull(v) {
			return r.missing
		}
		if r.present {
			continue
		}
		var x any
		d := json.NewDecoder(bytes.NewReader(v))
		if d.Decode(&x) != nil || !r.holds(x) {
			return r.mismatch
		}
	}
	return ""
}

func (r *claimReq) holds(x any) bool {
	if a, ok := x.([]any); ok {
		for _, e := range a {
			if r.matches(e) {
				return true
			}
		}
		return false
	}
	return r.matches(x)
}

func (r *claimReq) matches(x any) bool {
	for _, w := range r.want {
		if x == w {
			return true
		}
	}
	return false
}
