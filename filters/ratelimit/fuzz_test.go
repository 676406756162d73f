package ratelimit

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// FuzzGCRA drives one key through a random schedule and checks the GCRA
// invariants on every decision: never more than burst + elapsed/T
// admitted, remaining within [0, burst), a refusal's wait positive and
// exact (a request at now+wait is admitted, one a microsecond earlier is
// not), and the reset never beyond the burst's worth of time.
func FuzzGCRA(f *testing.F) {
	f.Fuzz(func(t *testing.T, rate, perSec, burst uint16, schedule []byte) {
		r := int64(rate%1000) + 1
		per := time.Duration(perSec%120+1) * time.Second
		b := int64(burst%100) + 1
		l, err := NewLimiter(LimiterConfig{Rate: r, Per: per, Burst: b, MaxKeys: MinKeys})
		if err != nil {
			t.Skip()
		}
		T := l.interval
		h := l.HashKey([]byte("k"))
		now, first, admitted := int64(0), int64(-1), int64(0)
		for len(schedule) >= 2 && admitted < 10_000 {
			now += int64(binary.LittleEndian.Uint16(schedule)) * int64(schedule[0]%16+1)
			schedule = schedule[2:]
			res := l.Take(h, now, true)
			if res.Allowed {
				if first < 0 {
					first = now
				}
				admitted++
				if bound := b + (now-first)/T; admitted > bound {
					t.Fatalf("admitted %d > burst + elapsed/T = %d", admitted, bound)
				}
				if rem := l.Remaining(res); rem < 0 || rem >= b {
					t.Fatalf("remaining %d outside [0,%d)", rem, b)
				}
				if l.RetryAfter(res) != 0 {
					t.Fatal("retry-after on an admission")
				}
			} else {
				wait := l.RetryAfter(res).Microseconds()
				if wait <= 0 {
					t.Fatalf("refusal with wait %d", wait)
				}
				if l.Take(h, now+wait-1, false).Allowed {
					t.Fatal("admitted 1µs before the announced wait")
				}
				if !l.Take(h, now+wait, false).Allowed {
					t.Fatal("refused after the announced wait")
				}
			}
			if reset := l.Reset(res); reset < 0 || reset.Microseconds() > l.tolerance {
				t.Fatalf("reset %v beyond τ", reset)
			}
		}
	})
}

// FuzzConfig feeds arbitrary YAML to New: it must either refuse with an
// error or build a filter whose Handle works and whose headers are plain
// printable ASCII, with every RateLimit item within its policy (r ≤ q,
// t ≤ w).
func FuzzConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := New(testSpec(src))
		if err != nil {
			return
		}
		rl := flt.(*Filter)
		if rl.store != nil {
			// A shared policy: the config is checked; Handle would dial
			// whatever address the input names, so it is not run here
			// (store_test.go runs it against a real Redis).
			if err := rl.Close(); err != nil {
				t.Fatal(err)
			}
			return
		}
		req := newRequest(1, "alice", "2001:db8::1")
		req.tenant = []byte("t")
		for i := 0; i < 3; i++ {
			ex, v := handle(rl, req)
			if rl.headers || !v.IsContinue() {
				checkHeaders(t, ex, v.IsContinue())
			}
			for j := 0; j < ex.ResponseHeaderCount(); j++ {
				name, v := ex.ResponseHeader(j)
				for _, c := range v {
					if c < 0x20 || c > 0x7e {
						t.Fatalf("%s: byte %#x in %q", name, c, v)
					}
				}
			}
			filters.ReleaseExchange(ex)
		}
		_ = rl.Stats()
	})
}
