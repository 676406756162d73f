package engine_test

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// BenchmarkPipeline measures what every request pays before it is
// forwarded: path normalization, route lookup among 50 routes and a chain
// of four no-op filters.
func BenchmarkPipeline(b *testing.B) {
	rt := compileRoutes(b, 25)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		ex.Method, ex.Host, ex.RawTarget = []byte("GET"), []byte("api.example"), []byte("/api/v1/res17/42/items/7")
		buf := make([]byte, 0, 256)
		for pb.Next() {
			ex.Params.Reset()
			buf, _ = pipeline(rt, ex, buf)
		}
	})
}
