package filters_test

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

func BenchmarkChainNoop(b *testing.B) {
	c := filters.NewChain(&noop{}, &noop{}, &noop{}, &noop{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		for pb.Next() {
			c.Run(ex)
		}
	})
}
