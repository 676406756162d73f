package router

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// apiRoutes is a realistic table of about fifty routes: eight REST
// resources, a few host-specific routes, wildcards and a catch-all.
func apiRoutes() []Route {
	var rs []Route
	add := func(host, pattern string, methods ...string) {
		rs = append(rs, Route{Host: host, Methods: methods, Pattern: pattern, ID: len(rs)})
	}
	for _, res := range []string{"customers", "orders", "invoices", "products", "users", "teams", "projects", "tickets"} {
		base := "/api/v1/" + res
		add("", base, "GET", "POST")
		add("", base+"/{id}", "GET")
		add("", base+"/{id}", "PUT", "PATCH")
		add("", base+"/{id}", "DELETE")
		add("", base+"/{id}/events/{event}", "GET")
	}
	add("", "/", "GET")
	add("", "/healthz", "GET")
	add("", "/api/v1/customers/me", "GET")
	add("", "/api/v1/customers/{id}/orders/{order}/lines/{line}", "GET")
	add("", "/api/v2/{tenant}/search", "POST")
	add("", "/static/*", "GET")
	add("", "/files/{path...}", "GET", "PUT")
	add("admin.example.com", "/api/v1/customers/{id}", "GET", "DELETE")
	add("admin.example.com", "/metrics", "GET", "POST")
	add("admin.example.com", "/{rest...}", "GET")
	return rs
}

