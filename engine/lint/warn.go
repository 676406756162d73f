package lint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/rbac"
)

// Warning kinds. Each is sound: it is reported only when what it says
// holds for every request the config can serve.
const (
	// KindBroadWrite: a permission grants a write method (POST, PUT,
	// PATCH, DELETE or "*") on "/**", or on an admin-looking path (a
	// pattern with a literal segment "admin", any case) to a role whose
	// name does not say admin. Least privilege wants writes named path by
	// path.
	KindBroadWrite = "broad-write"
	// KindShadowedRule: an rbac permission can never decide a request
	// because an earlier one in check order admits everything it admits:
	// every role holding it holds the earlier one, the earlier one's
	// methods and pattern cover its own, the earlier one has no condition
	// and requires no scope it does not.
	KindShadowedRule = "shadowed-rule"
	// KindUnusedRole: a role defined in an rbac policy that no permission
	// is granted to, directly or by inheritance; a role an API key
	// carries that no rbac permission in the config is granted to (in a
	// config with at least one rbac filter); or, where it is knowable —
	// every route using the policy authenticates with API keys only — a
	// role with permissions that neither it nor any role inheriting it is
	// carried by a key or the policy's subjects map.
	KindUnusedRole = "unused-role"
	// KindUnusedFilter: a top-level filter that no route (and not
	// not_found) uses.
	KindUnusedFilter = "unused-filter"
	// KindUnauthenticated: a route whose chain has no authentication
	// filter (jwtauth, apikey, introspect, mtlsauth) and that is not marked
	// public: true.
	KindUnauthenticated = "unauthenticated-route"
	// KindRateLimitKey: a ratelimit policy keyed on something the route
	// can never supply — principal, tenant or credential where no
	// authentication filter runs before the limiter (the chain runs in
	// order, so the identity is not there yet), or param:NAME on a route
	// whose path has no {NAME} — so every request shares one counter
	// instead of one each.
	KindRateLimitKey = "ratelimit-key"
	// KindPublicRoute: a route marked public: true whose chain refuses
	// every request without a credential anyway — an rbac filter (401 to
	// anyone unverified) or a jwtauth, apikey or introspect filter that is
	// not optional — so the marker says the opposite of what it does.
	KindPublicRoute = "public-route"
	// KindFilterOrder: an rbac filter that runs before the route's
	// authentication filters (the chain runs in config order), so it never
	// sees an identity and answers every request 401; or an apikey or
	// mtlsauth filter with second_factor: true that no authentication
	// filter runs before, so the setting does nothing (its credential is
	// the principal, and a token naming another one is refused).
	KindFilterOrder = "filter-order"
	// KindUnusableScope: an rbac permission requiring a scope that no
	// credential on the routes using the policy can carry, where that is
	// knowable: every filter on those routes is a built-in one and none
	// of them is jwtauth or introspect (API keys and client certificates
	// carry roles, never scopes). Such a permission grants nothing.
	KindUnusableScope = "unusable-scope"
)

// scopeCarriers are the filters whose identities may hold scopes.
var scopeCarriers = []string{"jwtauth", "introspect"}

// authFilters are the filters that establish an identity.
var authFilters = []string{"jwtauth", "apikey", "introspect", "mtlsauth"}

// policy is one rbac filter instance and where it is written.
type policy struct {
	label string // how messages name it
	f     *rbac.Filter
	spec  *config.FilterSpec
	rules []rbac.Rule
	// keys are the apikey entries of the routes using the policy; unknown
	// is set when one of those routes authenticates some other way (a
	// token's roles cannot be known ahead of time).
	keys    []*config.FilterSpec
	unknown bool
	// scoped is set when a route using the policy runs a filter that may
	// give the identity scopes: a token filter, or a filter check does not
	// know (from a registry other than the built-in one).
	scoped bool
}

