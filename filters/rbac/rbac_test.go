package rbac

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// policy is the example policy, plus a tenant-scoped role.
const policy = `
roles:
  viewer:
    allow:
      - methods: [GET, HEAD]
        paths: ["/api/v1/**"]
  editor:
    inherits: [viewer]
    allow:
      - methods: [POST, PUT, PATCH]
        paths: ["/api/v1/orders", "/api/v1/customers/{id}"]
  admin:
    inherits: [editor]
    allow:
      - methods: ["*"]
        paths: ["/**"]
  member:
    allow:
      - methods: [GET, PUT]
        paths: ["/tenants/{tenant}/**"]
        conditions: {tenant_param: tenant}
      - methods: [GET]
        paths: ["/shared/**"]
        conditions: {tenant_param: org}
subjects:
  alice: [admin]
  bob: [viewer, member]
`

var (
	anonymous = principal{}
	viewer    = principal{verified: true, subject: "v", roles: []string{"viewer"}}
	editor    = principal{verified: true, subject: "e", roles: []string{"editor"}}
	admin     = principal{verified: true, subject: "a", roles: []string{"admin"}}
)

const (
	allow      = "allow"
	required   = "401 authn.required"
	methodDeny = "403 rbac.method_denied"
	pathDeny   = "403 rbac.path_denied"
	condFail   = "403 rbac.condition_failed"
)

// TestMatrix is the RBAC matrix: viewer, editor, admin and anonymous ×
// GET, POST, PUT, DELETE × routes, each with its exact outcome.
func TestMatrix(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	type row struct {
		who  string
		p    principal
		path string
		want [4]string // by methods
	}
	rows := []row{
		{"anonymous", anonymous, "/api/v1/orders", [4]string{required, required, required, required}},
		{"anonymous", anonymous, "/admin/users", [4]string{required, required, required, required}},
		{"anonymous", anonymous, "/", [4]string{required, required, required, required}},

		{"viewer", viewer, "/api/v1/orders", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"viewer", viewer, "/api/v1/customers/42", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"viewer", viewer, "/api/v1/reports/2024/q1", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"viewer", viewer, "/api/v1", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"viewer", viewer, "/api/v2/orders", [4]string{pathDeny, pathDeny, pathDeny, pathDeny}},
		{"viewer", viewer, "/api/v1x", [4]string{pathDeny, pathDeny, pathDeny, pathDeny}},
		{"viewer", viewer, "/admin/users", [4]string{pathDeny, pathDeny, pathDeny, pathDeny}},

		{"editor", editor, "/api/v1/orders", [4]string{allow, allow, allow, methodDeny}},
		{"editor", editor, "/api/v1/orders/", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"editor", editor, "/api/v1/orders/7", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"editor", editor, "/api/v1/customers/42", [4]string{allow, allow, allow, methodDeny}},
		{"editor", editor, "/api/v1/customers/", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"editor", editor, "/api/v1/customers/42/notes", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"editor", editor, "/api/v1/reports/daily", [4]string{allow, methodDeny, methodDeny, methodDeny}},
		{"editor", editor, "/admin/users", [4]string{pathDeny, pathDeny, pathDeny, pathDeny}},

		{"admin", admin, "/api/v1/orders", [4]string{allow, allow, allow, allow}},
		{"admin", admin, "/api/v1/customers/42", [4]string{allow, allow, allow, allow}},
		{"admin", admin, "/admin/users", [4]string{allow, allow, allow, allow}},
		{"admin", admin, "/", [4]string{allow, allow, allow, allow}},

		{"static subject alice", principal{verified: true, subject: "alice"}, "/admin/users", [4]string{allow, allow, allow, allow}},
		{"no roles", principal{verified: true, subject: "nobody"}, "/api/v1/orders", [4]string{pathDeny, pathDeny, pathDeny, pathDeny}},
		{"unknown role only", principal{verified: true, subject: "x", roles: []string{"auditor"}}, "/api/v1/orders", [4]string{pathDeny, pathDeny, pathDeny, pathDeny}},
		{"unverified hint", principal{subject: "alice", roles: []string{"admin"}}, "/api/v1/orders", [4]string{required, required, required, required}},
	}
	for _, r := range rows {
		for k, m := range methods {
			got := decide(f, newRequest(t, roles, r.p, m, r.path))
			if got != r.want[k] {
				t.Errorf("%s %s %s: got %q, want %q", r.who, m, r.path, got, r.want[k])
			}
		}
	}
}

