//go:build !race

package concurrency

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestZeroAllocs(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 1, max_queue: 0}`)
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	filtertest.AssertZeroAllocs(t, "admit and finish", func() {
		ex.Reset()
		if !f.Handle(ex).IsContinue() {
			t.Fatal("refused")
		}
		f.Finish(ex)
	})
	filtertest.AssertZeroAllocs(t, "TryHandle: a free slot, and finish", func() {
		ex.Reset()
		if v, ok := f.TryHandle(ex); !ok || !v.IsContinue() {
			t.Fatal("undecided or refused")
		}
		f.Finish(ex)
	})
	holder := filters.AcquireExchange()
	defer filters.ReleaseExchange(holder)
	f.Handle(holder)
	shed := filters.AcquireExchange()
	defer filters.ReleaseExchange(shed)
	f.Handle(shed) // grow the response-header buffers once
	filtertest.AssertZeroAllocs(t, "shed", func() {
		shed.Reset()
		v := f.Handle(shed)
		if v.IsContinue() {
			t.Fatal("admitted past the limit")
		}
		shed.Refuse(v.Reason())
		f.Finish(shed)
	})
}