// warnings looks for policy problems in a config that compiled.
func (c *checker) warnings(rt *engine.Runtime) {
	cfg := c.cfg
	var policies []*policy
	byFilter := map[filters.Filter]*policy{}
	addPolicy := func(f filters.Filter, spec *config.FilterSpec, route string) {
		rf, ok := f.(*rbac.Filter)
		if !ok || byFilter[f] != nil {
			return
		}
		label := "rbac on route " + route
		if spec.ID != "" {
			label = "rbac " + strconv.Quote(spec.ID)
		}
		p := &policy{label: label, f: rf, spec: spec, rules: rf.Rules(rt.Roles, rt.Scopes)}
		byFilter[f] = p
		policies = append(policies, p)
	}
	// Policies are gathered route by route, each instance once.
	shared := map[string]*config.FilterSpec{}
	for i := range cfg.Filters {
		shared[cfg.Filters[i].ID] = &cfg.Filters[i]
	}
	used := map[string]bool{}
	specOf := func(fs *config.FilterSpec) *config.FilterSpec {
		if fs.Use != "" {
			used[fs.Use] = true
			return shared[fs.Use]
		}
		return fs
	}
	for i, rc := range cfg.Routes {
		chain := rt.Routes[i].Chain.Filters()
		authenticated := false
		var keys []*config.FilterSpec
		unknown, scoped := false, false
		var routePolicies []*policy
		for j := range rc.Filters {
			if j >= len(chain) {
				break
			}
			spec := specOf(&cfg.Routes[i].Filters[j])
			addPolicy(chain[j], spec, rc.Name)
			if p := byFilter[chain[j]]; p != nil {
				routePolicies = append(routePolicies, p)
			}
			if name := chain[j].Name(); slices.Contains(scopeCarriers, name) || !c.builtin[name] {
				scoped = true
			}
			if slices.Contains(authFilters, chain[j].Name()) {
				authenticated = true
				if chain[j].Name() == "apikey" {
					keys = append(keys, spec)
				} else {
					unknown = true
				}
			}
		}
		for _, p := range routePolicies {
			p.keys = append(p.keys, keys...)
			p.unknown = p.unknown || unknown
			p.scoped = p.scoped || scoped
		}
		if rc.Public {
			c.publicRoute(i, rc, chain, specOf)
		}
		c.order(i, rc, chain)
		c.secondFactorOrder(i, rc, chain, specOf)
		if !authenticated && !rc.Public {
			c.warn(rc.Pos, KindUnauthenticated, "routes[%d] (%s): no authentication filter (%s) and not marked public: true; anyone may call %s %s", i, rc.Name, strings.Join(authFilters, ", "), methodList(rc.Methods), rc.Path)
		}
		c.rateLimitKeys(i, rc, chain, specOf)
	}
	if nf := cfg.NotFound; nf != nil {
		for j := range nf.Filters {
			specOf(&nf.Filters[j])
		}
	}
	for i := range cfg.Filters {
		if fs := &cfg.Filters[i]; !used[fs.ID] {
			c.warn(fs.Pos, KindUnusedFilter, "filters[%d] (%s, id %s) is defined but no route uses it", i, fs.Name, fs.ID)
		}
	}

	granted := map[string]bool{} // roles some permission is granted to
	for _, p := range policies {
		for _, r := range p.rules {
			for _, h := range r.Holders {
				granted[h] = true
			}
		}
	}
	for _, p := range policies {
		c.broadWrites(p)
		c.shadowed(p)
		c.unusedRoles(p)
		c.uncarriable(p)
		c.unusableScopes(p)
	}
	if len(policies) > 0 {
		// Without any rbac filter, roles may serve the upstream (or
		// nothing yet): there is no policy to hold them against.
		c.apiKeyRoles(granted)
	}
}

// writeMethods are the methods that change state.
var writeMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