func TestHeadImpliedByGet(t *testing.T) {
	f, roles := newTestFilter(t, `
roles:
  reader:
    allow: [{methods: [GET], paths: ["/r"]}]
  poster:
    allow: [{methods: [POST], paths: ["/p"]}]
`)
	fn := func(role, method, path, want string) {
		t.Helper()
		p := principal{verified: true, subject: "s", roles: []string{role}}
		if got := decide(f, newRequest(t, roles, p, method, path)); got != want {
			t.Errorf("%s %s %s: got %q, want %q", role, method, path, got, want)
		}
	}
	fn("reader", "HEAD", "/r", allow)
	fn("reader", "OPTIONS", "/r", methodDeny)
	fn("poster", "HEAD", "/p", methodDeny)
	fn("poster", "GET", "/p", methodDeny)
	fn("poster", "PURGE", "/p", methodDeny)
}

func TestWildcardMethodCoversCustomAndUnknown(t *testing.T) {
	f, roles := newTestFilter(t, `
roles:
  ops:
    allow:
      - {methods: [PURGE], paths: ["/cache/**"]}
  root:
    allow:
      - {methods: ["*"], paths: ["/**"]}
`)
	ops := principal{verified: true, subject: "o", roles: []string{"ops"}}
	root := principal{verified: true, subject: "r", roles: []string{"root"}}
	fn := func(p principal, method, path, want string) {
		t.Helper()
		if got := decide(f, newRequest(t, roles, p, method, path)); got != want {
			t.Errorf("%v %s %s: got %q, want %q", p.roles, method, path, got, want)
		}
	}
	fn(ops, "PURGE", "/cache/x", allow)
	fn(ops, "purge", "/cache/x", methodDeny) // methods are case-sensitive
	fn(ops, "BAN", "/cache/x", methodDeny)
	fn(ops, "GET", "/cache/x", methodDeny)
	fn(root, "BAN", "/cache/x", allow)
	fn(root, "PURGE", "/x", allow)
	fn(root, "", "/x", allow)
}

func TestInheritanceIsTransitive(t *testing.T) {
	f, roles := newTestFilter(t, `
roles:
  a: {allow: [{methods: [GET], paths: ["/a"]}]}
  b: {inherits: [a], allow: [{methods: [GET], paths: ["/b"]}]}
  c: {inherits: [b]}
  d: {inherits: [c, a]}
  e: {allow: [{methods: [GET], paths: ["/e"]}]}
`)
	fn := func(role, path, want string) {
		t.Helper()
		p := principal{verified: true, subject: "s", roles: []string{role}}
		if got := decide(f, newRequest(t, roles, p, "GET", path)); got != want {
			t.Errorf("%s GET %s: got %q, want %q", role, path, got, want)
		}
	}
	fn("a", "/a", allow)
	fn("a", "/b", pathDeny)
	fn("b", "/a", allow)
	fn("b", "/b", allow)
	fn("c", "/a", allow)
	fn("c", "/b", allow)
	fn("d", "/a", allow)
	fn("d", "/b", allow)
	fn("d", "/e", pathDeny)
	fn("e", "/a", pathDeny)

	// Holders as tools see them.
	for _, r := range f.Rules(roles, nil) {
		if r.Pattern == "/a" && strings.Join(r.Holders, ",") != "a,b,c,d" {
			t.Errorf("holders of /a = %v, want a,b,c,d", r.Holders)
		}
		if r.Pattern == "/e" && strings.Join(r.Holders, ",") != "e" {
			t.Errorf("holders of /e = %v, want e", r.Holders)
		}
	}
}

