package ratelimit

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

// tryHandle runs TryHandle on a fresh exchange for r; the caller releases
// the exchange.
func tryHandle(f *Filter, r *request) (*filters.Exchange, filters.Verdict, bool) {
	ex := filters.AcquireExchange()
	r.fill(ex)
	v, decided := f.TryHandle(ex)
	return ex, v, decided
}

// leases counts the keys holding a lease in policy i's table.
func leases(f *Filter, i int) int {
	n := 0
	t := f.policies[i].shared.leases
	for s := range t.shards {
		t.shards[s].mu.Lock()
		n += len(t.shards[s].m)
		t.shards[s].mu.Unlock()
	}
	return n
}

// TestTryHandleLocal wants local policies decided at once, exactly as
// Handle decides them.
func TestTryHandleLocal(t *testing.T) {
	f, _ := newTestFilter(t, `
policies:
  - {name: p, rate: 2, per: 1m, burst: 2, key: [principal]}`)
	r := newRequest(0, "alice", "192.0.2.1")
	for i, want := range []bool{true, true, false} {
		ex, v, decided := tryHandle(f, r)
		if !decided || v.IsContinue() != want {
			t.Fatalf("request %d: decided=%v allowed=%v, want decided, allowed=%v", i, decided, v.IsContinue(), want)
		}
		filters.ReleaseExchange(ex)
	}
}

// TestTryHandleShared checks what TryHandle decides on its own for shared
// policies, and that an undecided TryHandle leaves nothing behind: no
// lease entry, no Redis call, no quota taken from a local policy.
func TestTryHandleShared(t *testing.T) {
	srv := testredis.Start(t)
	t.Run("exact always waits", func(t *testing.T) {
		f := newSharedFilter(t, sharedConfig(srv.Addr, "exact", "deny", ""))
		for i := 0; i < 3; i++ {
			ex, v, decided := tryHandle(f, newRequest(0, "exact-user", "192.0.2.1"))
			if decided || !v.IsContinue() || ex.ResponseHeaderCount() != 0 {
				t.Fatalf("decided=%v verdict=%v headers=%d, want undecided and untouched", decided, v, ex.ResponseHeaderCount())
			}
			filters.ReleaseExchange(ex)
		}
		if keys := srv.Keys("tollgate:rl:*"); len(keys) != 0 {
			t.Fatalf("TryHandle wrote %q to Redis", keys)
		}
	})
	t.Run("lease: held, empty, refused", func(t *testing.T) {
		f := newSharedFilter(t, `
redis: {addresses: [`+srv.Addr+`], timeout: 1s, dial_timeout: 1s}
policies:
  - {name: lease-p, rate: 4, per: 1m, burst: 4, store: redis, mode: lease, lease: 2, lease_ttl: 30s, on_store_error: deny}`)
		r := newRequest(0, "lease-user", "192.0.2.1")
		// No lease yet: TryHandle would wait and creates nothing.
		ex, _, decided := tryHandle(f, r)
		filters.ReleaseExchange(ex)
		if decided || leases(f, 0) != 0 || f.policies[0].shared.waits.Get() != 0 {
			t.Fatalf("no lease: decided=%v leases=%d waits=%d, want undecided, 0, 0", decided, leases(f, 0), f.policies[0].shared.waits.Get())
		}
		// Handle leases a batch of 2 and spends one.
		ex, v := handle(f, r)
		filters.ReleaseExchange(ex)
		if !v.IsContinue() {
			t.Fatal("first request refused")
		}
		decidedN, allowedN := 0, 0
		for i := 0; i < 10; i++ {
			ex, v, decided := tryHandle(f, r)
			if !decided {
				// The lease ran dry: Handle leases again (or learns the
				// budget is spent).
				ex2, v2 := handle(f, r)
				if v2.IsContinue() {
					allowedN++
				}
				filters.ReleaseExchange(ex2)
			} else {
				decidedN++
				if v.IsContinue() {
					allowedN++
				} else if got := respHeader(ex, headerRetryAfter); got == "" {
					t.Fatalf("a refusal decided at once has no Retry-After")
				}
			}
			filters.ReleaseExchange(ex)
		}
		// The budget is 4 per minute: 3 more requests at most are let
		// through, whoever decides them; once Redis refused, the refusal
		// is held and decided at once.
		if allowedN > 3 {
			t.Fatalf("%d requests allowed past a budget of 4", allowedN+1)
		}
		if decidedN < 5 {
			t.Fatalf("only %d of 10 requests decided without waiting", decidedN)
		}
	})
	t.Run("local then lease: an empty lease takes nothing from the local policy", func(t *testing.T) {
		f := newSharedFilter(t, `
redis: {addresses: [`+srv.Addr+`], timeout: 1s, dial_timeout: 1s}
policies:
  - {name: local-p, rate: 1, per: 1m, burst: 1, key: [principal]}
  - {name: mixed-p, rate: 100, per: 1m, burst: 100, key: [principal], store: redis, mode: lease, lease: 10, on_store_error: deny}`)
		r := newRequest(0, "mixed-user", "192.0.2.1")
		for i := 0; i < 3; i++ {
			ex, _, decided := tryHandle(f, r)
			filters.ReleaseExchange(ex)
			if decided {
				t.Fatalf("try %d decided with an empty lease", i)
			}
		}
		// The local policy's one request is still there.
		ex, v := handle(f, r)
		filters.ReleaseExchange(ex)
		if !v.IsContinue() {
			t.Fatal("undecided TryHandle calls spent the local policy's quota")
		}
		// Now the lease is held and the local policy is spent: decided
		// at once, refused by the local policy.
		ex, v, decided := tryHandle(f, r)
		defer filters.ReleaseExchange(ex)
		if !decided || v.IsContinue() {
			t.Fatalf("decided=%v allowed=%v, want a refusal decided at once", decided, v.IsContinue())
		}
	})
}