func (c *checker) broadWrites(p *policy) {
	for _, r := range p.rules {
		writes := writesOf(r.Methods)
		if len(writes) == 0 {
			continue
		}
		who := "role " + strconv.Quote(r.Role)
		if r.Role == "" {
			who = "scopes " + strings.Join(r.Scopes, ", ")
		}
		switch {
		case r.Pattern == "/**":
			c.warn(c.rulePos(p, r), KindBroadWrite, "%s: %s is granted %s on every path (/**); name the paths it may change", p.label, who, strings.Join(writes, ", "))
		case adminLooking(r.Pattern) && !strings.Contains(strings.ToLower(r.Role), "admin"):
			c.warn(c.rulePos(p, r), KindBroadWrite, "%s: %s is granted %s on the admin path %s", p.label, who, strings.Join(writes, ", "), r.Pattern)
		}
	}
}

func writesOf(methods []string) []string {
	if slices.Contains(methods, "*") {
		return []string{"*"}
	}
	var out []string
	for _, m := range methods {
		if slices.Contains(writeMethods, m) {
			out = append(out, m)
		}
	}
	return out
}

// adminLooking reports whether a pattern has a literal segment admin.
func adminLooking(pat string) bool {
	for _, seg := range strings.Split(pat, "/") {
		if strings.EqualFold(seg, "admin") {
			return true
		}
	}
	return false
}

func (c *checker) shadowed(p *policy) {
	for j, later := range p.rules {
		for i := range j {
			earlier := p.rules[i]
			if earlier.TenantParam != "" || !subset(earlier.Scopes, later.Scopes) {
				continue
			}
			if earlier.Role == "" && later.Role != "" || earlier.Role != "" && !subset(later.Holders, earlier.Holders) {
				continue
			}
			if !methodsCover(earlier.Methods, later.Methods) || !patternCovers(earlier.Pattern, later.Pattern) {
				continue
			}
			c.warn(c.rulePos(p, later), KindShadowedRule, "%s: %s %s of %s can never decide: %s %s of %s (line %d) is checked first and admits all it does", p.label, methodList(later.Methods), later.Pattern, roleName(later), methodList(earlier.Methods), earlier.Pattern, roleName(earlier), earlier.Line)
			break
		}
	}
}

func roleName(r rbac.Rule) string {
	if r.Role == "" {
		return "the scope-only allow list"
	}
	return "role " + strconv.Quote(r.Role)
}

// unusedRoles reports roles of p that no permission is granted to.
func (c *checker) unusedRoles(p *policy) {
	held := map[string]bool{}
	for _, r := range p.rules {
		for _, h := range r.Holders {
			held[h] = true
		}
	}
	roles := child(&p.spec.Config, "roles")
	if roles == nil || roles.Kind != yaml.MappingNode {
		return
	}
	for k := 0; k+1 < len(roles.Content); k += 2 {
		name := roles.Content[k]
		if !held[name.Value] {
			c.warn(p.spec.NodePosition(name), KindUnusedRole, "%s: role %q is granted no permission, directly or by inheritance", p.label, name.Value)
		}
	}
}

