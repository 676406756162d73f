package ratelimit

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// policyParams is one parsed RateLimit-Policy item.
type policyParams struct{ q, w int64 }

// parseItems parses a structured-field list of items `"name";k=v;k=v`, as
// this filter writes them (names are plain strings, values integers).
func parseItems(t testing.TB, field, v string) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	for _, item := range strings.Split(v, ", ") {
		parts := strings.Split(item, ";")
		name, err := strconv.Unquote(parts[0])
		if err != nil || name == "" {
			t.Fatalf("%s %q: item %q has no string name", field, v, item)
		}
		params := map[string]int64{}
		for _, kv := range parts[1:] {
			k, val, ok := strings.Cut(kv, "=")
			n, err := strconv.ParseInt(val, 10, 64)
			if !ok || err != nil {
				t.Fatalf("%s %q: parameter %q is not key=integer", field, v, kv)
			}
			params[k] = n
		}
		out[name] = params
	}
	return out
}

// checkHeaders asserts that the RateLimit item of a response stays within
// the RateLimit-Policy it names: 0 ≤ r ≤ q (on an admission r < q: the
// request itself took a unit) and 1 ≤ t ≤ w. It returns the parsed values.
func checkHeaders(t testing.TB, ex *filters.Exchange, allowed bool) (name string, r, tt int64, pol map[string]policyParams) {
	t.Helper()
	rl, rp := respHeader(ex, headerRateLimit), respHeader(ex, headerRateLimitPolicy)
	if rl == "" || rp == "" {
		t.Fatalf("RateLimit %q, RateLimit-Policy %q: want both", rl, rp)
	}
	pol = map[string]policyParams{}
	for n, ps := range parseItems(t, "RateLimit-Policy", rp) {
		q, okq := ps["q"]
		w, okw := ps["w"]
		if !okq || !okw || len(ps) != 2 || q < 1 || w < 1 {
			t.Fatalf("RateLimit-Policy %q: item %q wants q ≥ 1 and w ≥ 1 only", rp, n)
		}
		pol[n] = policyParams{q, w}
	}
	items := parseItems(t, "RateLimit", rl)
	if len(items) != 1 {
		t.Fatalf("RateLimit %q: want one item", rl)
	}
	for n, ps := range items {
		name, r, tt = n, ps["r"], ps["t"]
		if _, ok := ps["r"]; !ok || len(ps) != 2 {
			t.Fatalf("RateLimit %q: want r and t", rl)
		}
	}
	p, ok := pol[name]
	if !ok {
		t.Fatalf("RateLimit %q names a policy RateLimit-Policy %q lacks", rl, rp)
	}
	if r < 0 || r > p.q || allowed && r == p.q {
		t.Fatalf("RateLimit %q: r outside [0, q=%d] (RateLimit-Policy %q)", rl, p.q, rp)
	}
	if tt < 1 || tt > p.w {
		t.Fatalf("RateLimit %q: t outside [1, w=%d] (RateLimit-Policy %q)", rl, p.w, rp)
	}
	if !allowed && r != 0 {
		t.Fatalf("refusal with RateLimit %q: want r=0", rl)
	}
	return name, r, tt, pol
}

// TestPolicyHeaderIsTheBucket: q is the burst, w the time an exhausted
// bucket takes to fill (burst × per / rate, rounded up), so q/w is the
// sustained rate.
func TestPolicyHeaderIsTheBucket(t *testing.T) {
	for _, c := range []struct{ policy, want string }{
		{`{name: p, rate: 10, per: 1s, burst: 20}`, `"p";q=20;w=2`}, // the quickstart's
		{`{name: p, rate: 10, per: 1s, burst: 10}`, `"p";q=10;w=1`},
		{`{name: p, rate: 10, per: 1s, burst: 2}`, `"p";q=2;w=1`},   // 0.2s → 1
		{`{name: p, rate: 10, per: 1s, burst: 15}`, `"p";q=15;w=2`}, // 1.5s → 2
		{`{name: p, rate: 1, per: 1s, burst: 5}`, `"p";q=5;w=5`},
		{`{name: p, rate: 300, per: 60s, burst: 50}`, `"p";q=50;w=10`},
		{`{name: p, rate: 3, per: 10s, burst: 4}`, `"p";q=4;w=14`}, // 13.3s → 14
		{`{name: p, rate: 10000, per: 24h}`, `"p";q=10000;w=86400`},
		{`{name: p, rate: 1000000}`, `"p";q=1000000;w=1`},
	} {
		f, _ := newTestFilter(t, "policies: ["+c.policy+"]")
		if got := string(f.policyHeader); got != c.want {
			t.Errorf("%s: RateLimit-Policy = %q, want %q", c.policy, got, c.want)
		}
	}
}

