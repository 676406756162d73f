package ratelimit

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

const ms = 1000 // µs

// step runs one request and checks the decision and headers.
func step(t *testing.T, f *Filter, r *request, wantAllowed bool, wantRateLimit, wantRetryAfter string) {
	t.Helper()
	ex, v := handle(f, r)
	defer filters.ReleaseExchange(ex)
	if v.IsContinue() != wantAllowed {
		t.Fatalf("allowed = %v, want %v (RateLimit %q)", v.IsContinue(), wantAllowed, respHeader(ex, "RateLimit"))
	}
	if !wantAllowed {
		if v.Reason().Code != "ratelimit.exceeded" || v.Reason().Status != 429 || v.Reason().Decision != filters.DecisionLimited {
			t.Fatalf("reason = %+v", v.Reason())
		}
	}
	if got := respHeader(ex, "RateLimit"); got != wantRateLimit {
		t.Fatalf("RateLimit = %q, want %q", got, wantRateLimit)
	}
	if got := respHeader(ex, "Retry-After"); got != wantRetryAfter {
		t.Fatalf("Retry-After = %q, want %q", got, wantRetryAfter)
	}
}

func TestGCRABurstThenSteadyRate(t *testing.T) {
	f, clk := newTestFilter(t, `
policies:
  - name: per-principal
    rate: 10
    per: 1s
    burst: 10
    key: [principal]
`)
	r := newRequest(0, "alice", "")
	// A fresh key has its whole burst: 10 at once, remaining counting down.
	for i := 9; i >= 0; i-- {
		step(t, f, r, true, `"per-principal";r=`+strconv.Itoa(i)+`;t=1`, "")
	}
	step(t, f, r, false, `"per-principal";r=0;t=1`, "1")
	// Then one request per emission interval (100ms), no more.
	for i := 0; i < 20; i++ {
		clk.advance(50 * ms)
		step(t, f, r, false, `"per-principal";r=0;t=1`, "1")
		clk.advance(50 * ms)
		step(t, f, r, true, `"per-principal";r=0;t=1`, "")
		step(t, f, r, false, `"per-principal";r=0;t=1`, "1")
	}
	// Idle for the whole window: the burst is back.
	clk.advance(1000 * ms)
	step(t, f, r, true, `"per-principal";r=9;t=1`, "")
}