func mustNew(t testing.TB, rs []Route) *Router {
	t.Helper()
	r, err := New(rs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// lookupCase checks one lookup, its parameters (name=value, in order) and,
// for 405, the Allow value.
func checkLookup(t *testing.T, r *Router, host, method, path string, wantID int, wantRes Result, want ...string) {
	t.Helper()
	var ps filters.Params
	id, res := r.Lookup([]byte(host), []byte(method), []byte(path), &ps)
	if id != wantID || res != wantRes {
		t.Fatalf("Lookup(%q, %q, %q) = %d, %v; want %d, %v", host, method, path, id, res, wantID, wantRes)
	}
	if res == MethodNotAllowed {
		if len(want) != 1 {
			t.Fatalf("test case for 405 must give the Allow value")
		}
		if got := string(r.Allow([]byte(host), []byte(path))); got != want[0] {
			t.Fatalf("Allow(%q, %q) = %q, want %q", host, path, got, want[0])
		}
		return
	}
	var got []string
	for i := 0; i < ps.Len(); i++ {
		k, v := ps.At(i)
		got = append(got, k+"="+string(v))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Lookup(%q, %q, %q) params = %q, want %q", host, method, path, got, want)
	}
}

func TestLookupAPI(t *testing.T) {
	r := mustNew(t, apiRoutes())
	f := func(method, path string, wantID int, wantRes Result, want ...string) {
		t.Helper()
		checkLookup(t, r, "api.example.com:8443", method, path, wantID, wantRes, want...)
	}
	f("GET", "/api/v1/customers", 0, Found)
	f("POST", "/api/v1/customers", 0, Found)
	f("HEAD", "/api/v1/customers", 0, Found)
	f("DELETE", "/api/v1/customers", -1, MethodNotAllowed, "GET, HEAD, POST")
	f("GET", "/api/v1/customers/42", 1, Found, "id=42")
	f("HEAD", "/api/v1/customers/42", 1, Found, "id=42")
	f("PUT", "/api/v1/customers/42", 2, Found, "id=42")
	f("PATCH", "/api/v1/customers/42", 2, Found, "id=42")
	f("DELETE", "/api/v1/customers/42", 3, Found, "id=42")
	f("POST", "/api/v1/customers/42", -1, MethodNotAllowed, "GET, HEAD, PUT, PATCH, DELETE")
	f("GET", "/api/v1/customers/me", 42, Found)
	// Literal "me" serves GET only; other methods fall back to {id}.
	f("DELETE", "/api/v1/customers/me", 3, Found, "id=me")
	f("GET", "/api/v1/customers/42/events/7", 4, Found, "id=42", "event=7")
	f("GET", "/api/v1/customers/42/orders/9/lines/3", 43, Found, "id=42", "order=9", "line=3")
	f("GET", "/api/v1/tickets/x/events/y", 39, Found, "id=x", "event=y")
	f("GET", "/api/v1/customers/", -1, NotFound)
	f("GET", "/api/v1/customers/42/", -1, NotFound)
	f("GET", "/api/v1/nothing", -1, NotFound)
	f("GET", "/", 40, Found)
	f("GET", "/healthz", 41, Found)
	f("GET", "/healthz/", -1, NotFound)
	f("POST", "/api/v2/acme/search", 44, Found, "tenant=acme")
	f("GET", "/api/v2/acme/search", -1, MethodNotAllowed, "POST")
	f("GET", "/static", -1, NotFound)
	f("GET", "/static/", 45, Found)
	f("GET", "/static/a/b.css", 45, Found)
	f("POST", "/static/a", -1, MethodNotAllowed, "GET, HEAD")
	f("GET", "/files", -1, NotFound)
	f("GET", "/files/", 46, Found, "path=")
	f("PUT", "/files/a/b/c.txt", 46, Found, "path=a/b/c.txt")
	f("GET", "/files/a/", 46, Found, "path=a/")
	f("BREW", "/files/a", -1, MethodNotAllowed, "GET, HEAD, PUT")
	f("get", "/healthz", -1, MethodNotAllowed, "GET, HEAD")
	f("GET", "", -1, NotFound)
	f("GET", "healthz", -1, NotFound)
}

func TestLookupHosts(t *testing.T) {
	r := mustNew(t, apiRoutes())
	f := func(host, method, path string, wantID int, wantRes Result, want ...string) {
		t.Helper()
		checkLookup(t, r, host, method, path, wantID, wantRes, want...)
	}
	f("admin.example.com", "GET", "/api/v1/customers/42", 47, Found, "id=42")
	f("ADMIN.Example.COM", "GET", "/api/v1/customers/42", 47, Found, "id=42")
	f("admin.example.com:8443", "DELETE", "/api/v1/customers/42", 47, Found, "id=42")
	f("admin.example.com.", "GET", "/api/v1/customers/42", 47, Found, "id=42")
	f("admin.example.com.:80", "GET", "/api/v1/customers/42", 47, Found, "id=42")
	// Methods the host route lacks fall back to host-less routes.
	f("admin.example.com", "PUT", "/api/v1/customers/42", 2, Found, "id=42")
	f("admin.example.com", "POST", "/metrics", 48, Found)
	f("admin.example.com", "BREW", "/metrics", -1, MethodNotAllowed, "GET, HEAD, POST")
	// The host catch-all beats host-less routes, and a literal beats it.
	f("admin.example.com", "GET", "/healthz", 49, Found, "rest=healthz")
	f("admin.example.com", "GET", "/", 49, Found, "rest=")
	f("admin.example.com", "POST", "/api/v1/customers", 0, Found)
	f("admin.example.com", "POST", "/zzz", -1, MethodNotAllowed, "GET, HEAD")
	f("admin.example.com", "POST", "/api/v2/x/search", 44, Found, "tenant=x")
	// Other hosts and near misses see host-less routes only.
	f("example.com", "GET", "/metrics", -1, NotFound)
	f("admin.example.com.evil", "GET", "/metrics", -1, NotFound)
	f("xadmin.example.com", "GET", "/metrics", -1, NotFound)
	f("", "GET", "/metrics", -1, NotFound)
	f("[::1]:8080", "GET", "/healthz", 41, Found)
}

func TestLookupPrecedence(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Pattern: "/a/{x}/c"},
		{ID: 1, Pattern: "/a/b/d"},
		{ID: 2, Pattern: "/a/b/{y}/e"},
		{ID: 3, Pattern: "/a/*"},
		{ID: 4, Pattern: "/a/{x}/{y}/e"},
		{ID: 5, Pattern: "/a/b"},
		{ID: 6, Pattern: "/*"},
		{ID: 7, Pattern: "/a/{x}/"},
		{ID: 8, Pattern: "/x/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"},
	})
	f := func(path string, wantID int, want ...string) {
		t.Helper()
		checkLookup(t, r, "", "GET", path, wantID, Found, want...)
	}
	f("/a/b/c", 0, "x=b")   // backtracks from literal b
	f("/a/b/d", 1)          // literal wins
	f("/a/z/c", 0, "x=z")   //
	f("/a/b/q/e", 2, "y=q") // literal b then param
	f("/a/q/q/e", 4, "x=q", "y=q")
	f("/a/b/c/e", 2, "y=c")
	f("/a/b/d/e", 2, "y=d")
	f("/a/b", 5)
	f("/a/b/", 7, "x=b")
	f("/a/z/zz", 3)
	f("/a/", 3) // params do not match an empty segment
	f("/a", 6)
	f("/", 6)
	f("/zz/y", 6)
	f("/x/1/2/3/4/5/6/7/8", 8, "a=1", "b=2", "c=3", "d=4", "e=5", "f=6", "g=7", "h=8")
	f("/x/1/2/3/4/5/6/7/", 6)
}

