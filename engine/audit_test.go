package engine

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/filters"
)

// TestDecisionCodesAgree pins what fillEntry's conversion relies on: the
// audit log keeps its own copy of the decision codes (it must not import
// filters, so its on-disk format stands alone), and every code means the
// same decision in both, with none missing on either side (an unknown code
// prints as "decision(N)", so a code one side lacks shows as a mismatch).
func TestDecisionCodesAgree(t *testing.T) {
	for d := 0; d < 256; d++ {
		f, a := filters.Decision(d).String(), auditlog.Decision(d).String()
		if f != a {
			t.Errorf("decision %d: filters calls it %q, auditlog %q", d, f, a)
		}
	}
}
