package introspect

import (
	"slices"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestForwardedHeaders: the pipeline deletes client copies of exactly the
// headers the filter may set, canonical, custom names included.
func TestForwardedHeaders(t *testing.T) {
	p := newIDP(t)
	f := func(extra string, want ...string) {
		t.Helper()
		var fw filters.IdentityForwarder = newTestFilter(t, p, extra, nil)
		if got := fw.ForwardedHeaders(); !slices.Equal(got, want) {
			t.Errorf("%q: forwarded headers %q, want %q", extra, got, want)
		}
	}
	f("", "X-Auth-Subject", "X-Auth-Roles", "X-Auth-Tenant")
	f("forward: {subject_header: x-user, roles_header: \"\"}\n", "X-User", "X-Auth-Tenant")
}
