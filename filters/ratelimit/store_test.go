package ratelimit

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

// newSharedFilter builds a filter on the real clock (Redis keeps its own
// time) and closes it when the test ends.
func newSharedFilter(t testing.TB, src string) *Filter {
	t.Helper()
	f, err := New(testSpec(src))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := f.(*Filter).Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f.(*Filter)
}

// settle waits until f's lease workers have run every queued refill and
// give-back, so that what Redis holds is what f has given back.
func settle(t testing.TB, f *Filter) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.pending.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d refills still pending after 5s", f.pending.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func sharedConfig(addr, mode, onError string, extra string) string {
	return `
redis:
  addresses: [` + addr + `]
  timeout: 500ms
  dial_timeout: 200ms
  breaker_interval: 300ms
policies:
  - name: shared
    rate: 20
    per: 60s
    key: [principal]
    store: redis
    mode: ` + mode + `
    on_store_error: ` + onError + extra + `
`
}

// TestSharedConfigErrors wants every mistake of the store keys reported at
// once, one per line, each at the line:col of the setting it names (an
// absent setting at its policy).
func TestSharedConfigErrors(t *testing.T) {
	f := func(src string, wants ...string) {
		t.Helper()
		_, err := New(testSpec(src))
		if err == nil {
			t.Fatalf("no error for\n%s", src)
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(wants) {
			t.Errorf("error has %d lines, want %d:\n%v", len(lines), len(wants), err)
		}
		for i, w := range wants {
			pos, msg, _ := strings.Cut(w, " ")
			want := "test.yaml:" + pos + `: filter "ratelimit": ` + msg
			if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
				t.Errorf("error\n%v\nline %d is not %q", err, i+1, want)
			}
		}
	}
	f(`
policies:
  - {name: a, rate: 1, store: redis, mode: fast, on_store_error: maybe}`,
		`3:31 policies[0] (a).store: redis needs the filter's redis block`,
		`3:44 policies[0] (a).mode: want exact or lease, got "fast"`,
		`3:66 policies[0] (a).on_store_error: want allow, deny or local, got "maybe"`)
	f(`
redis: {addresses: ["127.0.0.1:1"]}
policies:
  - {name: a, rate: 10, store: redis, mode: lease, lease: 11}`,
		`4:5 policies[0] (a).on_store_error: required with store: redis`,
		`4:59 policies[0] (a).lease: want 1 to burst (10), got 11`)
	f(`
policies:
  - {name: a, rate: 1, mode: lease, on_store_error: allow}`,
		`3:30 policies[0] (a).mode: applies only with store: redis`,
		`3:53 policies[0] (a).on_store_error: applies only with store: redis`)
	f(`
redis: {addresses: ["127.0.0.1:1"]}
policies:
  - {name: a, rate: 1}`, `2:8 redis: no policy sets store: redis`)
	f(`
redis: {addresses: [], key_prefix: "a{b}"}
policies:
  - {name: a, rate: 1, store: redis, on_store_error: deny}`,
		`2:20 redis.addresses: want at least one host:port`, `2:36 redis.key_prefix: must not contain`)
	f(`
redis: {addresses: ["localhost"]}
policies:
  - {name: a, rate: 1, store: redis, on_store_error: deny}`, `2:8 redis: cannot build redis store: address "localhost"`)
	f(`
policies:
  - {name: a, rate: 1, store: memcached}`, `3:31 policies[0] (a).store: want local or redis, got "memcached"`)
}

