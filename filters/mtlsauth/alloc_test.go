//go:build !race

package mtlsauth

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestZeroAllocs gates the hot path: mapping a certificate (with the
// subject header), refusing an unmapped one, and a certificate after an
// earlier identity — agreeing, conflicting, or a second factor — allocate
// nothing once the exchange's buffers have grown.
func TestZeroAllocs(t *testing.T) {
	for _, c := range benchCases {
		t.Run(c.name, func(t *testing.T) {
			flt, ex := c.setup(t)
			defer filters.ReleaseExchange(ex)
			run := func() filters.Verdict { c.reset(ex); return flt.Handle(ex) }
			if got := run().Reason(); got != c.want {
				t.Fatalf("reason %v, want %v", got, c.want)
			}
			filtertest.AssertZeroAllocs(t, c.name, func() { run() })
		})
	}
}
