package jsonvalidate

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// BenchmarkMediaType is the Content-Type check every validated body pays.
func BenchmarkMediaType(b *testing.B) {
	types, err := compileMediaTypes(DefaultMediaTypes)
	if err != nil {
		b.Fatal(err)
	}
	for _, ct := range []string{"application/json", `application/merge-patch+json; charset="UTF-8"`} {
		b.Run(ct, func(b *testing.B) {
			v := []byte(ct)
			b.ReportAllocs()
			for b.Loop() {
				if !allows(types, v) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkHandleGzip validates the small order sent gzip-encoded to a
// route that decodes it, beside the same body sent as it is.
func BenchmarkHandleGzip(b *testing.B) {
	f := newTestFilter(b, "schema_file: testdata/order.schema.json\ndecode: [gzip, zstd]\n")
	for _, c := range []struct {
		name, coding string
		body         []byte
	}{
		{"identity", "", []byte(benchSmall)},
		{"gzip", "gzip", filtertest.Gzip(b, []byte(benchSmall))},
		{"zstd", "zstd", zstded(b, []byte(benchSmall))},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := filtertest.NewStaticHeaders("Content-Type", "application/json")
			if c.coding != "" {
				h.Set("Content-Encoding", []byte(c.coding))
			}
			b.SetBytes(int64(len(benchSmall)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ex := filters.AcquireExchange()
				defer filters.ReleaseExchange(ex)
				for pb.Next() {
					fillExchange(ex, h, c.body)
					if !f.Handle(ex).IsContinue() {
						b.Fatal(string(ex.Detail()))
					}
				}
			})
		})
	}
}
