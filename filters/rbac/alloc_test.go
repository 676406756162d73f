//go:build !race

package rbac

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestZeroAllocs gates the hot path: every outcome of a check, including
// refusals, the static subject lookup, the tenant condition and the
// method-override strip, allocates nothing.
func TestZeroAllocs(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	member := principal{verified: true, subject: "m", tenant: "acme", roles: []string{"member"}}
	override := newRequest(t, roles, viewer, "GET", "/api/v1/orders")
	override.headers.Set("X-Http-Method-Override", []byte("DELETE"))
	cases := []struct {
		name string
		r    *request
		want string
	}{
		{"allowed", newRequest(t, roles, viewer, "GET", "/api/v1/orders"), allow},
		{"allowed param", newRequest(t, roles, editor, "PUT", "/api/v1/customers/42"), allow},
		{"method denied", newRequest(t, roles, editor, "DELETE", "/api/v1/customers/42"), methodDeny},
		{"path denied", newRequest(t, roles, viewer, "GET", "/admin"), pathDeny},
		{"anonymous", newRequest(t, roles, anonymous, "GET", "/admin"), required},
		{"static subject", newRequest(t, roles, principal{verified: true, subject: "alice"}, "GET", "/admin"), allow},
		{"tenant", newRequest(t, roles, member, "GET", "/tenants/acme/x"), allow},
		{"tenant failed", newRequest(t, roles, member, "GET", "/tenants/globex/x"), condFail},
		{"route param tenant", newRequest(t, roles, member, "GET", "/shared/x").param("org", "acme"), allow},
		{"custom method", newRequest(t, roles, admin, "PROPFIND", "/x"), allow},
		{"override stripped", override, allow},
	}
	sf, sroles := newTestFilter(t, scopePolicy)
	scoped := newRequest(t, sroles, principal{verified: true, subject: "svc"}, "DELETE", "/api/orders/7")
	scoped.scopes = 3 // orders:write and orders:delete, the only scopes the policy interns
	scopeless := newRequest(t, sroles, principal{verified: true, subject: "svc"}, "DELETE", "/api/orders/7")
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	for _, c := range []struct {
		name string
		r    *request
		want string
	}{{"scope-only allowed", scoped, allow}, {"scope missing", scopeless, "403 rbac.scope_missing"}} {
		if got := decide(sf, c.r); got != c.want {
			t.Fatalf("%s: got %q, want %q", c.name, got, c.want)
		}
		c.r.fill(ex)
		sf.Handle(ex)
		filtertest.AssertZeroAllocs(t, c.name, func() {
			c.r.fill(ex)
			sink = sf.Handle(ex)
		})
	}
	for _, c := range cases {
		if got := decide(f, c.r); got != c.want {
			t.Fatalf("%s: got %q, want %q", c.name, got, c.want)
		}
		c.r.fill(ex) // grow the exchange's buffers once
		f.Handle(ex)
		filtertest.AssertZeroAllocs(t, c.name, func() {
			c.r.fill(ex)
			sink = f.Handle(ex)
		})
	}
}