func TestStaticSubjects(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	fn := func(p principal, method, path, want string) {
		t.Helper()
		if got := decide(f, newRequest(t, roles, p, method, path)); got != want {
			t.Errorf("%+v %s %s: got %q, want %q", p, method, path, got, want)
		}
	}
	// alice gets admin from the map, whatever her credential carries.
	fn(principal{verified: true, subject: "alice"}, "DELETE", "/admin/x", allow)
	fn(principal{verified: true, subject: "alice", roles: []string{"viewer"}}, "DELETE", "/admin/x", allow)
	// The map adds to the credential's roles: bob is viewer by the map and
	// editor by his token.
	fn(principal{verified: true, subject: "bob", roles: []string{"editor"}}, "POST", "/api/v1/orders", allow)
	fn(principal{verified: true, subject: "bob"}, "POST", "/api/v1/orders", methodDeny)
	// Subjects match exactly.
	fn(principal{verified: true, subject: "Alice"}, "GET", "/admin/x", pathDeny)
	fn(principal{verified: true, subject: "alice2"}, "GET", "/admin/x", pathDeny)
	// An unverified subject gets nothing from the map.
	fn(principal{subject: "alice"}, "GET", "/admin/x", required)
}

func TestTenantCondition(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	acme := principal{verified: true, subject: "m", tenant: "acme", roles: []string{"member"}}
	noTenant := principal{verified: true, subject: "m", roles: []string{"member"}}
	fn := func(name string, r *request, want string) {
		t.Helper()
		if got := decide(f, r); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	// The parameter comes from the permission's own pattern.
	fn("own tenant", newRequest(t, roles, acme, "GET", "/tenants/acme/orders"), allow)
	fn("own tenant root", newRequest(t, roles, acme, "PUT", "/tenants/acme"), allow)
	fn("other tenant", newRequest(t, roles, acme, "GET", "/tenants/globex/orders"), condFail)
	fn("prefix of tenant", newRequest(t, roles, acme, "GET", "/tenants/acm/orders"), condFail)
	fn("longer tenant", newRequest(t, roles, acme, "GET", "/tenants/acme2/orders"), condFail)
	fn("no tenant claim", newRequest(t, roles, noTenant, "GET", "/tenants/acme/orders"), condFail)
	fn("method first", newRequest(t, roles, acme, "DELETE", "/tenants/globex/orders"), methodDeny)
	// A parameter the pattern does not name comes from the route.
	fn("route param", newRequest(t, roles, acme, "GET", "/shared/doc").param("org", "acme"), allow)
	fn("route param other", newRequest(t, roles, acme, "GET", "/shared/doc").param("org", "globex"), condFail)
	fn("route param missing", newRequest(t, roles, acme, "GET", "/shared/doc"), condFail)
	// The pattern's own value wins over a route parameter of the same name.
	fn("pattern beats route", newRequest(t, roles, acme, "GET", "/tenants/globex/x").param("tenant", "acme"), condFail)
	// Another role allowing the request unconditionally wins.
	both := principal{verified: true, subject: "m", tenant: "acme", roles: []string{"member", "admin"}}
	fn("other role allows", newRequest(t, roles, both, "GET", "/tenants/globex/orders"), allow)
}

func TestMethodOverride(t *testing.T) {
	const rules = `
roles:
  viewer: {allow: [{methods: [GET, POST], paths: ["/r"]}]}
  admin: {allow: [{methods: ["*"], paths: ["/**"]}]}
`
	t.Run("strip", func(t *testing.T) {
		f, roles := newTestFilter(t, rules)
		r := newRequest(t, roles, viewer, "POST", "/r")
		r.headers.Set("X-Http-Method-Override", []byte("DELETE"))
		r.headers.Set("X-Method-Override", []byte("DELETE"))
		if got := decide(f, r); got != allow {
			t.Fatalf("got %q, want allow", got)
		}
		for _, h := range overrideHeaders {
			if v := r.headers.Peek(h); v != nil {
				t.Errorf("%s = %q reaches the upstream", h, v)
			}
		}
	})
	t.Run("authorize", func(t *testing.T) {
		f, roles := newTestFilter(t, rules+"method_override: authorize\n")
		fn := func(p principal, method, override, want string) {
			t.Helper()
			r := newRequest(t, roles, p, method, "/r")
			r.headers.Set("X-Http-Method", []byte(override))
			if got := decide(f, r); got != want {
				t.Errorf("%v %s as %s: got %q, want %q", p.roles, method, override, got, want)
			}
			if want == allow && string(r.headers.Peek("X-Http-Method")) != override {
				t.Errorf("override header not kept")
			}
		}
		fn(viewer, "POST", "GET", allow)
		fn(viewer, "POST", "DELETE", methodDeny)
		fn(viewer, "PUT", "GET", methodDeny) // the real method must pass too
		fn(admin, "POST", "DELETE", allow)
	})
}

func TestUnauthenticatedChallenge(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	newRequest(t, roles, anonymous, "GET", "/api/v1/orders").fill(ex)
	v := f.Handle(ex)
	if v.Reason() != ReasonRequired || v.Reason().Status != 401 || v.Reason().Decision != filters.DecisionDenied {
		t.Fatalf("got %+v", v.Reason())
	}
	if ex.ResponseHeaderCount() != 1 {
		t.Fatalf("%d response headers, want 1", ex.ResponseHeaderCount())
	}
	if name, val := ex.ResponseHeader(0); name != "WWW-Authenticate" || string(val) != defaultChallenge {
		t.Errorf("got %s: %s", name, val)
	}
	// A 403 carries no challenge.
	ex.Reset()
	newRequest(t, roles, viewer, "DELETE", "/api/v1/orders").fill(ex)
	if v := f.Handle(ex); v.Reason() != ReasonMethodDenied || ex.ResponseHeaderCount() != 0 {
		t.Errorf("403: reason %v, %d headers", v.Reason(), ex.ResponseHeaderCount())
	}
}

func TestReloadRebuilds(t *testing.T) {
	// Two generations built from different configs answer differently for
	// the same request; each keeps its own rules.
	old, oldRoles := newTestFilter(t, `roles: {viewer: {allow: [{methods: [GET], paths: ["/a"]}]}}`)
	cur, curRoles := newTestFilter(t, `roles: {viewer: {allow: [{methods: [GET], paths: ["/b"]}]}}`)
	if got := decide(old, newRequest(t, oldRoles, viewer, "GET", "/a")); got != allow {
		t.Errorf("old generation: %q", got)
	}
	if got := decide(cur, newRequest(t, curRoles, viewer, "GET", "/a")); got != pathDeny {
		t.Errorf("new generation: %q", got)
	}
}

func TestMetricsCount(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	decide(f, newRequest(t, roles, viewer, "GET", "/api/v1/orders"))
	decide(f, newRequest(t, roles, viewer, "DELETE", "/api/v1/orders"))
	decide(f, newRequest(t, roles, viewer, "DELETE", "/api/v1/orders"))
	var b strings.Builder
	f.Metrics().WritePrometheus(&b)
	out := b.String()
	for _, want := range []string{
		`tollgate_rbac_allowed_total{route="r"} 1`,
		`tollgate_rbac_refused_total{route="r",reason="rbac.method_denied"} 2`,
		`tollgate_rbac_refused_total{route="r",reason="authn.required"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

// TestConcurrentUse shares one filter between goroutines, as several
// routes' chains do; run with -race.
func TestConcurrentUse(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	reqs := []struct {
		r    *request
		want string
	}{
		{newRequest(t, roles, viewer, "GET", "/api/v1/orders"), allow},
		{newRequest(t, roles, editor, "DELETE", "/api/v1/orders"), methodDeny},
		{newRequest(t, roles, anonymous, "GET", "/"), required},
	}
	done := make(chan string, 4)
	for g := range 4 {
		go func() {
			ex := filters.AcquireExchange()
			defer filters.ReleaseExchange(ex)
			for i := range 500 {
				c := reqs[(g+i)%len(reqs)]
				c.r.fill(ex)
				got := "allow"
				if v := f.Handle(ex); !v.IsContinue() {
					got = strconv.Itoa(v.Reason().Status) + " " + v.Reason().Code
				}
				if got != c.want {
					done <- got + ", want " + c.want
					return
				}
			}
			done <- ""
		}()
	}
	for range 4 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
