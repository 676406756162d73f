//go:build !race

package engine_test

import (
	"testing"

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
