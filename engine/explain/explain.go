package explain

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
	"github.com/tollgate-proxy/tollgate/filters/rbac"
)

// Options say what to explain.
type Options struct {
	// Path is the config file.
	Path string
	// Registry is the filter registry; nil means the built-in one.
	Registry filters.Registry
	// Method and Target are the request ("GET", "/api/v1/x?y=1"); both
	// empty with Roles set lists what those roles may do instead.
	Method, Target string
	// Host is the request's Host header (empty: none).
	Host string
	// Token is sent as "Authorization: Bearer Token".
	Token string
	// APIKey is sent in the header the route's apikey filter reads.
	APIKey string
	// CertFile is a PEM client certificate (leaf first, then any
	// intermediates) presented over TLS, as verified by a listener's
	// client_ca.
	CertFile string
	// Roles, without a credential, stand in for an authenticated
	// principal with these roles; Scopes likewise for its OAuth scopes.
	Roles, Scopes []string
}

// Step is one filter's part in the decision.
type Step struct {
	// Filter is the filter's kind, such as "rbac".
	Filter string `json:"filter"`
	// At is where the filter entry is written, "file:line:col".
	At string `json:"at"`
	// Outcome is "continue", "refused", "skipped" or "not evaluated".
	Outcome string `json:"outcome"`
	// Reason is the refusal's reason code ("" unless refused).
	Reason string `json:"reason,omitempty"`
	// Status is the refusal's status (0 unless refused).
	Status int `json:"status,omitempty"`
	// Rule is where the rule that decided is written (rbac), or "".
	Rule string `json:"rule,omitempty"`
	// Note says more: the rule, or why the filter did not run.
	Note string `json:"note,omitempty"`
}

