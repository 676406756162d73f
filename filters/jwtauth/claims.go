package jwtauth

import (
	"math"
	"strconv"

	"github.com/tollgate-proxy/tollgate/filters"
)

// claimPresent is the require_claims value that asks only for presence.
const claimPresent = filters.ClaimPresent

// claimReq is one compiled require_claims entry: a claim path and either
// "present" or the values of which the claim must hold one, in the form
// the payload matcher reads without allocating.
type claimReq struct {
	name     string
	path     [][]byte
	present  bool // any non-null value will do
	want     []claimValue
	missing  string // problem detail when the claim is absent
	mismatch string // problem detail when it holds no wanted value
}

// claimValue is one accepted value: a string, a boolean or a number.
type claimValue struct {
	kind byte // 's', 'b' or 'n'
	s    []byte
	b    bool
	n    float64
}

// compileClaims turns the require_claims map, parsed by
// filters.ParseClaimRequirements (sorted by claim name, messages relative
// to the filter entry), into checks over a token's raw payload.
func compileClaims(m map[string]any) ([]claimReq, []string) {
	parsed, msgs := filters.ParseClaimRequirements(m)
	out := make([]claimReq, 0, len(parsed))
	for _, p := range parsed {
		r := claimReq{name: p.Name, present: p.Present, missing: p.Missing, mismatch: p.Mismatch}
		for _, seg := range p.Path {
			r.path = append(r.path, []byte(seg))
		}
		for _, w := range p.Want {
			switch x := w.(type) {
			case string:
				r.want = append(r.want, claimValue{kind: 's', s: []byte(x)})
			case bool:
				r.want = append(r.want, claimValue{kind: 'b', b: x})
			case float64:
				r.want = append(r.want, claimValue{kind: 'n', n: x})
			}
		}
		out = append(out, r)
	}
	return out, msgs
}

// checkClaims reports the first require_claims entry the claims set
// fails, or nil. It does not allocate for claims of usual size.
func checkClaims(reqs []claimReq, payload []byte) *claimReq {
	for i := range reqs {
		r := &reqs[i]
		v := lookupPath(payload, r.path)
		if len(v) == 0 || v[0] == 'n' { // absent or null
			return r
		}
		if !r.present && !r.holds(v) {
			return r
		}
	}
	return nil
}

// holds reports whether the JSON value v is one of the wanted values, or
// an array holding one (a groups or amr claim).
func (r *claimReq) holds(v []byte) bool {
	if v[0] != '[' {
		return r.matches(v)
	}
	e := newElements(v)
	for {
		x, ok := e.next()
		if !ok {
			return false
		}
		if r.matches(x) {
			return true
		}
	}
}

func (r *claimReq) matches(v []byte) bool {
	var scratch [256]byte
	for _, w := range r.want {
		switch w.kind {
		case 's':
			if s, _, ok := stringValue(v, scratch[:0]); ok && string(s) == string(w.s) {
				return true
			}
		case 'b':
			if (w.b && string(v) == "true") || (!w.b && string(v) == "false") {
				return true
			}
		case 'n':
			if v[0] == '-' || ('0' <= v[0] && v[0] <= '9') {
				if f, err := strconv.ParseFloat(filters.B2S(v), 64); err == nil && f == w.n && !math.IsInf(f, 0) {
					return true
				}
			}
		}
	}
	return false
}

// claimedScopes maps the token's OAuth scopes — the space-separated scope
// claim (RFC 8693 §4.2) and the scp claim, an array or a string, as some
// issuers write it — to bits of the configuration's scope table. Names no
// rule uses are ignored. It runs when a token is verified, after every
// filter of the configuration was built, so the table is complete whatever
// the order in which filters were constructed.
func (f *Filter) claimedScopes(payload []byte) filters.RoleSet {
	if f.scopes == nil {
		return 0
	}
	return claimedSet(lookupPath(payload, scopePath), f.scopes) |
		claimedSet(lookupPath(payload, scpPath), f.scopes)
}

var (
	scopePath = [][]byte{[]byte("scope")}
	scpPath   = [][]byte{[]byte("scp")}
)

// claimedSet maps the names a claim value lists to bits of table: the
// space-separated names of a string (scope, RFC 8693 §4.2) or the string
// elements of an array (roles, groups, scp). Other values list none, and
// names the table does not hold are ignored.
func claimedSet(v []byte, table *filters.Roles) filters.RoleSet {
	var set filters.RoleSet
	add := func(name []byte) {
		if i, ok := table.Lookup(name); ok {
			set |= 1 << uint(i)
		}
	}
	var scratch [256]byte
	switch {
	case len(v) == 0:
	case v[0] == '"':
		s, _, _ := stringValue(v, scratch[:0])
		eachName(s, add)
	case v[0] == '[':
		e := newElements(v)
		for {
			x, ok := e.next()
			if !ok {
				break
			}
			if s, _, ok := stringValue(x, scratch[:0]); ok {
				add(s)
			}
		}
	}
	return set
}

// eachName calls fn for every non-empty name of a space-separated list.
func eachName(s []byte, fn func([]byte)) {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ' ' {
			i++
		}
		if i > 0 {
			fn(s[:i])
		}
		if i == len(s) {
			return
		}
		s = s[i+1:]
	}
}