// uncarriable reports roles of p whose permissions no credential can
// reach: when every route using p authenticates with API keys only, the
// roles a principal can have are the keys' roles plus those p's subjects
// map gives; a role none of whose holders is among them grants nothing to
// anyone.
func (c *checker) uncarriable(p *policy) {
	if p.unknown || len(p.keys) == 0 {
		return
	}
	carried := map[string]bool{}
	for _, fs := range p.keys {
		if keys := child(&fs.Config, "keys"); keys != nil && keys.Kind == yaml.SequenceNode {
			for _, k := range keys.Content {
				if roles := child(k, "roles"); roles != nil && roles.Kind == yaml.SequenceNode {
					for _, r := range roles.Content {
						carried[r.Value] = true
					}
				}
			}
		}
	}
	if subj := child(&p.spec.Config, "subjects"); subj != nil && subj.Kind == yaml.MappingNode {
		for k := 1; k < len(subj.Content); k += 2 {
			for _, r := range subj.Content[k].Content {
				carried[r.Value] = true
			}
		}
	}
	roles := child(&p.spec.Config, "roles")
	if roles == nil || roles.Kind != yaml.MappingNode {
		return
	}
	for k := 0; k+1 < len(roles.Content); k += 2 {
		name := roles.Content[k]
		var holders []string
		for _, r := range p.rules {
			if r.Role == name.Value {
				holders = r.Holders
				break
			}
		}
		if len(holders) == 0 || slices.ContainsFunc(holders, func(h string) bool { return carried[h] }) {
			continue
		}
		c.warn(p.spec.NodePosition(name), KindUnusedRole, "%s: role %q grants permissions no credential can reach: the routes using it authenticate API keys only, and no key (nor subjects entry) carries %s", p.label, name.Value, strings.Join(holders, " or "))
	}
}

// unusableScopes reports permissions of p requiring scopes when no route
// using p runs a filter that can give an identity a scope.
func (c *checker) unusableScopes(p *policy) {
	if p.scoped {
		return
	}
	for _, r := range p.rules {
		if len(r.Scopes) == 0 {
			continue
		}
		c.warn(c.rulePos(p, r), KindUnusableScope, "%s: %s %s of %s requires scope %s, but no filter on the routes using it can carry a scope (only jwtauth and introspect do; API keys and client certificates carry none): it grants nothing", p.label, methodList(r.Methods), r.Pattern, roleName(r), strings.Join(r.Scopes, ", "))
	}
}

// apiKeyRoles reports roles API keys carry that no rbac permission is
// granted to.
func (c *checker) apiKeyRoles(granted map[string]bool) {
	each := func(fs *config.FilterSpec) {
		if fs.Name != "apikey" {
			return
		}
		keys := child(&fs.Config, "keys")
		if keys == nil || keys.Kind != yaml.SequenceNode {
			return
		}
		for _, k := range keys.Content {
			roles := child(k, "roles")
			if roles == nil || roles.Kind != yaml.SequenceNode {
				continue
			}
			for _, r := range roles.Content {
				if !granted[r.Value] {
					c.warn(fs.NodePosition(r), KindUnusedRole, "apikey: role %q is given to a key but no rbac permission is granted to it", r.Value)
				}
			}
		}
	}
	for i := range c.cfg.Filters {
		each(&c.cfg.Filters[i])
	}
	for i := range c.cfg.Routes {
		for j := range c.cfg.Routes[i].Filters {
			each(&c.cfg.Routes[i].Filters[j])
		}
	}
}

// order reports an rbac filter placed before the route's first
// authentication filter.
func (c *checker) order(i int, rc config.Route, chain []filters.Filter) {
	firstRBAC, firstAuth := -1, -1
	for j, f := range chain {
		switch {
		case f.Name() == "rbac" && firstRBAC < 0:
			firstRBAC = j
		case slices.Contains(authFilters, f.Name()) && firstAuth < 0:
			firstAuth = j
		}
	}
	if firstRBAC >= 0 && firstAuth > firstRBAC && firstRBAC < len(rc.Filters) {
		c.warn(rc.Filters[firstRBAC].Pos, KindFilterOrder, "routes[%d] (%s): the rbac filter runs before the %s filter, so it never sees an identity and answers every request 401; list authentication first", i, rc.Name, chain[firstAuth].Name())
	}
}

