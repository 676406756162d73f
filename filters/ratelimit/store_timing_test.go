package ratelimit

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

// BenchmarkHandleShared measures one policy counted locally, in Redis per
// request (exact: a loopback round trip), and in Redis by leases (most
// requests spend a leased request under a shard lock), from one Redis
// started for the benchmark.
func BenchmarkHandleShared(b *testing.B) {
	srv := testredis.Start(b)
	for _, c := range []struct{ name, store string }{
		{"local", ""},
		{"exact", ", store: redis, mode: exact, on_store_error: deny"},
		{"lease", ", store: redis, mode: lease, lease: 100, on_store_error: deny"},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := "policies:\n  - {name: p, rate: 1000000, burst: 1000000, key: [principal]" + c.store + "}\n"
			if c.store != "" {
				src = "redis: {addresses: [" + srv.Addr + "]}\n" + src
			}
			f := newSharedFilter(b, src)
			benchHandle(b, f, "principal-"+c.name)
		})
	}
}

// BenchmarkTryHandleLease measures TryHandle of a lease policy whose key
// holds a lease: what the event loop pays per request instead of a trip
// off the loop. Refills still go to Redis, ahead of need.
func BenchmarkTryHandleLease(b *testing.B) {
	srv := testredis.Start(b)
	f := newSharedFilter(b, "redis: {addresses: ["+srv.Addr+"]}\npolicies:\n  - {name: p, rate: 1000000, burst: 1000000, key: [principal], store: redis, mode: lease, lease: 1000, on_store_error: deny}\n")
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := newRequest(0, "principal-try"+strconv.FormatInt(next.Add(1), 10), "192.0.2.1")
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		n := int64(0)
		for pb.Next() {
			r.fill(ex)
			v, decided := f.TryHandle(ex)
			if !decided {
				r.fill(ex)
				v = f.Handle(ex)
			}
			if v.IsContinue() {
				n++
			}
		}
		sink.Add(n)
	})
}