func TestGCRAExactArithmetic(t *testing.T) {
	l, err := NewLimiter(LimiterConfig{Rate: 10, Per: time.Second, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := l.HashKey([]byte("k"))
	f := func(now int64, wantAllowed bool, wantTAT int64, wantRemaining int64, wantRetry time.Duration) {
		t.Helper()
		r := l.Take(h, now, true)
		if r.Allowed != wantAllowed || r.TAT != wantTAT || l.Remaining(r) != wantRemaining || l.RetryAfter(r) != wantRetry {
			t.Fatalf("Take(%d) = %+v remaining %d retry %v; want allowed %v TAT %d remaining %d retry %v",
				now, r, l.Remaining(r), l.RetryAfter(r), wantAllowed, wantTAT, wantRemaining, wantRetry)
		}
	}
	// T = 100ms, τ = 300ms.
	f(1000*ms, true, 1100*ms, 2, 0)
	f(1000*ms, true, 1200*ms, 1, 0)
	f(1000*ms, true, 1300*ms, 0, 0)
	f(1000*ms, false, 1300*ms, 0, 100*time.Millisecond)
	f(1050*ms, false, 1300*ms, 0, 50*time.Millisecond)
	f(1100*ms, true, 1400*ms, 0, 0)
	f(1150*ms, false, 1400*ms, 0, 50*time.Millisecond)
	f(1200*ms, true, 1500*ms, 0, 0)
	// Long idle: the TAT is in the past, the key starts over.
	f(9000*ms, true, 9100*ms, 2, 0)
	// Peeking changes nothing.
	if r := l.Take(h, 9000*ms, false); !r.Allowed || r.TAT != 9200*ms {
		t.Fatalf("peek = %+v", r)
	}
	f(9000*ms, true, 9200*ms, 1, 0)
	// A refund gives one interval back.
	l.Refund(h)
	f(9000*ms, true, 9200*ms, 1, 0)
}

func TestRetryAfterRounding(t *testing.T) {
	f := func(d time.Duration, want int64) {
		t.Helper()
		if got := ceilSeconds(d); got != want {
			t.Fatalf("ceilSeconds(%v) = %d, want %d", d, got, want)
		}
	}
	f(0, 1)
	f(time.Microsecond, 1)
	f(999*time.Millisecond, 1)
	f(time.Second, 1)
	f(time.Second+time.Microsecond, 2)
	f(2500*time.Millisecond, 3)
	f(24*time.Hour, 86400)

	// Through the filter: one request per 10s.
	fl, clk := newTestFilter(t, `
policies:
  - {name: slow, rate: 1, per: 10s, burst: 1, key: [principal]}
`)
	r := newRequest(0, "bob", "")
	step(t, fl, r, true, `"slow";r=0;t=10`, "")
	clk.advance(500 * ms)
	step(t, fl, r, false, `"slow";r=0;t=10`, "10") // 9.5s → 10
	clk.advance(8500*ms - 1)
	step(t, fl, r, false, `"slow";r=0;t=2`, "2") // 1.000001s → 2
	clk.advance(1)
	step(t, fl, r, false, `"slow";r=0;t=1`, "1") // exactly 1s
	clk.advance(1000*ms - 1)
	step(t, fl, r, false, `"slow";r=0;t=1`, "1") // 1µs → 1, never 0
	clk.advance(1)
	step(t, fl, r, true, `"slow";r=0;t=10`, "")
}

func TestSeveralPolicies(t *testing.T) {
	f, clk := newTestFilter(t, `
policies:
  - {name: per-principal, rate: 10, per: 1s, burst: 2, key: [principal]}
  - {name: daily, rate: 5, per: 24h, key: [tenant]}
`)
	if got, want := string(f.policyHeader), `"per-principal";q=2;w=1, "daily";q=5;w=86400`; got != want {
		t.Fatalf("RateLimit-Policy = %q, want %q", got, want)
	}
	a, b := newRequest(0, "alice", ""), newRequest(0, "bob", "")
	a.tenant, b.tenant = []byte("acme"), []byte("acme")
	// Closest to exhaustion is reported: per-principal has 1 left, daily 4.
	step(t, f, a, true, `"per-principal";r=1;t=1`, "")
	step(t, f, a, true, `"per-principal";r=0;t=1`, "")
	// Refused by per-principal: daily must not be charged for it.
	step(t, f, a, false, `"per-principal";r=0;t=1`, "1")
	step(t, f, a, false, `"per-principal";r=0;t=1`, "1")
	// bob shares the tenant; his own per-principal quota is still closer
	// to exhaustion than the daily one.
	step(t, f, b, true, `"per-principal";r=1;t=1`, "")
	step(t, f, b, true, `"per-principal";r=0;t=1`, "")
	// 4 of the daily 5 are used (the refused requests cost nothing).
	clk.advance(1000 * ms)
	step(t, f, a, true, `"daily";r=0;t=86399`, "")
	// Now per-principal admits but daily refuses: the daily wait is
	// reported, and per-principal gets its quota back.
	ex, v := handle(f, a)
	defer filters.ReleaseExchange(ex)
	if v.IsContinue() {
		t.Fatal("allowed past the daily quota")
	}
	if got := respHeader(ex, "Retry-After"); got != "17279" {
		t.Fatalf("Retry-After = %q, want 17279", got)
	}
	if got := respHeader(ex, "RateLimit"); got != `"daily";r=0;t=17279` {
		t.Fatalf("RateLimit = %q", got)
	}
	if got := string(ex.Detail()); !strings.Contains(got, `"daily"`) {
		t.Fatalf("detail = %q", got)
	}
	pp := &f.policies[0]
	exA := filters.AcquireExchange()
	a.fill(exA)
	if r := pp.lim.Take(pp.hash(exA), clk.now(), false); !r.Allowed || pp.lim.Remaining(r) != 0 {
		t.Fatalf("per-principal was not refunded: %+v", r)
	}
	filters.ReleaseExchange(exA)
	st := f.Stats()
	if st[0].Limited != 2 || st[1].Limited != 1 {
		t.Fatalf("limited = %d, %d; want 2, 1", st[0].Limited, st[1].Limited)
	}
}

func TestWorstRefusalReported(t *testing.T) {
	// Both policies refuse; the one with the longer wait is reported.
	f, _ := newTestFilter(t, `
policies:
  - {name: fast, rate: 1, per: 1s, burst: 1}
  - {name: slow, rate: 1, per: 60s, burst: 1}
`)
	r := newRequest(0, "", "")
	step(t, f, r, true, `"slow";r=0;t=60`, "") // tie on r: the longer reset
	step(t, f, r, false, `"slow";r=0;t=60`, "60")
}

func TestKeys(t *testing.T) {
	f, _ := newTestFilter(t, `
policies:
  - {name: ip, rate: 1, burst: 1, key: [client_ip]}
`)
	f2, _ := newTestFilter(t, `
policies:
  - {name: ip, rate: 1, burst: 1, key: [client_ip], scope: filter, ipv6_prefix: 128}
`)
	exhaust := func(f *Filter, r *request) {
		t.Helper()
		ex, v := handle(f, r)
		filters.ReleaseExchange(ex)
		if !v.IsContinue() {
			t.Fatalf("first request from %v refused", r.ip)
		}
	}
	limited := func(f *Filter, r *request) bool {
		ex, v := handle(f, r)
		filters.ReleaseExchange(ex)
		return !v.IsContinue()
	}
	exhaust(f, newRequest(0, "", "192.0.2.1"))
	if !limited(f, newRequest(0, "", "::ffff:192.0.2.1")) {
		t.Fatal("IPv4-mapped address is not the IPv4 key")
	}
	if limited(f, newRequest(0, "", "192.0.2.2")) {
		t.Fatal("another IPv4 address shares the key")
	}
	if limited(f, newRequest(1, "", "192.0.2.1")) {
		t.Fatal("another route shares a per-route key")
	}
	exhaust(f, newRequest(0, "", "2001:db8:1:2::1"))
	if !limited(f, newRequest(0, "", "2001:db8:1:2:ffff::9")) {
		t.Fatal("same IPv6 /64 is a different key")
	}
	if limited(f, newRequest(0, "", "2001:db8:1:3::1")) {
		t.Fatal("another IPv6 /64 shares the key")
	}
	// scope: filter shares across routes; /128 separates addresses.
	exhaust(f2, newRequest(0, "", "2001:db8::1"))
	if !limited(f2, newRequest(7, "", "2001:db8::1")) {
		t.Fatal("scope filter: another route has its own counter")
	}
	if limited(f2, newRequest(0, "", "2001:db8::2")) {
		t.Fatal("ipv6_prefix 128: neighbour address shares the key")
	}

	// Header and route parameter keys; a missing value is a key of its own.
	g, _ := newTestFilter(t, `
policies:
  - {name: h, rate: 1, burst: 1, key: [header:x-api-key, "param:id"]}
`)
	req := func(key, id string) *request {
		r := newRequest(0, "", "")
		if key != "" {
			r.headers.Set("X-Api-Key", []byte(key))
		}
		return r.withParam("id", id)
	}
	exhaust(g, req("k1", "1"))
	if !limited(g, req("k1", "1")) {
		t.Fatal("header+param key not limited")
	}
	if limited(g, req("k1", "2")) || limited(g, req("k2", "1")) {
		t.Fatal("different header or param shares the key")
	}
	// "k1"+"12" must not collide with "k11"+"2" (length-prefixed encoding).
	exhaust(g, req("k11", "2x"))
	if limited(g, req("k1", "12x")) {
		t.Fatal("components are not delimited")
	}
	exhaust(g, req("", ""))
	if !limited(g, req("", "")) {
		t.Fatal("requests without the header do not share one key")
	}
}

func (r *request) withParam(name, value string) *request {
	r.params = append(r.params, param{name, []byte(value)})
	return r
}

func TestHeadersOff(t *testing.T) {
	f, _ := newTestFilter(t, `
headers: false
policies:
  - {name: p, rate: 1, burst: 1}
`)
	r := newRequest(0, "", "")
	ex, v := handle(f, r)
	if !v.IsContinue() || ex.ResponseHeaderCount() != 0 {
		t.Fatalf("allowed request carries %d headers", ex.ResponseHeaderCount())
	}
	filters.ReleaseExchange(ex)
	ex, v = handle(f, r)
	defer filters.ReleaseExchange(ex)
	if v.IsContinue() {
		t.Fatal("not limited")
	}
	for name, want := range map[string]string{"Retry-After": "1", "RateLimit": `"p";r=0;t=1`, "RateLimit-Policy": `"p";q=1;w=1`} {
		if got := respHeader(ex, name); got != want {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	ex.Refuse(v.Reason()) // as the chain does
	body := string(ex.AppendProblem(nil))
	for _, want := range []string{`"status":429`, `"reason":"ratelimit.exceeded"`, `rate limit policy \"p\" (1 per 1s, burst 1) exceeded`} {
		if !strings.Contains(body, want) {
			t.Fatalf("problem body %s lacks %s", body, want)
		}
	}
}

// TestConcurrentOneKey hammers one key from many goroutines on a clock
// they advance themselves: GCRA admits at most burst + elapsed/T, and
// (since someone asks at every instant) not much less.
func TestConcurrentOneKey(t *testing.T) {
	const (
		goroutines = 8
		perG       = 5000
		burst      = 10
		intervalUS = 100 // 10,000/s
	)
	l, err := NewLimiter(LimiterConfig{Rate: 10000, Per: time.Second, Burst: burst})
	if err != nil {
		t.Fatal(err)
	}
	h := l.HashKey([]byte("hot"))
	var clock, admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				if l.Take(h, clock.Add(1), true).Allowed {
					admitted.Add(1)
				}
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := clock.Load()
	bound := burst + elapsed/intervalUS
	n := admitted.Load()
	if n > bound {
		t.Fatalf("admitted %d > burst + rate×elapsed = %d", n, bound)
	}
	if n < bound-2*goroutines {
		t.Fatalf("admitted %d, far below the bound %d", n, bound)
	}
}

// TestConcurrentRealClock does the same through the filter on the real
// monotonic clock for a bounded time.
func TestConcurrentRealClock(t *testing.T) {
	cfg := Config{Headers: true}
	spec := testSpec(`
policies:
  - {name: p, rate: 1000, per: 1s, burst: 20, key: [principal]}
`)
	if err := spec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	clk := monotonicClock()
	f, err := build(spec, cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	start := clk()
	deadline := time.Now().Add(150 * time.Millisecond)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRequest(0, "alice", "")
			ex := filters.AcquireExchange()
			defer filters.ReleaseExchange(ex)
			for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
				r.fill(ex)
				if f.Handle(ex).IsContinue() {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := clk() - start
	if bound := 20 + elapsed/1000; admitted.Load() > bound {
		t.Fatalf("admitted %d > %d", admitted.Load(), bound)
	}
}

// TestEvictionKeepsMemoryFixed drives a million distinct keys through a
// small table: memory does not grow, the cap is counted, and reclaiming
// idle keys is not.
func TestEvictionKeepsMemoryFixed(t *testing.T) {
	l, err := NewLimiter(LimiterConfig{Rate: 1, Per: time.Hour, Burst: 1, MaxKeys: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if l.Capacity() != 4096 {
		t.Fatalf("capacity = %d", l.Capacity())
	}
	var key [8]byte
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 1_000_000
	collisions := 0
	for i := 0; i < n; i++ {
		for j := range key {
			key[j] = byte(i >> (8 * j))
		}
		if !l.Take(l.HashKey(key[:]), 1, true).Allowed {
			// A new key whose 16-bit tag matches a live key of its bucket
			// is judged on that key's state: about 8/65536 of lookups in a
			// full bucket.
			collisions++
		}
	}
	if collisions > n/1000 {
		t.Fatalf("%d of %d fresh keys refused", collisions, n)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 256<<10 {
		t.Fatalf("heap grew by %d bytes over %d keys", grew, n)
	}
	st := l.Stats(1)
	if st.Live != l.Capacity() {
		t.Fatalf("live = %d, want the table full (%d)", st.Live, l.Capacity())
	}
	if want := uint64(n - l.Capacity() - collisions); st.Evicted != want {
		t.Fatalf("evicted = %d, want %d", st.Evicted, want)
	}

	// Once every key has its quota back, new keys reuse slots silently.
	evicted := st.Evicted
	later := int64(2 * time.Hour / time.Microsecond)
	for i := 0; i < 500; i++ { // ~1 per bucket: none overflows its 8 slots
		key[0], key[1], key[7] = byte(i), byte(i>>8), 0xee
		l.Take(l.HashKey(key[:]), later, true)
	}
	if got := l.Stats(later).Evicted; got != evicted {
		t.Fatalf("reusing idle slots counted %d evictions", got-evicted)
	}
}

func TestConfigErrors(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		_, err := New(testSpec(src))
		if err == nil {
			t.Fatalf("config accepted:\n%s", src)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not contain %q", err, want)
		}
	}
	f(``, "set at least one policy")
	f(`policies: []`, "set at least one policy")
	f(`policies: [{name: a, rate: 1, burts: 2}]`, "burts")
	f(`policies: [{name: "a b", rate: 1}]`, "policies[0].name")
	f(`policies: [{name: a, rate: 0}]`, "policies[0] (a).rate")
	f(`policies: [{name: a, rate: 1, per: 1500ms}]`, "whole number of seconds")
	f(`policies: [{name: a, rate: 1, burst: -1}]`, "burst")
	f(`policies: [{name: a, rate: 2000000}]`, "microsecond")
	f(`policies: [{name: a, rate: 1, per: 8760h, burst: 100}]`, "two years")
	f(`policies: [{name: a, rate: 1, key: [nobody]}]`, `unknown key "nobody"`)
	f(`policies: [{name: a, rate: 1, key: ["header:bad name"]}]`, "not an HTTP token")
	f(`policies: [{name: a, rate: 1, key: ["param:"]}]`, "parameter name")
	f(`policies: [{name: a, rate: 1, key: [principal, principal]}]`, "listed twice")
	f(`policies: [{name: a, rate: 1, scope: global}]`, "scope")
	f(`policies: [{name: a, rate: 1, ipv6_prefix: 129}]`, "ipv6_prefix")
	f(`policies: [{name: a, rate: 1, max_keys: 100000000}]`, "max_keys")
	f(`policies: [{name: a, rate: 1}, {name: a, rate: 2}]`, "policies[1].name: duplicate name")
	f(`policies: [{name: a, rate: 1},{name: b, rate: 1},{name: c, rate: 1},{name: d, rate: 1},{name: e, rate: 1},{name: f, rate: 1},{name: g, rate: 1},{name: h, rate: 1},{name: i, rate: 1}]`, "at most 8")

	// Every problem is reported, each at its setting, one per line; a
	// decode error does not hide the checks of what decoded.
	_, err := New(testSpec(`policies:
  - {name: a, rate: 0, scope: global}
  - {name: b, rate: 1, burst: -1, key: [nobody], burts: 1}
  - {name: a, rate: 1}`))
	want := `test.yaml:2:21: filter "ratelimit": policies[0] (a).rate: want a positive number of requests, got 0
test.yaml:2:31: filter "ratelimit": policies[0] (a).scope: want route or filter, got "global"
test.yaml:3:31: filter "ratelimit": policies[1] (b).burst: want a positive number of requests, got -1
test.yaml:3:41: filter "ratelimit": policies[1] (b).key[0]: unknown key "nobody": want principal, tenant, credential, client_ip, method, header:<Name> or param:<name>
test.yaml:4:12: filter "ratelimit": policies[2].name: duplicate name "a"`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "burts") {
		t.Fatalf("error\n%v\nwant\n%s\nand the unknown key", err, want)
	}
	_, err = New(testSpec(`policies: [{name: a, rate: 0}]`))
	if err == nil || !strings.HasPrefix(err.Error(), "test.yaml:1:28: ") {
		t.Fatalf("error %q is not at the rate", err)
	}
}

func TestDefaults(t *testing.T) {
	f, _ := newTestFilter(t, `policies: [{name: a, rate: 5}]`)
	p := f.policies[0]
	if p.lim.Burst() != 5 || p.lim.Interval() != 200*time.Millisecond || !p.perRoute || p.lim.Capacity() != DefaultMaxKeys || !f.headers {
		t.Fatalf("defaults: burst %d interval %v perRoute %v capacity %d headers %v", p.lim.Burst(), p.lim.Interval(), p.perRoute, p.lim.Capacity(), f.headers)
	}
	if got := string(f.policyHeader); got != `"a";q=5;w=1` {
		t.Fatalf("RateLimit-Policy = %q", got)
	}
	if f.Name() != "ratelimit" {
		t.Fatal(f.Name())
	}
}

func TestMetrics(t *testing.T) {
	f, _ := newTestFilter(t, `
policies:
  - {name: p, rate: 1, burst: 1, max_keys: 4096}
`)
	r := newRequest(0, "", "")
	for i := 0; i < 3; i++ {
		ex, _ := handle(f, r)
		filters.ReleaseExchange(ex)
	}
	var buf strings.Builder
	f.Metrics().WritePrometheus(&buf)
	for _, want := range []string{
		`tollgate_ratelimit_keys_capacity{route="r",policy="p"} 4096`,
		`tollgate_ratelimit_keys_live{route="r",policy="p"} 1`,
		`tollgate_ratelimit_evictions_total{route="r",policy="p"} 0`,
		`tollgate_ratelimit_limited_total{route="r",policy="p"} 2`,
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, buf.String())
		}
	}
}
