package rbac

import (
	"github.com/tollgate-proxy/tollgate/filters"
)

// This file is the filter's face for tools (`tollgate explain`, `tollgate
// check`): the compiled rules as data, and a decision that names the rule
// behind it. Nothing here runs per request.

// Rule describes one compiled permission, for `tollgate explain` and
// `tollgate check`.
type Rule struct {
	// Role is the role that declares the permission, or "" for a
	// scope-only permission (the top-level allow list).
	Role string
	// Holders lists every role holding it: Role and the roles inheriting
	// it (empty for a scope-only permission, which any verified principal
	// with its scopes holds).
	Holders []string
	// Methods lists the methods granted ("*" for all); HEAD appears when GET does.
	Methods []string
	// Pattern is the path pattern as written.
	Pattern string
	// Scopes lists the OAuth scopes the principal must all hold.
	Scopes []string
	// TenantParam is the tenant condition's parameter, or "".
	TenantParam string
	// Line and Column are the pattern's 1-based position in the config
	// file, or 0 when unknown.
	Line, Column int
}

// Rules lists the filter's permissions in check order, resolving role bits
// against roles and scope bits against scopes (the configuration's
// tables; either may be nil). It allocates; call it from tools, not per
// request.
func (f *Filter) Rules(roles, scopes *filters.Roles) []Rule {
	out := make([]Rule, len(f.rules))
	for i, r := range f.rules {
		out[i] = Rule{
			Role:        r.role,
			Methods:     methodNames(&f.methods, r.methods),
			Pattern:     r.pat.raw,
			TenantParam: r.tenantParam,
			Line:        r.line,
			Column:      r.col,
		}
		if roles != nil && !r.anyRole {
			out[i].Holders = roles.Names(r.roles)
		}
		if scopes != nil {
			out[i].Scopes = scopes.Names(r.scopes)
		}
	}
	return out
}

// Decision is what the filter decided for one request, and why.
type Decision struct {
	// Reason is the refusal's reason, or nil when the request is allowed.
	Reason *filters.Reason
	// Rule is the index into Rules of the rule that decided: the one that
	// allowed the request, or the closest miss behind the refusal; -1
	// when no rule came close (or no identity reached the filter).
	Rule int
	// Subject is true when the static subjects map added roles.
	Subject bool
}

// Explain decides ex as Handle would, without touching it (method-override
// headers are not stripped) or counting it in the metrics, and says which
// rule decided. An override header's own check, when method_override is
// authorize, is reported as the decision when it refuses.
func (f *Filter) Explain(ex *filters.Exchange) Decision {
	o, at := f.check(ex, ex.Method)
	d := Decision{Rule: at}
	if f.subjects != nil && len(ex.Identity.Subject) > 0 {
		d.Subject = f.subjects[string(ex.Identity.Subject)] != 0
	}
	if o == outAllowed && f.override {
		for _, h := range overrideHeaders {
			if v := ex.Header(h); v != nil {
				if oo, i := f.check(ex, v); oo != outAllowed {
					o, d.Rule = oo, i
					break
				}
			}
		}
	}
	if o != outAllowed {
		d.Reason = outcomeReasons[o]
	}
	return d
}
