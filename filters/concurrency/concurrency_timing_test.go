package concurrency

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

var sink atomic.Int64

// BenchmarkHandleFinish measures a request's admission and release, beside
// the usual buffered-channel semaphore. "free" never waits; "contended"
// has half as many slots as goroutines (at least one), so requests queue
// and slots are handed over. Run with -cpu 1,2,4.
func BenchmarkHandleFinish(b *testing.B) {
	contended := max(runtime.GOMAXPROCS(0)/2, 1)
	for _, c := range []struct {
		name  string
		limit int
	}{{"free", 1 << 20}, {"contended", contended}} {
		b.Run("filter/"+c.name, func(b *testing.B) {
			f, err := build(testSpec(""), Config{MaxConcurrent: c.limit, MaxQueue: ptr(1 << 20), QueueTimeout: 0})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ex := filters.AcquireExchange()
				defer filters.ReleaseExchange(ex)
				n := int64(0)
				for pb.Next() {
					if f.Handle(ex).IsContinue() {
						n++
						f.Finish(ex)
					}
				}
				sink.Add(n)
			})
		})
		b.Run("chan-semaphore/"+c.name, func(b *testing.B) {
			sem := make(chan struct{}, c.limit)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n := int64(0)
				for pb.Next() {
					sem <- struct{}{}
					n++
					<-sem
				}
				sink.Add(n)
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }
