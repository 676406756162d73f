package apikey

import (
	"slices"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestForwardedHeaders: the pipeline deletes client copies of exactly the
// headers the filter may set, canonical, custom names included — whether
// or not forward.credential keeps the key.
func TestForwardedHeaders(t *testing.T) {
	f := func(extra string, want ...string) {
		t.Helper()
		flt, _ := newTestFilter(t, config(extra))
		var fw filters.IdentityForwarder = flt
		if got := fw.ForwardedHeaders(); !slices.Equal(got, want) {
			t.Errorf("%q: forwarded headers %q, want %q", extra, got, want)
		}
	}
	f("", "X-Auth-Subject", "X-Auth-Roles", "X-Auth-Tenant")
	f("forward: {tenant_header: x-key-tenant, roles_header: \"\"}\n", "X-Auth-Subject", "X-Key-Tenant")
	f("forward: {credential: true, subject_header: \"\", roles_header: \"\", tenant_header: \"\"}\n")
}
