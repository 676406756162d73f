package filters_test

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

func BenchmarkChainNoop(b *testing.B) {
	c := filters.NewChain(pass{}, pass{}, pass{}, pass{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		for pb.Next() {
			c.Run(ex)
		}
	})
}

// pass is a stateless no-op filter, safe for parallel benchmarks.
type pass struct{}

func (pass) Name() string                             { return "pass" }
func (pass) Handle(*filters.Exchange) filters.Verdict { return filters.Continue }