// TestRateLimitWithinPolicy drives policies through bursts, refusals,
// partial and full refills and checks every RateLimit item against the
// RateLimit-Policy item it names: r ≤ q and t ≤ w, always.
func TestRateLimitWithinPolicy(t *testing.T) {
	for _, src := range []string{
		`[{name: quick, rate: 10, per: 1s, burst: 20, key: [principal]}]`,
		`[{name: even, rate: 10, per: 1s, burst: 10}]`,
		`[{name: small, rate: 10, per: 1s, burst: 2}]`,
		`[{name: odd, rate: 3, per: 10s, burst: 4}]`,
		`[{name: one, rate: 1, per: 1s, burst: 1}]`,
		`[{name: pp, rate: 10, per: 1s, burst: 20, key: [principal]}, {name: daily, rate: 30, per: 24h, key: [tenant]}]`,
		`[{name: daily, rate: 30, per: 24h}, {name: pp, rate: 10, per: 1s, burst: 3}]`,
	} {
		t.Run(src, func(t *testing.T) {
			f, clk := newTestFilter(t, "policies: "+src)
			r := newRequest(0, "alice", "")
			r.tenant = []byte("acme")
			try := func() (allowed bool) {
				t.Helper()
				ex, v := handle(f, r)
				defer filters.ReleaseExchange(ex)
				checkHeaders(t, ex, v.IsContinue())
				return v.IsContinue()
			}
			drain := func() {
				t.Helper()
				for i := 0; try(); i++ {
					if i > 1000 {
						t.Fatal("never refused")
					}
				}
				try() // refused again, right away
			}
			drain()
			T := f.policies[0].lim.Interval()
			for _, idle := range []time.Duration{T / 2, T / 2, T, 3 * T, T - time.Microsecond, time.Microsecond} {
				clk.advance(idle.Microseconds())
				try()
			}
			drain()
			// A full refill of every policy, then drained again.
			for i := range f.policies {
				clk.advance(f.policies[i].lim.Tolerance().Microseconds())
			}
			drain()
		})
	}
}

// TestQuickstartHeaders spells out the headers of the README's worked
// example (the quickstart's 10/s with burst 20, and 10 000 a day per
// tenant): r counts down from 19 against q=20, and a refusal says r=0
// with t equal to Retry-After.
func TestQuickstartHeaders(t *testing.T) {
	f, clk := newTestFilter(t, `
policies:
  - {name: per-principal, rate: 10, per: 1s, burst: 20, key: [principal]}
  - {name: per-tenant, rate: 10000, per: 24h, key: [tenant]}
`)
	if got, want := string(f.policyHeader), `"per-principal";q=20;w=2, "per-tenant";q=10000;w=86400`; got != want {
		t.Fatalf("RateLimit-Policy = %q, want %q", got, want)
	}
	r := newRequest(0, "vera", "")
	r.tenant = []byte("acme")
	for i := 19; i >= 0; i-- {
		// t: until the whole burst is back, (20−i)×100ms rounded up.
		step(t, f, r, true, `"per-principal";r=`+strconv.Itoa(i)+`;t=`+strconv.Itoa(int(ceilSeconds(time.Duration(20-i)*100*time.Millisecond))), "")
	}
	step(t, f, r, false, `"per-principal";r=0;t=1`, "1")
	ex, _ := handle(f, r)
	if got, want := string(ex.Detail()), `rate limit policy "per-principal" (10 per 1s, burst 20) exceeded`; got != want {
		t.Fatalf("detail = %q, want %q", got, want)
	}
	filters.ReleaseExchange(ex)
	// One per 100ms after that.
	clk.advance(100 * ms)
	step(t, f, r, true, `"per-principal";r=0;t=2`, "")
	// 2s idle: the bucket is full again.
	clk.advance(2000 * ms)
	step(t, f, r, true, `"per-principal";r=19;t=1`, "")
}

// TestHeadersNeverOverstate checks, for many configurations and random
// schedules on the fake clock, that no RateLimit item exceeds its policy.
func TestHeadersNeverOverstate(t *testing.T) {
	rates := []int64{1, 3, 7, 10, 1000}
	pers := []string{"1s", "7s", "60s"}
	bursts := []int64{1, 2, 10, 20, 99}
	seed := uint64(1)
	rnd := func(n uint64) uint64 { // xorshift: deterministic
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed % n
	}
	for _, rate := range rates {
		for _, per := range pers {
			for _, burst := range bursts {
				src := "policies: [{name: p, rate: " + strconv.FormatInt(rate, 10) + ", per: " + per + ", burst: " + strconv.FormatInt(burst, 10) + "}]"
				f, clk := newTestFilter(t, src)
				T := f.policies[0].lim.Interval().Microseconds()
				r := newRequest(0, "", "")
				for i := 0; i < 300; i++ {
					ex, v := handle(f, r)
					checkHeaders(t, ex, v.IsContinue())
					filters.ReleaseExchange(ex)
					switch rnd(4) {
					case 0:
						clk.advance(int64(rnd(uint64(2*T) + 1)))
					case 1:
						clk.advance(int64(rnd(uint64(burst*T) + 1)))
					}
				}
			}
		}
	}
}