// TestSharedAcrossInstances builds two filters (two proxy instances) on one
// Redis and wants them to share one budget, in both modes: a key of burst
// 20 admits 20 requests between them, plus at most what refills during the
// test.
func TestSharedAcrossInstances(t *testing.T) {
	srv := testredis.Start(t)
	for _, mode := range []string{"exact", "lease"} {
		t.Run(mode, func(t *testing.T) {
			src := sharedConfig(srv.Addr, mode, "deny", "\n    lease: 3\n    lease_ttl: 10s")
			if mode == "exact" {
				src = sharedConfig(srv.Addr, mode, "deny", "")
			}
			a, b := newSharedFilter(t, src), newSharedFilter(t, src)
			req := newRequest(0, "alice-"+mode, "192.0.2.1")
			start := time.Now()
			admitted := 0
			for i := 0; i < 100; i++ {
				f := a
				if i%2 == 1 {
					f = b
				}
				ex, v := handle(f, req)
				if v.IsContinue() {
					admitted++
				} else if v.Reason() != reasonExceeded {
					t.Fatalf("request %d: %v", i, v.Reason().Code)
				} else if respHeader(ex, "Retry-After") == "" {
					t.Fatalf("refusal without Retry-After")
				}
				if ex.Fallback != "" {
					t.Fatalf("request %d decided in fallback", i)
				}
				filters.ReleaseExchange(ex)
			}
			refilled := int(time.Since(start)/(3*time.Second)) + 1 // 20/min: one per 3s
			// Exact: 20. Lease: never more; fewer by at most what the
			// instances hold unspent or are giving back, 2 × (lease + lease/2).
			low := 20
			if mode == "lease" {
				low = 20 - 2*(3+1)
			}
			if admitted < low || admitted > 20+refilled {
				t.Fatalf("%s: admitted %d across two instances, want %d to 20 (+%d refill)", mode, admitted, low, refilled)
			}
			// The policy's identity and the key's hash tag.
			keys := srv.Keys("tollgate:rl:*")
			found := false
			for _, k := range keys {
				found = found || strings.HasPrefix(k, "tollgate:rl:{shared:") && strings.HasSuffix(k, "}")
			}
			if !found {
				t.Fatalf("keys %q: want tollgate:rl:{shared:<digest>}", keys)
			}
		})
	}
}

// TestLeasePrefetch wants most requests of a lease policy served from the
// lease: one synchronous lease, then refills ahead of need.
func TestLeasePrefetch(t *testing.T) {
	srv := testredis.Start(t)
	f := newSharedFilter(t, `
redis: {addresses: [`+srv.Addr+`], timeout: 1s, dial_timeout: 1s}
policies:
  - {name: p, rate: 1000, per: 1s, burst: 1000, store: redis, mode: lease, lease: 50, lease_ttl: 10s, on_store_error: deny}`)
	req := newRequest(0, "bob", "192.0.2.1")
	for i := 0; i < 400; i++ {
		ex, v := handle(f, req)
		if !v.IsContinue() {
			t.Fatalf("request %d refused: %s", i, ex.Detail())
		}
		filters.ReleaseExchange(ex)
		if i%10 == 9 {
			time.Sleep(2 * time.Millisecond) // 5,000 requests/s: a refill is back before the lease runs dry
		}
	}
	if w := f.policies[0].shared.waits.Get(); w > 2 {
		t.Fatalf("%d of 400 requests waited for Redis with leases of 50 refilled ahead", w)
	}
}

