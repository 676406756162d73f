//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestPipelineZeroAllocs(t *testing.T) {
	rt := compileRoutes(t, 25)
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	ex.Method, ex.Host, ex.RawTarget = []byte("GET"), []byte("api.example"), []byte("/api/v1/res17/42/items/7")
	buf := make([]byte, 0, 256)
	filtertest.AssertZeroAllocs(t, "normalize + route lookup + 4 no-op filters", func() {
		ex.Params.Reset()
		buf, _ = pipeline(rt, ex, buf)
	})
}

// TestCountResponseZeroAllocs: recording a response allocates nothing with
// either kind of latency histogram.
func TestCountResponseZeroAllocs(t *testing.T) {
	for _, kind := range []string{"prometheus", "vmrange"} {
		rt, err := compileText(t, filters.Registry{}, `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
routes: [{name: a, path: /a, upstream: demo}]
metrics: {histograms: `+kind+`}
`)
		if err != nil {
			t.Fatal(err)
		}
		r := rt.Routes[0]
		filtertest.AssertZeroAllocs(t, kind+" CountResponse", func() {
			r.CountResponse(200, 3*time.Millisecond)
		})
	}
}
