package rbac

import (
	"bytes"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Filter authorizes verified principals by role. It is immutable after New
// and safe for concurrent use by several routes' chains.
type Filter struct {
	rules     []rule
	methods   filters.MethodTable
	subjects  map[string]filters.RoleSet // static subject -> extra roles
	challenge []byte                     // WWW-Authenticate value on 401
	override  bool                       // authorize method overrides instead of stripping them
	scopeOnly bool                       // some rule is granted by scopes alone
	m         *filterMetrics
}

// rule is one permission on one path pattern, flattened for the scan.
type rule struct {
	roles       filters.RoleSet // roles holding it: the declaring role and its heirs
	anyRole     bool            // a scope-only permission: every verified principal holds it
	scopes      filters.RoleSet // scopes the principal must all hold (bits of the scope table)
	methods     uint64
	pat         *pattern
	tenantParam string // condition: this parameter must equal the tenant
	capture     int    // segment of pat holding tenantParam, or -1
	role        string // declaring role ("" for scope-only), for Rules
	line, col   int    // position of the path pattern in the config, for Rules
}

// Interface guard.
var _ filters.Filter = (*Filter)(nil)

// Refusal reasons.
var (
	// ReasonRequired: no verified identity reached the filter, so the
	// route's credential was missing (RFC 9110 §15.5.2: 401, not 403).
	ReasonRequired = filters.NewReason("authn.required", 401, filters.DecisionDenied, "authentication is required")
	// ReasonMethodDenied: a role of the principal grants the path, but not
	// with this method.
	ReasonMethodDenied = filters.NewReason("rbac.method_denied", 403, filters.DecisionDenied, "the principal's roles do not allow this method on this path")
	// ReasonPathDenied: no role of the principal grants the path.
	ReasonPathDenied = filters.NewReason("rbac.path_denied", 403, filters.DecisionDenied, "the principal's roles do not allow this path")
	// ReasonScopeMissing: a permission matches the method and path but
	// the credential lacks one of the OAuth scopes it requires (RFC 6750
	// §3.1 insufficient_scope is a 403).
	ReasonScopeMissing = filters.NewReason("rbac.scope_missing", 403, filters.DecisionDenied, "the credential lacks a scope the matching permission requires")
	// ReasonConditionFailed: a permission matches the method and path but
	// its condition (such as the tenant) does not hold.
	ReasonConditionFailed = filters.NewReason("rbac.condition_failed", 403, filters.DecisionDenied, "a condition of the matching permission does not hold")
)

// Reasons lists the refusal reasons this filter can return, for
// documentation and `tollgate explain`.
func Reasons() []*filters.Reason {
	return []*filters.Reason{ReasonRequired, ReasonMethodDenied, ReasonPathDenied, ReasonScopeMissing, ReasonConditionFailed}
}

// outcome of a check, ordered by how close the request came to being
// allowed: the closest one names the refusal.
type outcome uint8

const (
	outPath outcome = iota
	outMethod
	outScope
	outCondition
	outAllowed
	outRequired
	numOutcomes
)

var outcomeReasons = [numOutcomes]*filters.Reason{
	outPath:      ReasonPathDenied,
	outMethod:    ReasonMethodDenied,
	outScope:     ReasonScopeMissing,
	outCondition: ReasonConditionFailed,
	outRequired:  ReasonRequired,
}

// Name implements filters.Filter.
func (f *Filter) Name() string { return "rbac" }

// Metrics returns the filter's metric set, to be registered by the engine
// for as long as the filter's config generation serves traffic.
func (f *Filter) Metrics() *metrics.Set { return f.m.set }

// Handle implements filters.Filter: it lets the request through when a
// permission of the principal's effective roles covers its method and
// path (and its conditions hold), and refuses it otherwise. Default deny.
// It does not allocate.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	o, _ := f.check(ex, ex.Method)
	if o == outAllowed {
		o = f.overrides(ex)
	}
	f.m.outcomes[o].Inc()
	if o == outAllowed {
		return filters.Continue
	}
	if o == outRequired {
		ex.AddResponseHeader("WWW-Authenticate", f.challenge)
	}
	return filters.Respond(outcomeReasons[o])
}

// overrideHeaders are the headers some frameworks read to run a request
// as another method than the one on its request line.
var overrideHeaders = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// overrides handles method-override headers on an allowed request. By
// default they are removed, so the upstream runs the method that was
// authorized. With method_override: authorize, each value present must be
// allowed too (as well as the real method, which a backend ignoring the
// override would run), and the headers are kept.
func (f *Filter) overrides(ex *filters.Exchange) outcome {
	for _, h := range overrideHeaders {
		v := ex.Header(h)
		if v == nil {
			continue
		}
		if !f.override {
			ex.DelHeader(h)
			continue
		}
		if o, _ := f.check(ex, v); o != outAllowed {
			return o
		}
	}
	return outAllowed
}

// check decides the request for method; the path is the normalized one
// (ex.Path). It also returns the index of the rule that decided: the one
// that allowed, or the one behind the closest miss (-1 when none came
// close).
func (f *Filter) check(ex *filters.Exchange, method []byte) (outcome, int) {
	id := &ex.Identity
	if !id.Verified {
		return outRequired, -1
	}
	roles := id.Roles
	if f.subjects != nil && len(id.Subject) > 0 {
		roles |= f.subjects[string(id.Subject)] // the compiler does not allocate for this lookup
	}
	if roles == 0 && !f.scopeOnly {
		return outPath, -1
	}
	bit := f.methods.Bit(method)
	if bit == 0 {
		bit = filters.MethodOther // only a "*" grant covers it
	}
	best, at := outPath, -1
	for i := range f.rules {
		r := &f.rules[i]
		if r.roles&roles == 0 && !r.anyRole {
			continue
		}
		if r.methods&bit == 0 {
			// Only worth a path match if it can change the answer.
			if best == outPath {
				if _, ok := r.pat.match(ex.Path, -1); ok {
					best, at = outMethod, i
				}
			}
			continue
		}
		val, ok := r.pat.match(ex.Path, r.capture)
		if !ok {
			continue
		}
		if r.scopes&id.Scopes != r.scopes {
			if best < outScope {
				best, at = outScope, i
			}
			continue
		}
		if r.tenantParam != "" && !tenantMatches(ex, r, val) {
			best, at = outCondition, i
			continue
		}
		return outAllowed, i
	}
	return best, at
}

// tenantMatches checks the tenant condition: the parameter's value (from
// the permission's own pattern, else from the matched route's parameters)
// must equal the verified tenant, and both must be present.
func tenantMatches(ex *filters.Exchange, r *rule, val []byte) bool {
	if r.capture < 0 {
		val = ex.Params.Get(r.tenantParam)
	}
	t := ex.Identity.Tenant
	return len(t) > 0 && len(val) > 0 && bytes.Equal(val, t)
}

// allMethods is the mask of a "*" grant: every method, known or not.
const allMethods = ^uint64(0)

// methodNames lists a grant's methods, "*" for all of them.
func methodNames(t *filters.MethodTable, mask uint64) []string {
	if mask == allMethods {
		return []string{"*"}
	}
	return t.Names(mask)
}
