package concurrency

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testSpec returns a spec whose Decode strictly decodes src.
func testSpec(src string) filters.Spec { return filtertest.Spec("concurrency", "r", src, nil) }

func newTestFilter(t testing.TB, src string) *Filter {
	t.Helper()
	f, err := New(testSpec(src))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f.(*Filter)
}

// run is what the engine does around a filter: run the chain, then finish
// it once. It returns the verdict.
func run(c *filters.Chain, upstream func()) filters.Verdict {
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	v := c.Run(ex)
	if v.IsContinue() && upstream != nil {
		upstream()
	}
	c.Finish(ex)
	return v
}

func respHeader(ex *filters.Exchange, name string) string {
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		if k, v := ex.ResponseHeader(i); k == name {
			return string(v)
		}
	}
	return ""
}