// secondFactorOrder reports a second_factor filter with no authentication
// filter before it on route i: second_factor only matters beside an
// identity an earlier filter verified.
func (c *checker) secondFactorOrder(i int, rc config.Route, chain []filters.Filter, specOf func(*config.FilterSpec) *config.FilterSpec) {
	for j := range rc.Filters {
		if j >= len(chain) {
			return
		}
		name := chain[j].Name()
		if !slices.Contains(authFilters, name) {
			continue
		}
		fs := specOf(&rc.Filters[j])
		if sf := child(&fs.Config, "second_factor"); (name == "apikey" || name == "mtlsauth") && sf != nil && sf.Value == "true" {
			c.warn(fs.NodePosition(sf), KindFilterOrder, "routes[%d] (%s): second_factor on the %s filter does nothing: no authentication filter runs before it, so its credential is the request's principal and a token naming another one is refused; list it after the token filter", i, rc.Name, name)
		}
		return // only the first authentication filter can have none before it
	}
}

// publicRoute reports a public route whose chain needs a credential.
func (c *checker) publicRoute(i int, rc config.Route, chain []filters.Filter, specOf func(*config.FilterSpec) *config.FilterSpec) {
	for j := range rc.Filters {
		if j >= len(chain) {
			return
		}
		name := chain[j].Name()
		fs := specOf(&rc.Filters[j])
		required := name == "rbac"
		if name == "jwtauth" || name == "apikey" || name == "introspect" {
			opt := child(&fs.Config, "optional")
			required = opt == nil || opt.Value != "true"
		}
		if required {
			c.warn(rc.Pos, KindPublicRoute, "routes[%d] (%s) is marked public: true, but its %s filter (%s) refuses every request without a credential", i, rc.Name, name, fs.Pos)
			return
		}
	}
}

// rateLimitKeys reports ratelimit keys route i can never supply: an
// identity key where no authentication filter runs before the limiter,
// a parameter the route's path does not capture.
func (c *checker) rateLimitKeys(i int, rc config.Route, chain []filters.Filter, specOf func(*config.FilterSpec) *config.FilterSpec) {
	authenticated := false
	for j := range rc.Filters {
		if j < len(chain) && slices.Contains(authFilters, chain[j].Name()) {
			authenticated = true
		}
		fs := specOf(&rc.Filters[j])
		if fs == nil || fs.Name != "ratelimit" {
			continue
		}
		pols := child(&fs.Config, "policies")
		if pols == nil || pols.Kind != yaml.SequenceNode {
			continue
		}
		for _, pol := range pols.Content {
			key := child(pol, "key")
			if key == nil || key.Kind != yaml.SequenceNode {
				continue
			}
			for _, k := range key.Content {
				switch v := k.Value; {
				case (v == "principal" || v == "tenant" || v == "credential") && !authenticated:
					c.warn(fs.NodePosition(k), KindRateLimitKey, "ratelimit: key %s on routes[%d] (%s), where no authentication filter runs before it: every request shares one counter", v, i, rc.Name)
				case strings.HasPrefix(v, "param:") && !hasParam(rc.Path, strings.TrimPrefix(v, "param:")):
					c.warn(fs.NodePosition(k), KindRateLimitKey, "ratelimit: key %s on routes[%d] (%s), whose path %s has no such parameter: every request shares one counter", v, i, rc.Name, rc.Path)
				}
			}
		}
	}
}

// hasParam reports whether a route pattern names parameter name.
func hasParam(pattern, name string) bool {
	for _, seg := range strings.Split(pattern, "/") {
		if seg == "{"+name+"}" || seg == "{"+name+"...}" {
			return true
		}
	}
	return false
}

// rulePos positions a rule: its pattern in the file, else the filter.
func (c *checker) rulePos(p *policy, r rbac.Rule) string {
	if r.Line == 0 {
		return p.spec.Pos
	}
	file, _, _ := splitPos(p.spec.Pos)
	return fmt.Sprintf("%s:%d:%d", file, r.Line, r.Column)
}

func methodList(ms []string) string {
	if len(ms) == 0 {
		return "*"
	}
	return strings.Join(ms, ",")
}

// child returns the value of key in mapping n, following aliases.
func child(n *yaml.Node, key string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == key {
			v := n.Content[k+1]
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