func TestLookupRootWildcard(t *testing.T) {
	r := mustNew(t, []Route{{ID: 7, Pattern: "/{all...}", Methods: []string{"GET"}}})
	checkLookup(t, r, "h", "GET", "/", 7, Found, "all=")
	checkLookup(t, r, "h", "GET", "/a/b/", 7, Found, "all=a/b/")
	checkLookup(t, r, "h", "PROPFIND", "/a", -1, MethodNotAllowed, "GET, HEAD")
}

func TestLookupMethods(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Pattern: "/g", Methods: []string{"GET"}},
		{ID: 1, Pattern: "/g", Methods: []string{"HEAD"}},
		{ID: 2, Pattern: "/c", Methods: []string{"PROPFIND", "MKCOL"}},
		{ID: 3, Pattern: "/c", Methods: []string{"GET", "COPY"}},
		{ID: 4, Pattern: "/c/{x}", Methods: []string{"MOVE"}},
		{ID: 5, Pattern: "/c/{y}/z", Methods: []string{"LOCK"}},
		{ID: 6, Pattern: "/c/z", Methods: []string{"GET"}},
		{ID: 7, Pattern: "/all"},
		{ID: 8, Pattern: "/std", Methods: []string{"OPTIONS", "CONNECT", "TRACE", "GET", "POST"}},
	})
	f := func(method, path string, wantID int, wantRes Result, want ...string) {
		t.Helper()
		checkLookup(t, r, "", method, path, wantID, wantRes, want...)
	}
	// An explicit HEAD route takes HEAD away from GET.
	f("GET", "/g", 0, Found)
	f("HEAD", "/g", 1, Found)
	f("POST", "/g", -1, MethodNotAllowed, "GET, HEAD")
	f("PROPFIND", "/c", 2, Found)
	f("MKCOL", "/c", 2, Found)
	f("COPY", "/c", 3, Found)
	f("HEAD", "/c", 3, Found)
	f("MOVE", "/c", -1, MethodNotAllowed, "GET, HEAD, PROPFIND, MKCOL, COPY")
	f("MOVE", "/c/z", 4, Found, "x=z")
	f("LOCK", "/c/z", -1, MethodNotAllowed, "GET, HEAD, MOVE")
	f("LOCK", "/c/z/z", 5, Found, "y=z")
	f("GET", "/all", 7, Found)
	f("WHATEVER", "/all", 7, Found)
	f("", "/all", 7, Found)
	f("DELETE", "/std", -1, MethodNotAllowed, "GET, HEAD, POST, OPTIONS, CONNECT, TRACE")
	if a := r.Allow(nil, []byte("/all")); a != nil {
		t.Fatalf("Allow for a route serving every method = %q, want nil", a)
	}
	if a := r.Allow(nil, []byte("/nothing")); a != nil {
		t.Fatalf("Allow for an unrouted path = %q, want nil", a)
	}
}

