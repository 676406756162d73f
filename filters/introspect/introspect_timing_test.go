package introspect

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

var sink int

// BenchmarkHandleCacheHit is the hot path: a repeat token, answered from
// the cache by every core at once.
func BenchmarkHandleCacheHit(b *testing.B) {
	p := newIDP(b)
	c := newClock()
	f := newTestFilter(b, p, "tenant_claim: tid\n", c)
	p.set("2YotnFZFEjr1zCsicMWpAA", active("alice", c.unix()+3600, `"tid":"acme","scope":"viewer admin"`))
	auth := "Bearer 2YotnFZFEjr1zCsicMWpAA"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := filtertest.NewStaticHeaders("Authorization", auth)
		ex := exchange(h)
		defer filters.ReleaseExchange(ex)
		n := 0
		for pb.Next() {
			ex.Reset()
			ex.SetHeaders(h)
			if f.Handle(ex).IsContinue() {
				n++
			}
		}
		sink += n
	})
	if p.hits.Load() != 1 {
		b.Fatalf("server hits = %d, want 1", p.hits.Load())
	}
}

// BenchmarkHandleCacheMiss sends a different token every request, so each
// one is a full round trip to a local TLS introspection server (kept-alive
// connections): the honest cost of a token the proxy has not seen.
func BenchmarkHandleCacheMiss(b *testing.B) {
	p := newIDP(b)
	c := newClock()
	f := newTestFilter(b, p, "max_concurrent: 256\n", c)
	p.setPrefix("tok-", active("alice", c.unix()+3600, `"scope":"viewer"`))
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		h := filtertest.NewStaticHeaders()
		ex := exchange(h)
		defer filters.ReleaseExchange(ex)
		buf := make([]byte, 0, 64)
		n := 0
		for pb.Next() {
			buf = strconv.AppendInt(append(buf[:0], "Bearer tok-"...), seq.Add(1), 10)
			ex.Reset()
			ex.SetHeaders(h)
			h.Set("Authorization", buf)
			if f.Handle(ex).IsContinue() {
				n++
			}
		}
		sink += n
	})
	b.StopTimer()
	if int(p.hits.Load()) < b.N {
		b.Fatalf("server hits = %d for %d requests", p.hits.Load(), b.N)
	}
}

// BenchmarkChainCacheHit runs the filter inside a chain, as an engine does.
func BenchmarkChainCacheHit(b *testing.B) {
	p := newIDP(b)
	c := newClock()
	f := newTestFilter(b, p, "", c)
	p.set("tok", active("alice", c.unix()+3600, `"scope":"viewer"`))
	ch := filters.NewChain(f)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := filtertest.NewStaticHeaders("Authorization", "Bearer tok")
		ex := exchange(h)
		defer filters.ReleaseExchange(ex)
		n := 0
		for pb.Next() {
			ex.Reset()
			ex.SetHeaders(h)
			if ch.Run(ex).IsContinue() {
				n++
			}
		}
		sink += n
	})
}
