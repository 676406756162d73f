package explain

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters/rbac"
)

// Grant is one permission a role has on a route.
type Grant struct {
	// Methods are the methods granted on the route (the rule's methods
	// within the route's).
	Methods []string `json:"methods"`
	// Pattern is the rule's path pattern.
	Pattern string `json:"pattern"`
	// Note names the rule's role (when inherited), scopes and condition.
	Note string `json:"note,omitempty"`
	// At is where the rule is written.
	At string `json:"at"`
}

// RouteGrants is what a role may do on one route.
type RouteGrants struct {
	Route   string `json:"route"`
	At      string `json:"at"`
	Pattern string `json:"pattern"`
	// Access is "policy" (Grants say what), "authenticated" (no rbac
	// filter: any authenticated principal), "public" (no authentication
	// filter: anyone) or "none".
	Access string  `json:"access"`
	Grants []Grant `json:"grants,omitempty"`
}

// Listing is everything the roles may do, route by route.
type Listing struct {
	Roles  []string      `json:"roles"`
	Scopes []string      `json:"scopes,omitempty"`
	Routes []RouteGrants `json:"routes"`
}

// List says what a principal with opts.Roles (and opts.Scopes) may do on
// every route of the config: the methods and path patterns of each rbac
// rule it holds, within the route's methods and path.
func List(opts Options) (*Listing, error) {
	if len(opts.Roles) == 0 {
		return nil, errors.New("explain: listing needs at least one --role")
	}
	l, err := load(opts)
	if err != nil {
		return nil, err
	}
	defer l.release()
	out := &Listing{Roles: opts.Roles, Scopes: opts.Scopes}
	for i, rc := range l.cfg.Routes {
		rg := RouteGrants{Route: rc.Name, At: rc.Pos, Pattern: methods(rc.Methods) + " " + rc.Path, Access: "public"}
		for j, f := range l.rt.Routes[i].Chain.Filters() {
			if slices.Contains(authFilters, f.Name()) {
				rg.Access = "authenticated"
			}
			rf, ok := f.(*rbac.Filter)
			if !ok {
				continue
			}
			rg.Access = "none"
			file, _, _ := strings.Cut(l.filterPos(rc, j), ":")
			for _, r := range rf.Rules(l.rt.Roles, l.rt.Scopes) {
				if !holds(r, opts) || !overlaps(r.Pattern, rc.Path) {
					continue
				}
				ms := within(r.Methods, rc.Methods)
				if len(ms) == 0 {
					continue
				}
				g := Grant{Methods: ms, Pattern: r.Pattern, At: file + ":" + strconv.Itoa(r.Line) + ":" + strconv.Itoa(r.Column)}
				var notes []string
				if r.Role != "" && !slices.Contains(opts.Roles, r.Role) {
					notes = append(notes, "from role "+r.Role)
				}
				if len(r.Scopes) > 0 {
					notes = append(notes, "with scopes "+strings.Join(r.Scopes, " "))
				}
				if r.TenantParam != "" {
					notes = append(notes, "if {"+r.TenantParam+"} is the tenant")
				}
				g.Note = strings.Join(notes, "; ")
				rg.Grants = append(rg.Grants, g)
			}
			if len(rg.Grants) > 0 {
				rg.Access = "policy"
			}
			break // the first rbac filter decides
		}
		out.Routes = append(out.Routes, rg)
	}
	return out, nil
}

// holds reports whether a principal with opts' roles and scopes holds r.
func holds(r rbac.Rule, opts Options) bool {
	if r.Role != "" && !slices.ContainsFunc(r.Holders, func(h string) bool { return slices.Contains(opts.Roles, h) }) {
		return false
	}
	if r.Role == "" && len(opts.Scopes) == 0 {
		return false
	}
	for _, s := range r.Scopes {
		if len(opts.Scopes) > 0 && !slices.Contains(opts.Scopes, s) {
			return false
		}
	}
	return true
}

// within returns the methods of a grant that the route serves.
func within(grant, route []string) []string {
	switch {
	case len(route) == 0:
		return grant
	case slices.Contains(grant, "*"):
		return route
	}
	var out []string
	for _, m := range route {
		if slices.Contains(grant, m) {
			out = append(out, m)
		}
	}
	return out
}

// overlaps reports whether some path matches both an rbac pattern and a
// route pattern (a route's final /* or {x...} is a wildcard, an rbac
// pattern's final ** also matches its prefix).
func overlaps(a, b string) bool {
	as := strings.Split(strings.TrimPrefix(a, "/"), "/")
	bs := strings.Split(strings.TrimPrefix(b, "/"), "/")
	for i := 0; ; i++ {
		switch {
		case i < len(as) && as[i] == "**" || i < len(bs) && bs[i] == "**":
			return true
		case i == len(as) || i == len(bs):
			return len(as) == len(bs)
		case rest(as[i]) && i < len(bs) || rest(bs[i]) && i < len(as):
			return true
		case param(as[i]) || param(bs[i]) || as[i] == bs[i]:
			continue
		default:
			return false
		}
	}
}

func rest(s string) bool {
	return s == "*" || strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}")
}
func param(s string) bool { return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") }