func TestNewRejects(t *testing.T) {
	f := func(wantSub string, rs ...Route) {
		t.Helper()
		_, err := New(rs)
		if err == nil {
			t.Fatalf("New(%+v) succeeded, want error containing %q", rs, wantSub)
		}
		if !strings.Contains(err.Error(), wantSub) || !strings.HasPrefix(err.Error(), "router: route ") {
			t.Fatalf("New(%+v) error %q, want it to name the route and contain %q", rs, err, wantSub)
		}
	}
	p := func(pattern string, methods ...string) Route { return Route{Pattern: pattern, Methods: methods} }
	// Invalid patterns.
	f(`route 0 ("")`, p(""))
	f("does not start with a slash", p("a/b"))
	f("invalid parameter", p("/{}"))
	f("invalid parameter", p("/{a"))
	f("invalid parameter", p("/a}"))
	f("invalid parameter", p("/x{a}"))
	f("invalid parameter", p("/{a}x"))
	f("invalid parameter", p("/{1a}"))
	f("invalid parameter", p("/{a-b}"))
	f("invalid parameter", p("/{...}"))
	f("not the last segment", p("/*/a"))
	f("not the last segment", p("/{rest...}/a"))
	f("duplicate parameter", p("/{a}/{a}"))
	f("duplicate parameter", p("/{a}/{a...}"))
	f("more than 8 parameters", p("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"))
	f("more than 8 parameters", p("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i...}"))
	f("empty segment", p("//a"))
	f("empty segment", p("/a//b"))
	f("normalized form", p("/a/./b"))
	f("normalized form", p("/a/../b"))
	f("normalized form", p("/."))
	f("normalized form", p("/%41"))
	f("normalized form", p("/%2a"))
	f("normalized form", p("/a|b"))
	f("cannot use segment", p("/a b"))
	f("cannot use segment", p("/a%2Fb"))
	f("cannot use segment", p("/..;"))
	f("cannot use segment", p(`/a\b`))
	// Invalid methods and hosts.
	f("invalid method", p("/a", "GE T"))
	f("invalid method", p("/a", ""))
	f("invalid host", Route{Pattern: "/a", Host: "example.com:8080"})
	f("invalid host", Route{Pattern: "/a", Host: "exa mple.com"})
	f("invalid host", Route{Pattern: "/a", Host: "."})
	// Conflicts.
	f("route 1 (\"/a\"): methods overlap with route 0", p("/a", "GET"), p("/a", "GET", "POST"))
	f("methods overlap", p("/a"), p("/a", "GET"))
	f("methods overlap", p("/a", "PUT"), p("/a"))
	f("methods overlap", p("/a/{x}", "GET"), p("/a/{y}", "GET"))
	f("methods overlap", p("/a/*", "GET"), p("/a/{rest...}", "GET"))
	f("methods overlap", Route{Pattern: "/a", Host: "H.example"}, Route{Pattern: "/a", Host: "h.example."})
	f("parameter names", p("/a/{x}", "GET"), p("/a/{y}", "POST"))
	f("parameter names", p("/a/*", "GET"), p("/a/{rest...}", "POST"))
	f("route 2", p("/a", "GET"), p("/b", "GET"), p("/a", "GET"))
	// Every error is reported.
	_, err := New([]Route{p("x"), p("/ok"), p("/{")})
	if err == nil || !strings.Contains(err.Error(), "route 0") || !strings.Contains(err.Error(), "route 2") {
		t.Fatalf("New with two bad routes: %v, want both reported", err)
	}
}

func TestNewAccepts(t *testing.T) {
	mustNew(t, nil)
	mustNew(t, []Route{
		{Pattern: "/a/{x}", Methods: []string{"GET"}},
		{Pattern: "/a/{x}", Methods: []string{"POST"}},
		{Pattern: "/a/{y}/b"}, // names differ only on other shapes
		{Pattern: "/a/{x}", Host: "example.com"},
		{Pattern: "/a/*"},
		{Pattern: "/a/"},
		{Pattern: "/a/..."},
		{Pattern: "/a:b@c;d=e/~x"},
		{Pattern: "/%E2%82%AC"},
		{Pattern: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h...}"},
		{Pattern: "/x", Host: "[::1]"},
		{Pattern: "/x", Host: "Example.ORG."},
		{Pattern: "/y", Methods: []string{"M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9"}},
	})
}

func TestTooManyCustomMethods(t *testing.T) {
	var rs []Route
	for i := 0; i <= filters.MaxCustomMethods; i++ {
		rs = append(rs, Route{Pattern: fmt.Sprintf("/m%d", i), Methods: []string{fmt.Sprintf("M%d", i)}})
	}
	if _, err := New(rs[:filters.MaxCustomMethods]); err != nil {
		t.Fatalf("New with %d custom methods: %v", filters.MaxCustomMethods, err)
	}
	if _, err := New(rs); err == nil || !strings.Contains(err.Error(), "custom methods") {
		t.Fatalf("New with %d custom methods: %v, want an error", len(rs), err)
	}
}