// TestFailModes kills Redis and wants each policy's on_store_error: allow
// lets requests through, deny answers 503, local counts on this instance;
// every such decision is flagged for the audit record. After a restart
// the store decides again within the breaker interval.
func TestFailModes(t *testing.T) {
	srv := testredis.Start(t)
	for _, tc := range []struct {
		mode, onError string
	}{{"exact", "allow"}, {"exact", "deny"}, {"exact", "local"}, {"lease", "allow"}, {"lease", "deny"}, {"lease", "local"}} {
		t.Run(tc.mode+"/"+tc.onError, func(t *testing.T) {
			f := newSharedFilter(t, sharedConfig(srv.Addr, tc.mode, tc.onError, ""))
			req := newRequest(0, "carol-"+tc.mode+tc.onError, "192.0.2.1")
			ex, v := handle(f, req)
			if !v.IsContinue() || ex.Fallback != "" {
				t.Fatalf("first request: %v fallback %q", v.Reason(), ex.Fallback)
			}
			filters.ReleaseExchange(ex)
			srv.Kill()
			admitted, unavailable := 0, 0
			for i := 0; i < 40; i++ {
				ex, v := handle(f, req)
				switch {
				case v.IsContinue():
					admitted++
				case v.Reason() == reasonStoreUnavailable:
					unavailable++
				}
				if tc.mode == "exact" && ex.Fallback != "ratelimit" || tc.mode == "lease" && !v.IsContinue() && v.Reason() != reasonExceeded && ex.Fallback != "ratelimit" {
					t.Fatalf("request %d with Redis down: fallback %q", i, ex.Fallback)
				}
				filters.ReleaseExchange(ex)
			}
			// A lease policy may still spend what it leased before the kill.
			spare := 0
			if tc.mode == "lease" {
				spare = 1
			}
			switch tc.onError {
			case "allow":
				if admitted != 40 {
					t.Fatalf("allow: admitted %d of 40", admitted)
				}
			case "deny":
				if admitted > spare || unavailable < 40-spare {
					t.Fatalf("deny: admitted %d, 503 %d", admitted, unavailable)
				}
			case "local":
				if admitted != 20 {
					t.Fatalf("local: admitted %d of 40, want the local burst of 20", admitted)
				}
			}
			if got := f.policies[0].shared.fallbacks.Get(); got < uint64(40-spare) {
				t.Fatalf("fallbacks counted %d", got)
			}
			if f.policies[0].shared.errors.Get() > 3 {
				t.Fatalf("%d failed Redis calls within the breaker interval: the breaker must spare Redis", f.policies[0].shared.errors.Get())
			}
			srv.Restart()
			deadline := time.Now().Add(2 * time.Second)
			for {
				ex, _ := handle(f, newRequest(0, "dave-"+tc.mode+tc.onError, "192.0.2.1"))
				fb := ex.Fallback
				filters.ReleaseExchange(ex)
				if fb == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery 2s after the restart (breaker interval 300ms)")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestSharedMetrics checks the store metrics are registered per policy.
func TestSharedMetrics(t *testing.T) {
	f := newSharedFilter(t, sharedConfig("127.0.0.1:1", "exact", "local", ""))
	var b strings.Builder
	ex, v := handle(f, newRequest(0, "erin", "192.0.2.1"))
	if !v.IsContinue() || ex.Fallback != "ratelimit" {
		t.Fatalf("local fallback: %v %q", v.Reason(), ex.Fallback)
	}
	filters.ReleaseExchange(ex)
	b.Reset()
	f.Metrics().WritePrometheus(&b)
	for _, w := range []string{
		`tollgate_ratelimit_store_duration_seconds_bucket{route="r",policy="shared",vmrange=`,
		`tollgate_ratelimit_store_errors_total{route="r",policy="shared"} 1`,
		`tollgate_ratelimit_store_fallbacks_total{route="r",policy="shared",mode="local"} 1`,
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("metrics lack %q:\n%s", w, b.String())
		}
	}
}

// TestLeaseBound drives three instances of a lease policy in a tight loop
// for a while, so that they hold leases, and checks the README's bound on
// every window of the run: at most burst + W·rate/per + I·(lease +
// ⌊lease/2⌋) admissions in any window W, and for mode exact the same
// without the lease term.
func TestLeaseBound(t *testing.T) {
	srv := testredis.Start(t)
	const (
		rate, burst, lease, instances = 200, 10, 4, 3
		run                           = 1200 * time.Millisecond
	)
	for _, mode := range []string{"exact", "lease"} {
		t.Run(mode, func(t *testing.T) {
			src := `
redis: {addresses: [` + srv.Addr + `], timeout: 1s}
policies:
  - {name: bound-` + mode + `, rate: ` + strconv.Itoa(rate) + `, per: 1s, burst: ` + strconv.Itoa(burst) + `, store: redis, mode: ` + mode + `, on_store_error: deny`
			if mode == "lease" {
				src += `, lease: ` + strconv.Itoa(lease) + `, lease_ttl: 10s`
			}
			src += "}\n"
			var fs []*Filter
			for i := 0; i < instances; i++ {
				fs = append(fs, newSharedFilter(t, src))
			}
			req := newRequest(0, "", "192.0.2.1")
			var times []time.Duration
			start := time.Now()
			for i := 0; i < 20_000_000 && time.Since(start) < run; i++ { // bounded both ways
				ex, v := handle(fs[i%instances], req)
				if v.IsContinue() {
					times = append(times, time.Since(start))
				} else if v.Reason() != reasonExceeded {
					t.Fatalf("request %d: %s", i, v.Reason().Code)
				}
				filters.ReleaseExchange(ex)
			}
			extra := 0
			if mode == "lease" {
				extra = instances * (lease + lease/2)
			}
			slack := 5 * time.Millisecond // the proxy's clock against Redis's: one round trip
			for _, w := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond} {
				bound := burst + int((w+slack)*rate/time.Second) + extra
				worst := 0
				for i, j := 0, 0; i < len(times); i++ { // times[j..i] within w
					for times[i]-times[j] > w {
						j++
					}
					worst = max(worst, i-j+1)
				}
				t.Logf("%s: window %v: at most %d admitted, bound %d", mode, w, worst, bound)
				if worst > bound {
					t.Fatalf("%s: %d admitted within %v, bound %d", mode, worst, w, bound)
				}
			}
			// The limit did bite, and not far below its rate.
			if total, want := len(times), int(run*rate/time.Second); total < want*8/10 || total > burst+want+extra+5 {
				t.Fatalf("%s: %d admitted in %v, want about %d", mode, total, run, want)
			}
		})
	}
}

// TestStoreKeys pins what makes two requests share a Redis key: the same
// filter instance, policy, route (scope: route) and key components — as
// the local table, where each filter instance has its own.
func TestStoreKeys(t *testing.T) {
	src := func(scope string) string {
		return `
redis: {addresses: ["127.0.0.1:1"]}
policies: [{name: p, rate: 1, key: [principal, client_ip], scope: ` + scope + `, store: redis, on_store_error: allow}]`
	}
	build := func(route, scope string) *Filter {
		f, err := New(filtertest.Spec("ratelimit", route, src(scope), nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.(*Filter).Close() })
		return f.(*Filter)
	}
	key := func(f *Filter, r *request) string {
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		r.fill(ex)
		return f.policies[0].storeKey(ex)
	}
	a, a2, b := build("orders", "route"), build("orders", "route"), build("users", "route")
	alice := newRequest(0, "alice", "192.0.2.1")
	if k := key(a, alice); !strings.HasPrefix(k, "tollgate:rl:{p:") || !strings.HasSuffix(k, "}") || len(k) != len("tollgate:rl:{p:}")+22 {
		t.Fatalf("key %q", k)
	}
	if key(a, alice) != key(a2, alice) {
		t.Fatal("two instances of the same config name different keys")
	}
	if key(a, alice) == key(b, alice) {
		t.Fatal("filters of two routes share a key")
	}
	for _, other := range []*request{newRequest(0, "bob", "192.0.2.1"), newRequest(0, "alice", "192.0.2.2"), newRequest(0, "alice\x00", "192.0.2.1")} {
		if key(a, alice) == key(a, other) {
			t.Fatalf("%q and %q share a key", alice.subject, other.subject)
		}
	}
	routeB := newRequest(1, "alice", "192.0.2.1")
	routeB.route = &filters.Route{Name: "other", Index: 1}
	if key(a, alice) == key(a, routeB) {
		t.Fatal("scope route: two routes of one filter share a key")
	}
	g := build("filters.quota", "filter")
	if key(g, alice) != key(g, routeB) {
		t.Fatal("scope filter: two routes of one filter have different keys")
	}
}

// TestSharedRefund: a request that a later local policy refuses gives its
// shared quota back, so refusals elsewhere do not drain the cluster
// budget.
func TestSharedRefund(t *testing.T) {
	srv := testredis.Start(t)
	for _, mode := range []string{"exact", "lease, lease: 1"} {
		t.Run(mode, func(t *testing.T) {
			shared := `{name: s, rate: 3, per: 60s, key: [principal], store: redis, mode: ` + mode + `, on_store_error: deny}`
			a := newSharedFilter(t, "redis: {addresses: ["+srv.Addr+"]}\npolicies:\n  - "+shared+"\n  - {name: l, rate: 1, per: 60s, key: [principal]}\n")
			b := newSharedFilter(t, "redis: {addresses: ["+srv.Addr+"]}\npolicies:\n  - "+shared+"\n")
			req := newRequest(0, "refund-"+mode, "192.0.2.1")
			for i := 0; i < 5; i++ {
				ex, v := handle(a, req)
				if want := i == 0; v.IsContinue() != want {
					t.Fatalf("instance a, request %d: admitted %v", i, v.IsContinue())
				}
				filters.ReleaseExchange(ex)
			}
			settle(t, a) // a's give-backs are queued: let them reach Redis
			admitted := 0
			for i := 0; i < 5; i++ {
				ex, v := handle(b, req)
				if v.IsContinue() {
					admitted++
				}
				filters.ReleaseExchange(ex)
			}
			// Exact: the 2 left of 3. Lease: a's give-backs go to its lease,
			// which may hold up to lease + ⌊lease/2⌋ = 1 of them unspent.
			low := 2
			if mode != "exact" {
				low = 1
			}
			if admitted < low || admitted > 2 {
				t.Fatalf("instance b admitted %d, want %d to 2 of the 3: refused requests must give their shared quota back", admitted, low)
			}
		})
	}
}
