//go:build !race

package filters_test

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestChainZeroAllocs(t *testing.T) {
	c := filters.NewChain(&noop{}, &noop{}, &noop{}, deny{reasonTest})
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	defer filters.ReleaseExchange(ex)
	buf := make([]byte, 0, 512)
	filtertest.AssertZeroAllocs(t, "chain run + problem body", func() {
		ex.Refuse(nil)
		c.Run(ex)
		ex.AddResponseHeader("Retry-After", []byte("1"))
		buf = ex.AppendProblem(buf[:0])
	})
}

func TestChainTryRunZeroAllocs(t *testing.T) {
	c := filters.NewChain(&noop{}, readyWaiter{}, &noop{}, deny{reasonTest})
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	defer filters.ReleaseExchange(ex)
	filtertest.AssertZeroAllocs(t, "chain try-run", func() {
		ex.Refuse(nil)
		if _, _, done := c.TryRunHead(ex); !done {
			t.Fatal("undecided")
		}
	})
}
