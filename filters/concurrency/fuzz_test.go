package concurrency

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// FuzzConfig feeds arbitrary YAML to New: it either refuses with an error
// or builds a filter with a sane limit.
func FuzzConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := New(testSpec(src))
		if err != nil {
			return
		}
		c := flt.(*Filter)
		if c.limit < 1 || c.maxQueue < 0 || c.timeout <= 0 || len(c.retryAfter) == 0 {
			t.Fatalf("accepted a broken config: %+v", c)
		}
	})
}

// FuzzAdmitFinish runs a random sequence of admissions and finishes on one
// goroutine (no queue, so nothing blocks) against a model: the filter
// admits exactly while fewer than the limit are in flight, and its
// in-flight gauge always equals the model's.
func FuzzAdmitFinish(f *testing.F) {
	f.Fuzz(func(t *testing.T, limit uint8, ops []byte) {
		lim := int(limit%16) + 1
		c, err := build(testSpec(""), Config{MaxConcurrent: lim, MaxQueue: ptr(0)})
		if err != nil {
			t.Fatal(err)
		}
		var held []*filters.Exchange
		defer func() {
			for _, ex := range held {
				filters.ReleaseExchange(ex)
			}
		}()
		for _, op := range ops {
			if op&1 == 0 || len(held) == 0 {
				ex := filters.AcquireExchange()
				v := c.Handle(ex)
				if v.IsContinue() != (len(held) < lim) {
					t.Fatalf("with %d of %d in flight: admitted = %v", len(held), lim, v.IsContinue())
				}
				if v.IsContinue() {
					held = append(held, ex)
				} else {
					ex.Refuse(v.Reason())
					c.Finish(ex) // the chain finishes refusals too
					filters.ReleaseExchange(ex)
				}
			} else {
				i := int(op>>1) % len(held)
				c.Finish(held[i])
				filters.ReleaseExchange(held[i])
				held = append(held[:i], held[i+1:]...)
			}
			if got := c.Stats().InFlight; got != int64(len(held)) {
				t.Fatalf("in flight %d, model %d", got, len(held))
			}
		}
	})
}