func TestAllowUnion(t *testing.T) {
	r := mustNew(t, []Route{
		{Pattern: "/a/b", Methods: []string{"GET"}},
		{Pattern: "/a/{x}", Methods: []string{"DELETE"}},
		{Pattern: "/a/*", Methods: []string{"PUT"}},
		{Pattern: "/c/d", Methods: []string{"X1"}},
		{Pattern: "/c/{x}", Methods: []string{"X2"}},
		{Pattern: "/e", Methods: []string{"X1", "POST"}},
		{Pattern: "/e", Host: "h", Methods: []string{"X2"}},
	})
	f := func(host, path, want string) {
		t.Helper()
		if got := string(r.Allow([]byte(host), []byte(path))); got != want {
			t.Fatalf("Allow(%q, %q) = %q, want %q", host, path, got, want)
		}
	}
	f("", "/a/b", "GET, HEAD, PUT, DELETE")
	f("", "/a/c", "PUT, DELETE")
	f("", "/a/b/c", "PUT")
	f("", "/c/d", "X1, X2") // a union not precomputed
	f("", "/e", "POST, X1")
	f("h", "/e", "POST, X1, X2")
	f("H:1", "/e", "POST, X1, X2")
}

// refLookup is a brute-force reference: it tries every route, then picks
// the most specific match by comparing segment kinds.
type refRouter struct {
	routes []refRoute
}

type refRoute struct {
	Route
	host  string
	segs  []patSeg
	names []string
	shape string
}

func newRef(t testing.TB, rs []Route) *refRouter {
	t.Helper()
	ref := &refRouter{}
	var norm []byte
	for _, r := range rs {
		segs, names, err := parsePattern(r.Pattern, &norm)
		if err != nil {
			t.Fatal(err)
		}
		host, _ := canonicalHost(r.Host)
		shape := host + " "
		for _, s := range segs {
			switch s.kind {
			case segLit:
				shape += "/l" + s.text
			case segParam:
				shape += "/p"
			case segWild:
				shape += "/w"
			}
		}
		ref.routes = append(ref.routes, refRoute{Route: r, host: host, segs: segs, names: names, shape: shape})
	}
	return ref
}

// serves reports whether rr serves method, with GET implying HEAD unless a
// route of the same shape names HEAD.
func (ref *refRouter) serves(rr refRoute, method string) bool {
	if len(rr.Methods) == 0 || slices.Contains(rr.Methods, method) {
		return true
	}
	if method != "HEAD" || !slices.Contains(rr.Methods, "GET") {
		return false
	}
	for _, o := range ref.routes {
		if o.shape == rr.shape && slices.Contains(o.Methods, "HEAD") {
			return false
		}
	}
	return true
}

// match returns the precedence key and parameters of rr for path, or
// ok=false.
func (rr refRoute) match(host, path string) (key string, params []string, ok bool) {
	h := strings.ToLower(host)
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			h = h[:i+1]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	switch {
	case rr.host == "":
		key = "1"
	case rr.host == h:
		key = "0"
	default:
		return "", nil, false
	}
	if !strings.HasPrefix(path, "/") {
		return "", nil, false
	}
	ps := strings.Split(path[1:], "/")
	var vals []string
	for i, s := range rr.segs {
		if s.kind == segWild {
			if i >= len(ps) {
				return "", nil, false
			}
			key += "2"
			vals = append(vals, strings.Join(ps[i:], "/"))
			ps = ps[:i]
			break
		}
		if i >= len(ps) {
			return "", nil, false
		}
		switch s.kind {
		case segLit:
			if ps[i] != s.text {
				return "", nil, false
			}
			key += "0"
		case segParam:
			if ps[i] == "" {
				return "", nil, false
			}
			key += "1"
			vals = append(vals, ps[i])
		}
		if i == len(rr.segs)-1 && len(ps) != len(rr.segs) {
			return "", nil, false
		}
	}
	for i, n := range rr.names {
		params = append(params, n+"="+vals[i])
	}
	return key, params, true
}

