package rbac

import (
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// scopePolicy mixes the three kinds of permission: by role alone, by role
// and scopes, and by scopes alone (the top-level allow list).
const scopePolicy = `
roles:
  viewer:
    allow:
      - {methods: [GET], paths: ["/api/**"]}
  clerk:
    inherits: [viewer]
    allow:
      - {methods: [POST], paths: [/api/orders], scopes: ["orders:write"]}
allow:
  - {methods: [DELETE], paths: ["/api/orders/{id}"], scopes: ["orders:write", "orders:delete"]}
`

func TestScopes(t *testing.T) {
	roles, scopes := filters.NewRoles(), filters.NewRoles()
	spec := testSpec(scopePolicy, roles)
	spec.Scopes = scopes
	f, err := build(spec)
	if err != nil {
		t.Fatal(err)
	}
	bits := func(names ...string) filters.RoleSet {
		var s filters.RoleSet
		for _, n := range names {
			i, ok := scopes.Lookup([]byte(n))
			if !ok {
				t.Fatalf("scope %q not interned", n)
			}
			s |= 1 << uint(i)
		}
		return s
	}
	tests := []struct {
		name   string
		p      principal
		scopes []string
		method string
		path   string
		want   string
	}{
		{"role alone still works", viewer, nil, "GET", "/api/orders", allow},
		{"role and all scopes", principal{verified: true, roles: []string{"clerk"}}, []string{"orders:write"}, "POST", "/api/orders", allow},
		{"role without the scope", principal{verified: true, roles: []string{"clerk"}}, nil, "POST", "/api/orders", "403 rbac.scope_missing"},
		{"scope without the role", viewer, []string{"orders:write"}, "POST", "/api/orders", methodDeny},
		{"scope-only, all scopes, no role", principal{verified: true, subject: "svc"}, []string{"orders:write", "orders:delete"}, "DELETE", "/api/orders/7", allow},
		{"scope-only, one scope of two", principal{verified: true, subject: "svc"}, []string{"orders:write"}, "DELETE", "/api/orders/7", "403 rbac.scope_missing"},
		{"scope-only, other path", principal{verified: true, subject: "svc"}, []string{"orders:write", "orders:delete"}, "DELETE", "/api/customers/7", pathDeny},
		{"scope-only, other method", principal{verified: true, subject: "svc"}, []string{"orders:write", "orders:delete"}, "PUT", "/api/orders/7", methodDeny},
		{"anonymous with scopes", anonymous, []string{"orders:write", "orders:delete"}, "DELETE", "/api/orders/7", required},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, roles, tc.p, tc.method, tc.path)
			r.scopes = bits(tc.scopes...)
			if got := decide(f, r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}

	var got []string
	for _, r := range f.Rules(roles, scopes) {
		got = append(got, r.Role+" "+r.Pattern+" "+strings.Join(r.Scopes, ","))
	}
	want := []string{"clerk /api/orders orders:write", "viewer /api/** ", " /api/orders/{id} orders:write,orders:delete"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rules:\n got %q\nwant %q", got, want)
	}
}

func TestScopeErrors(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		_, err := build(testSpec(src, filters.NewRoles()))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
	f("allow: [{methods: [GET], paths: [/a]}]", "allow[0].scopes: a permission outside roles must list the scopes it requires")
	f("roles: {r: {allow: [{methods: [GET], paths: [/a], scopes: [\"a b\"]}]}}", `test.yaml:1:60: filter "rbac": roles.r.allow[0].scopes: want a scope token (RFC 6749 §3.3), got "a b"`)
	f("allow: [{methods: [GET], paths: [/a], scopes: ['a\"b']}]", `allow[0].scopes: want a scope token`)
}
