package rbac

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

var sink filters.Verdict

// largePolicy has n services with viewer/editor rules each, plus admin.
func largePolicy(n int) string {
	var b strings.Builder
	b.WriteString("roles:\n  viewer:\n    allow:\n")
	for i := range n {
		b.WriteString("      - {methods: [GET], paths: [\"/svc" + strconv.Itoa(i) + "/**\"]}\n")
	}
	b.WriteString("  editor:\n    inherits: [viewer]\n    allow:\n")
	for i := range n {
		b.WriteString("      - {methods: [POST, PUT], paths: [\"/svc" + strconv.Itoa(i) + "/items/{id}\"]}\n")
	}
	b.WriteString("  admin:\n    inherits: [editor]\n    allow:\n      - {methods: [\"*\"], paths: [\"/**\"]}\n")
	return b.String()
}

func BenchmarkCheck(b *testing.B) {
	cases := []struct {
		name, policy string
		p            principal
		method, path string
		want         string
	}{
		{"viewer-allowed", policy, viewer, "GET", "/api/v1/customers/42", allow},
		{"editor-allowed-param", policy, editor, "PUT", "/api/v1/customers/42", allow},
		{"editor-method-denied", policy, editor, "DELETE", "/api/v1/customers/42", methodDeny},
		{"viewer-path-denied", policy, viewer, "GET", "/admin/users", pathDeny},
		{"tenant-allowed", policy, principal{verified: true, subject: "m", tenant: "acme", roles: []string{"member"}}, "GET", "/tenants/acme/orders/1", allow},
		{"static-subject", policy, principal{verified: true, subject: "alice"}, "DELETE", "/admin/users", allow},
		{"anonymous", policy, anonymous, "GET", "/api/v1/orders", required},
		{"40rules-last-editor", largePolicy(20), editor, "PUT", "/svc19/items/7", allow},
		{"40rules-denied", largePolicy(20), editor, "DELETE", "/svc19/items/7", methodDeny},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f, roles := newTestFilter(b, c.policy)
			r := newRequest(b, roles, c.p, c.method, c.path)
			benchHandle(b, f, r, c.want)
		})
	}
}

// benchHandle checks that f decides r as want, then measures f.Handle of
// r in parallel, refilling the exchange per request as the engine resets
// it.
func benchHandle(b *testing.B, f *Filter, r *request, want string) {
	b.Helper()
	if got := decide(f, r); got != want {
		b.Fatalf("got %q, want %q", got, want)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		var v filters.Verdict
		for pb.Next() {
			r.fill(ex)
			v = f.Handle(ex)
		}
		sink = v
	})
}

var sinkOutcome outcome

// BenchmarkDecision measures the decision alone (no exchange refill, no
// metrics): the rule scan for an allowed request.
func BenchmarkDecision(b *testing.B) {
	for _, c := range []struct {
		name, policy string
		p            principal
		method, path string
	}{
		{"viewer-allowed", policy, viewer, "GET", "/api/v1/customers/42"},
		{"editor-allowed-param", policy, editor, "PUT", "/api/v1/customers/42"},
		{"40rules-last-editor", largePolicy(20), editor, "PUT", "/svc19/items/7"},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, roles := newTestFilter(b, c.policy)
			ex := filters.AcquireExchange()
			defer filters.ReleaseExchange(ex)
			newRequest(b, roles, c.p, c.method, c.path).fill(ex)
			if o, _ := f.check(ex, ex.Method); o != outAllowed {
				b.Fatal("not allowed")
			}
			b.ReportAllocs()
			for b.Loop() {
				sinkOutcome, _ = f.check(ex, ex.Method)
			}
		})
	}
}

// BenchmarkScopes measures permissions that require scopes: a role's
// grant with its scope, the scope-only allow list (checked after every
// role's rules), and a refusal for a missing scope.
func BenchmarkScopes(b *testing.B) {
	svc := principal{verified: true, subject: "svc"}
	clerk := principal{verified: true, subject: "c", roles: []string{"clerk"}}
	for _, c := range []struct {
		name   string
		p      principal
		scopes filters.RoleSet
		method string
		path   string
		want   string
	}{
		{"role-and-scope", clerk, 1, "POST", "/api/orders", allow},
		{"scope-only", svc, 3, "DELETE", "/api/orders/7", allow},
		{"scope-missing", svc, 1, "DELETE", "/api/orders/7", "403 rbac.scope_missing"},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, roles := newTestFilter(b, scopePolicy)
			r := newRequest(b, roles, c.p, c.method, c.path)
			r.scopes = c.scopes // orders:write is bit 0, orders:delete bit 1
			benchHandle(b, f, r, c.want)
		})
	}
}
