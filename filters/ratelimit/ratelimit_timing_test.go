package ratelimit

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/tollgate-proxy/tollgate/filters"
)

var sink atomic.Int64

// benchRate and benchBurst make most requests admitted, so every decision
// writes (the worst case for contention): one million per second per key.
const (
	benchRate  = 1_000_000
	benchBurst = 1000
)

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("principal-" + strconv.Itoa(i))
	}
	return keys
}

// mapLimiter is the usual baseline: x/time/rate limiters in a map behind a
// mutex.
type mapLimiter struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (m *mapLimiter) allow(key []byte) bool {
	m.mu.Lock()
	l, ok := m.m[string(key)]
	if !ok {
		l = rate.NewLimiter(benchRate, benchBurst)
		m.m[string(key)] = l
	}
	m.mu.Unlock()
	return l.Allow()
}

// BenchmarkLimiter compares our GCRA table with x/time/rate behind a
// mutex-guarded map, on one hot key and on 10k keys. Run with -cpu 1,2,4.
func BenchmarkLimiter(b *testing.B) {
	for _, nkeys := range []int{1, 10_000} {
		keys := benchKeys(nkeys)
		b.Run("gcra/keys="+strconv.Itoa(nkeys), func(b *testing.B) {
			l, err := NewLimiter(LimiterConfig{Rate: benchRate, Per: time.Second, Burst: benchBurst, MaxKeys: 1 << 15})
			if err != nil {
				b.Fatal(err)
			}
			clock := monotonicClock()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				n := int64(0)
				for pb.Next() {
					i++
					if l.Take(l.HashKey(keys[i%nkeys]), clock(), true).Allowed {
						n++
					}
				}
				sink.Add(n)
			})
		})
		b.Run("xrate-map/keys="+strconv.Itoa(nkeys), func(b *testing.B) {
			m := &mapLimiter{m: make(map[string]*rate.Limiter)}
			for _, k := range keys {
				m.allow(k)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				n := int64(0)
				for pb.Next() {
					i++
					if m.allow(keys[i%nkeys]) {
						n++
					}
				}
				sink.Add(n)
			})
		})
	}
}

// BenchmarkHandle measures the whole filter: two policies, keys hashed from
// the exchange, RateLimit headers built.
func BenchmarkHandle(b *testing.B) {
	f, _ := newTestFilter(b, `
policies:
  - {name: per-principal, rate: 1000000, burst: 1000, key: [principal]}
  - {name: per-ip, rate: 1000000, burst: 1000, key: [client_ip]}
`)
	f.clock = monotonicClock()
	benchHandle(b, f, "principal-")
}

// benchHandle measures f.Handle in parallel, each goroutine a principal
// of its own named prefix and a number, refilling the exchange per
// request as the engine resets it.
func benchHandle(b *testing.B, f *Filter, prefix string) {
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := newRequest(0, prefix+strconv.FormatInt(next.Add(1), 10), "192.0.2.1")
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		n := int64(0)
		for pb.Next() {
			r.fill(ex)
			if f.Handle(ex).IsContinue() {
				n++
			}
		}
		sink.Add(n)
	})
}
