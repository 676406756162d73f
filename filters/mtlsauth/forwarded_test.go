package mtlsauth

import (
	"slices"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestForwardedHeaders: the pipeline deletes a client copy of the
// subject header, in canonical form, and of nothing when none is set.
func TestForwardedHeaders(t *testing.T) {
	f := func(extra string, want ...string) {
		t.Helper()
		flt, _, err := newFilter(t, "identities: [{common_name: svc, principal: svc}]\n"+extra)
		if err != nil {
			t.Fatal(err)
		}
		var fw filters.IdentityForwarder = flt
		if got := fw.ForwardedHeaders(); !slices.Equal(got, want) {
			t.Errorf("%q: forwarded headers %q, want %q", extra, got, want)
		}
	}
	f("")
	f("subject_header: x-client-principal\n", "X-Client-Principal")
}
