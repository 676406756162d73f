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

// BenchmarkChainTryRunHead is BenchmarkChainNoop through TryRunHead with a
// Waiter that decides at once: the event loop's path.
func BenchmarkChainTryRunHead(b *testing.B) {
	c := filters.NewChain(pass{}, readyWaiter{}, pass{}, pass{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		for pb.Next() {
			if _, _, done := c.TryRunHead(ex); !done {
				b.Fatal("undecided")
			}
		}
	})
}

// readyWaiter is a stateless Blocker whose TryHandle always decides.
type readyWaiter struct{ pass }

func (readyWaiter) MayBlock() bool { return true }
func (readyWaiter) TryHandle(*filters.Exchange) (filters.Verdict, bool) {
	return filters.Continue, true
}