// Principal is the identity the filters established.
type Principal struct {
	Verified bool     `json:"verified"`
	Subject  string   `json:"subject,omitempty"`
	Method   string   `json:"method,omitempty"`
	Tenant   string   `json:"tenant,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	// StandIn is true when --role/--scope made it up.
	StandIn bool `json:"stand_in,omitempty"`
}

// Result is the explanation of one request.
type Result struct {
	Method string `json:"method"`
	Target string `json:"target"`
	// Path is the normalized path ("" when it could not be normalized).
	Path string `json:"path,omitempty"`
	// Route is the matched route's name ("" when none matched).
	Route string `json:"route,omitempty"`
	// RouteAt is where the route is written.
	RouteAt string `json:"route_at,omitempty"`
	// RoutePattern is the route's methods and path pattern.
	RoutePattern string `json:"route_pattern,omitempty"`
	// Params are the path parameters the route captured.
	Params map[string]string `json:"params,omitempty"`
	// Miss says why no route matched ("" when one did).
	Miss string `json:"miss,omitempty"`
	// Steps are the route's filters, in order, up to the first refusal.
	Steps []Step `json:"filters,omitempty"`
	// Principal is the identity after the filters ran.
	Principal Principal `json:"principal"`
	// Status is what the client would get: a refusal's status, or 0 when
	// the request would be forwarded (the upstream answers).
	Status int `json:"status"`
	// Reason is the code the audit log would record ("" when forwarded).
	Reason string `json:"reason,omitempty"`
	// Decision is the audit log's decision: allowed, denied, invalid, …
	Decision string `json:"decision"`
	// Upstream is where the request would be forwarded.
	Upstream string `json:"upstream,omitempty"`
	// Certificate describes the client certificate presented (--cert).
	Certificate string `json:"certificate,omitempty"`
}

// authFilters establish an identity; --role skips them.
var authFilters = []string{"jwtauth", "apikey", "introspect", "mtlsauth"}

// stateful filters are not run: their decision depends on other requests.
var stateful = []string{"ratelimit", "concurrency"}

// loaded is a compiled config, closed by its release func.
type loaded struct {
	cfg     *config.Config
	rt      *engine.Runtime
	release func()
}

func load(opts Options) (*loaded, error) {
	reg := opts.Registry
	if reg == nil {
		reg = all.Registry()
	}
	cfg, err := config.Load(opts.Path)
	if err != nil {
		return nil, err
	}
	rt, err := engine.Compile(cfg, reg, 1, nil, nil)
	if err != nil {
		return nil, err
	}
	h := &engine.Holder{}
	h.Swap(rt)
	return &loaded{cfg: cfg, rt: rt, release: h.Close}, nil
}

// Run explains one request. The error is for a config that does not load
// or bad options; a refused request is a Result.
func Run(opts Options) (*Result, error) {
	if opts.Method == "" || opts.Target == "" {
		return nil, errors.New("explain: want a METHOD and a PATH")
	}
	l, err := load(opts)
	if err != nil {
		return nil, err
	}
	defer l.release()
	return l.explain(opts)
}

func (l *loaded) explain(opts Options) (*Result, error) {
	rt := l.rt
	res := &Result{Method: opts.Method, Target: opts.Target}
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	hdr := headers{}
	ex.SetHeaders(hdr)
	ex.Method = []byte(opts.Method)
	ex.Host = []byte(opts.Host)
	ex.RawTarget = []byte(opts.Target)
	standIn := opts.Token == "" && opts.APIKey == "" && opts.CertFile == "" && (len(opts.Roles) > 0 || len(opts.Scopes) > 0)
	if opts.CertFile != "" {
		cert, desc, err := l.clientCert(opts.CertFile)
		if err != nil {
			return nil, err
		}
		ex.TLS, ex.PeerCertificate, res.Certificate = true, cert, desc
	}
	refuse := func(r *filters.Reason, why string) *Result {
		res.Status, res.Reason, res.Decision, res.Miss = r.Status, r.Code, r.Decision.String(), why
		return res
	}
	// A request no route matches runs the not_found chain first (when
	// configured): a refusal there is what the client gets.
	missed := func(r *filters.Reason, why string) *Result {
		if nf := l.cfg.NotFound; rt.NotFound != nil && nf != nil {
			chain := rt.NotFound.Filters()
			setAPIKey(hdr, chain, opts.APIKey)
			l.runChain(res, ex, chain, func(i int) string { return l.filterPos(config.Route{Filters: nf.Filters}, i) }, standIn)
			if res.Reason != "" {
				res.Miss = why + "; the not_found filters refused it first"
				return res
			}
		}
		return refuse(r, why)
	}
	if opts.Token != "" {
		hdr.Set("Authorization", []byte("Bearer "+opts.Token))
	}
	if standIn {
		var unknown []string
		idn := &ex.Identity
		idn.Verified = true
		idn.Subject = append(idn.Subject[:0], "explain"...)
		for _, r := range opts.Roles {
			if i, ok := rt.Roles.Lookup([]byte(r)); ok {
				idn.Roles |= 1 << uint(i)
			} else {
				unknown = append(unknown, "role "+r)
			}
		}
		for _, s := range opts.Scopes {
			if i, ok := rt.Scopes.Lookup([]byte(s)); ok {
				idn.Scopes |= 1 << uint(i)
			} else {
				unknown = append(unknown, "scope "+s)
			}
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("explain: %s: no filter of %s knows it", strings.Join(unknown, ", "), l.cfg.Path)
		}
	}

	rawPath, query, ok := forward.SplitTarget(ex.RawTarget)
	if !ok {
		return refuse(filters.ReasonBadPath, "request target must be origin-form or absolute-form"), nil
	}
	ex.Query = query
	path, err := router.Normalize(nil, rawPath)
	if err != nil {
		return refuse(filters.ReasonBadPath, "the path cannot be normalized: "+err.Error()), nil
	}
	ex.Path = path
	res.Path = string(path)
	id, found := rt.Router.Lookup(ex.Host, ex.Method, ex.Path, &ex.Params)
	switch found {
	case router.Found:
	case router.MethodNotAllowed:
		return missed(filters.ReasonMethodNotAllowed, "a route matches the path but not the method (Allow: "+string(rt.Router.Allow(ex.Host, ex.Path))+")"), nil
	default:
		return missed(filters.ReasonNoRoute, "no route matches the host and path"), nil
	}
	route := rt.Routes[id]
	rc := l.cfg.Routes[id]
	ex.Route = &route.Info
	res.Route, res.RouteAt, res.Upstream = rc.Name, rc.Pos, rc.Upstream
	res.RoutePattern = methods(rc.Methods) + " " + rc.Path
	if ex.Params.Len() > 0 {
		res.Params = map[string]string{}
		for i := range ex.Params.Len() {
			k, v := ex.Params.At(i)
			res.Params[k] = string(v)
		}
	}

	chain := route.Chain.Filters()
	setAPIKey(hdr, chain, opts.APIKey)
	l.runChain(res, ex, chain, func(i int) string { return l.filterPos(rc, i) }, standIn)
	if res.Reason == "" {
		res.Decision = filters.DecisionAllowed.String()
	}
	return res, nil
}

// setAPIKey puts key in the header the chain's apikey filter reads.
func setAPIKey(hdr headers, chain []filters.Filter, key string) {
	if key == "" {
		return
	}
	name := "X-Api-Key"
	for _, f := range chain {
		if cr, ok := f.(filters.CredentialReader); ok && f.Name() == "apikey" && len(cr.CredentialHeaders()) > 0 {
			name = cr.CredentialHeaders()[0]
			break
		}
	}
	hdr.Set(name, []byte(key))
}

// runChain runs chain's filters on ex up to the first refusal, recording
// each step, the refusal and the principal in res.
func (l *loaded) runChain(res *Result, ex *filters.Exchange, chain []filters.Filter, pos func(int) string, standIn bool) {
	for i, f := range chain {
		st := Step{Filter: f.Name(), At: pos(i)}
		switch {
		case standIn && slices.Contains(authFilters, f.Name()):
			st.Outcome, st.Note = "skipped", "--role stands in for the authenticated principal"
		case slices.Contains(stateful, f.Name()):
			st.Outcome, st.Note = "not evaluated", "not evaluated by explain: its decision depends on other requests"
		case readsBody(f):
			st.Outcome, st.Note = "not evaluated", "not evaluated by explain: it reads the request body"
		default:
			l.run(f, ex, &st)
		}
		res.Steps = append(res.Steps, st)
		if st.Outcome == "refused" {
			r := ex.Reason()
			res.Status, res.Reason, res.Decision = r.Status, r.Code, r.Decision.String()
			break
		}
	}
	res.Principal = l.principal(ex)
	res.Principal.StandIn = standIn
}

// run runs one filter and records its decision.
func (l *loaded) run(f filters.Filter, ex *filters.Exchange, st *Step) {
	var d rbac.Decision
	rf, isRBAC := f.(*rbac.Filter)
	if isRBAC {
		d = rf.Explain(ex) // before Handle, which may strip override headers
	}
	v := f.Handle(ex)
	if v.IsContinue() {
		st.Outcome = "continue"
	} else {
		st.Outcome = "refused"
		if ex.Reason() == nil {
			ex.Refuse(v.Reason())
		}
		st.Reason, st.Status = v.Reason().Code, v.Reason().Status
	}
	if isRBAC && d.Rule >= 0 {
		r := rf.Rules(l.rt.Roles, l.rt.Scopes)[d.Rule]
		file, _, _ := strings.Cut(st.At, ":")
		st.Rule = fmt.Sprintf("%s:%d:%d", file, r.Line, r.Column)
		st.Note = describe(r)
		if v.IsContinue() {
			st.Note = "allowed by " + st.Note
		} else {
			st.Note = "closest rule " + st.Note
		}
		if d.Subject {
			st.Note += " (the subjects map adds roles to this subject)"
		}
	} else if isRBAC && !v.IsContinue() && v.Reason() == rbac.ReasonPathDenied {
		st.Note = "no rule of the principal's roles grants this path"
	}
}

// describe names an rbac rule.
func describe(r rbac.Rule) string {
	who := "role " + r.Role
	if r.Role == "" {
		who = "the scope-only allow list"
	}
	s := who + ": " + strings.Join(r.Methods, ",") + " " + r.Pattern
	if len(r.Scopes) > 0 {
		s += " with scopes " + strings.Join(r.Scopes, " ")
	}
	if r.TenantParam != "" {
		s += " if {" + r.TenantParam + "} is the tenant"
	}
	return s
}

func (l *loaded) principal(ex *filters.Exchange) Principal {
	id := &ex.Identity
	p := Principal{Verified: id.Verified, Subject: string(id.Subject), Tenant: string(id.Tenant)}
	if id.Method != filters.AuthNone {
		p.Method = id.Method.String()
	}
	p.Roles = l.rt.Roles.Names(id.Roles)
	p.Scopes = l.rt.Scopes.Names(id.Scopes)
	return p
}

// filterPos is where route rc's i-th filter is written: the shared
// instance's entry for a `use`.
func (l *loaded) filterPos(rc config.Route, i int) string {
	fs := &rc.Filters[i]
	if fs.Use != "" {
		for j := range l.cfg.Filters {
			if l.cfg.Filters[j].ID == fs.Use {
				return l.cfg.Filters[j].Pos
			}
		}
	}
	return fs.Pos
}

func readsBody(f filters.Filter) bool {
	br, ok := f.(filters.BodyReader)
	return ok && br.ReadsBody()
}

func methods(ms []string) string {
	if len(ms) == 0 {
		return "*"
	}
	return strings.Join(ms, ",")
}

// headers are the synthetic request's header fields, by canonical name.
type headers map[string][]byte

func (h headers) Peek(name string) []byte { return h[textproto.CanonicalMIMEHeaderKey(name)] }
func (h headers) Set(name string, v []byte) {
	h[textproto.CanonicalMIMEHeaderKey(name)] = v
}
func (h headers) Del(name string) { delete(h, textproto.CanonicalMIMEHeaderKey(name)) }