func (ref *refRouter) lookup(host, method, path string) (id int, res Result, params []string, allow string) {
	bestKey := ""
	id, res = -1, NotFound
	allowAll := false
	var allowSet []string
	for _, rr := range ref.routes {
		key, ps, ok := rr.match(host, path)
		if !ok {
			continue
		}
		if len(rr.Methods) == 0 {
			allowAll = true
		}
		for _, m := range append(slices.Clone(rr.Methods), "HEAD") {
			if ref.serves(rr, m) && !slices.Contains(allowSet, m) {
				allowSet = append(allowSet, m)
			}
		}
		if !ref.serves(rr, method) {
			if res == NotFound {
				res = MethodNotAllowed
			}
			continue
		}
		if res != Found || key < bestKey {
			id, res, params, bestKey = rr.ID, Found, ps, key
		}
	}
	if res == MethodNotAllowed && !allowAll {
		var order []string
		// Allow lists the standard methods first, in this order.
		order = append(order, "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
		for _, rr := range ref.routes {
			order = append(order, rr.Methods...)
		}
		var out []string
		for _, m := range order {
			if slices.Contains(allowSet, m) && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
		allow = strings.Join(out, ", ")
	}
	return id, res, params, allow
}

// compareWithRef checks one lookup against the reference.
func compareWithRef(t testing.TB, r *Router, ref *refRouter, host, method, path []byte) {
	t.Helper()
	var ps filters.Params
	id, res := r.Lookup(host, method, path, &ps)
	wantID, wantRes, wantPs, wantAllow := ref.lookup(string(host), string(method), string(path))
	var gotPs []string
	for i := 0; i < ps.Len(); i++ {
		k, v := ps.At(i)
		gotPs = append(gotPs, k+"="+string(v))
		if len(v) > 0 && !isSubslice(v, path) {
			t.Fatalf("param %s=%q is not a subslice of the path %q", k, v, path)
		}
	}
	if id != wantID || res != wantRes || !slices.Equal(gotPs, wantPs) {
		t.Fatalf("Lookup(%q, %q, %q) = %d, %v, %q; reference says %d, %v, %q", host, method, path, id, res, gotPs, wantID, wantRes, wantPs)
	}
	if res == MethodNotAllowed {
		if got := string(r.Allow(host, path)); got != wantAllow {
			t.Fatalf("Allow(%q, %q) = %q; reference says %q", host, path, got, wantAllow)
		}
	}
}

// isSubslice reports whether v lies within the memory of s.
func isSubslice(v, s []byte) bool {
	if cap(s) == 0 {
		return false
	}
	whole := s[:cap(s)]
	for i := 0; i+len(v) <= len(whole); i++ {
		if &whole[i] == &v[0] {
			return i+len(v) <= len(s)
		}
	}
	return false
}

// TestLookupMatchesReference compares the tree with the brute-force
// reference over every path built from a small alphabet of segments.
func TestLookupMatchesReference(t *testing.T) {
	rs := apiRoutes()
	rs = append(rs,
		Route{ID: 100, Pattern: "/a/{x}/c"},
		Route{ID: 101, Pattern: "/a/b/d", Methods: []string{"GET"}},
		Route{ID: 102, Pattern: "/a/b/", Methods: []string{"POST"}},
		Route{ID: 103, Pattern: "/a/{x}/{y...}", Methods: []string{"PUT"}},
		Route{ID: 104, Pattern: "/a/*", Methods: []string{"X1"}},
		Route{ID: 105, Pattern: "/a/b/d", Host: "h", Methods: []string{"POST"}},
	)
	r := mustNew(t, rs)
	ref := newRef(t, rs)
	segs := []string{"", "a", "b", "c", "d", "api", "v1", "customers", "me", "static", "files", "metrics"}
	hosts := []string{"", "h", "admin.example.com", "ADMIN.example.com:1"}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "X1", "BREW"}
	var paths []string
	var build func(prefix string, depth int)
	build = func(prefix string, depth int) {
		paths = append(paths, prefix)
		if depth == 3 {
			return
		}
		for _, s := range segs {
			build(prefix+"/"+s, depth+1)
		}
	}
	build("", 0)
	paths = append(paths, "/api/v1/customers/42", "/api/v1/customers/me/events/1", "/api/v1/customers/1/orders/2/lines/3")
	n := 0
	for _, p := range paths {
		if p == "" {
			continue
		}
		for _, h := range hosts {
			for _, m := range methods {
				compareWithRef(t, r, ref, []byte(h), []byte(m), []byte(p))
				n++
			}
		}
	}
	if n < 10000 {
		t.Fatalf("only %d lookups compared", n)
	}
}
