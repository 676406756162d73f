package insight

import (
	"net/url"
	"strconv"
	"testing"
)

// FuzzParseFilter checks that any query either is refused or yields a
// filter whose status test agrees with its text.
func FuzzParseFilter(f *testing.F) {
	f.Add("status=4xx&principal=alice")
	f.Add("status=403&route=/v1/orders/{id}")
	f.Add("decision=denied&status=5XX")
	f.Fuzz(func(t *testing.T, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		flt, err := parseFilter(vals)
		if err != nil {
			return
		}
		for _, st := range []uint16{0, 200, 401, 403, 404, 503, 999} {
			r := record{status: st}
			got := flt.match(&r)
			want := flt.principal == nil && flt.route == nil && flt.decision <= 1
			if flt.status != 0 {
				want = want && flt.status == st
			}
			if flt.class != 0 {
				want = want && classOf(st) == flt.class-1
			}
			if got != want && flt.route == nil {
				t.Fatalf("filter %q on status %s: match %v, want %v", q, strconv.Itoa(int(st)), got, want)
			}
		}
	})
}
