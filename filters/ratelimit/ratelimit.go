package ratelimit

import (
	"hash/maphash"
	"io"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/ratelimit/redisstore"
)

// Response header names.
const (
	headerRetryAfter      = "Retry-After"
	headerRateLimit       = "RateLimit"
	headerRateLimitPolicy = "RateLimit-Policy"
)

// reasonExceeded is the refusal of every policy: 429 Too Many Requests
// (RFC 6585 §4) with a problem+json body (RFC 9457).
var reasonExceeded = filters.NewReason("ratelimit.exceeded", 429, filters.DecisionLimited, "rate limit exceeded")

// Filter enforces one or more GCRA policies. It is safe for concurrent use
// by any number of chains.
type Filter struct {
	policies     []policy
	policyHeader []byte // RateLimit-Policy value listing every policy
	headers      bool
	clock        func() int64 // µs, monotonic
	metrics      *metrics.Set
	route        string

	// Shared policies (store: redis); nil store when there are none.
	store     *redisstore.Store
	exact     bool // a shared policy is in exact mode: TryHandle always waits
	refills   chan refill
	pending   atomic.Int64 // refills queued or in flight
	stop      chan struct{}
	workers   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Interface guard.
var (
	_ filters.Filter  = (*Filter)(nil)
	_ filters.Blocker = (*Filter)(nil)
	_ filters.Waiter  = (*Filter)(nil)
	_ io.Closer       = (*Filter)(nil)
)

type keyKind uint8

const (
	keyPrincipal keyKind = iota + 1
	keyTenant
	keyCredential
	keyClientIP
	keyMethod
	keyHeader
	keyParam
)

type component struct {
	kind keyKind
	arg  string // header name (canonical) or parameter name
}

type policy struct {
	name        string
	lim         *Limiter
	hashInit    uint64 // secret starting state, from the limiter's seed
	key         []component
	perRoute    bool
	v6mask      [16]byte
	policyItem  []byte // `"name";q=<burst>;w=<burst×per/rate, s>`, e.g. `"name";q=20;w=2`
	limitPrefix []byte // `"name";r=`
	detail      string
	shared      *shared // nil: counted by lim alone
}

// Name implements filters.Filter.
func (f *Filter) Name() string { return "ratelimit" }

// Handle implements filters.Filter. It admits the request only if every
// policy does; quota taken by earlier policies is given back when a later
// one refuses, so a refused request costs nothing.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	v, _ := f.decide(ex, false)
	return v
}

// TryHandle implements filters.Waiter: it decides as Handle does when no
// policy has to ask Redis, and otherwise says it would wait. Local
// policies never wait. A lease policy decides at once when its key holds
// a leased request, or while the last refusal from Redis still holds;
// with no lease left it would lease a batch (a round trip). A policy in
// exact mode asks Redis for every request: a filter with one always says
// it would wait.
//
// An undecided TryHandle leaves nothing taken: a lease policy that
// would wait is found before it is charged, and what the policies before
// it took is given back, as when a later policy refuses (a local
// policy's refund restores its capacity; a lease entry is not created).
// Handle then decides the request afresh.
func (f *Filter) TryHandle(ex *filters.Exchange) (filters.Verdict, bool) {
	if f.exact {
		return filters.Continue, false
	}
	return f.decide(ex, true)
}

// decide is Handle, or TryHandle when try is set: then decided is false
// when a policy would have to wait for Redis.
func (f *Filter) decide(ex *filters.Exchange, try bool) (v filters.Verdict, decided bool) {
	now := f.clock()
	var hs [MaxPolicies]uint64
	var rs [MaxPolicies]Result
	var by [MaxPolicies]decidedBy
	first := -1 // first refusing policy
	for i := range f.policies {
		p := &f.policies[i]
		hs[i] = p.hash(ex)
		switch {
		case p.shared == nil:
			// After a refusal, later policies are only asked what they
			// would decide (for the Retry-After), never charged.
			rs[i] = p.lim.Take(hs[i], now, first < 0)
		case first >= 0:
			// A shared policy is not asked once the request is refused:
			// that would be a round trip for a Retry-After.
			rs[i], by[i] = Result{Allowed: true}, byNone
		case try:
			r, ok := f.spendLease(ex, p, hs[i], now, false)
			if !ok {
				f.giveBack(ex, i, &hs, &by)
				return filters.Continue, false
			}
			rs[i], by[i] = r, byLease
		default:
			var deny bool
			rs[i], by[i], deny = f.takeShared(ex, p, hs[i], now)
			if deny {
				f.giveBack(ex, i, &hs, &by)
				return f.unavailable(ex, p), true
			}
		}
		if first < 0 && !rs[i].Allowed {
			first = i
		}
	}
	if first >= 0 {
		return f.refuse(ex, first, &hs, &rs, &by), true
	}
	if f.headers {
		f.addAllowedHeaders(ex, &rs)
	}
	return filters.Continue, true
}

// refuse gives back the quota of the policies that admitted, then reports
// the refusing policy with the longest wait: the client cannot succeed
// before it.
func (f *Filter) refuse(ex *filters.Exchange, first int, hs *[MaxPolicies]uint64, rs *[MaxPolicies]Result, by *[MaxPolicies]decidedBy) filters.Verdict {
	f.giveBack(ex, first, hs, by)
	worst, wait := first, time.Duration(0)
	for i := first; i < len(f.policies); i++ {
		if w := f.policies[i].lim.RetryAfter(rs[i]); !rs[i].Allowed && w > wait {
			worst, wait = i, w
		}
	}
	p := &f.policies[worst]
	p.lim.countLimited(hs[worst])
	secs := ceilSeconds(wait) // RFC 9110 §10.2.3 delay-seconds: whole, never 0
	var buf [160]byte
	ex.AddResponseHeader(headerRetryAfter, strconv.AppendInt(buf[:0], secs, 10))
	// draft-ietf-httpapi-ratelimit-headers-11 §4: nothing is available
	// until the Retry-After delay has passed (§6: Retry-After is not
	// earlier than the end of the effective window).
	b := append(buf[:0], p.limitPrefix...)
	b = append(b, "0;t="...)
	b = strconv.AppendInt(b, secs, 10)
	ex.AddResponseHeader(headerRateLimit, b)
	ex.AddResponseHeader(headerRateLimitPolicy, f.policyHeader)
	ex.AppendDetailString(p.detail)
	return filters.Respond(reasonExceeded)
}

// addAllowedHeaders reports the policy closest to exhaustion: the fewest
// requests left, and on a tie the longest time until the quota is whole.
func (f *Filter) addAllowedHeaders(ex *filters.Exchange, rs *[MaxPolicies]Result) {
	best, left, reset := 0, int64(-1), time.Duration(0)
	for i := range f.policies {
		lim := f.policies[i].lim
		r, t := lim.Remaining(rs[i]), lim.Reset(rs[i])
		if left < 0 || r < left || r == left && t > reset {
			best, left, reset = i, r, t
		}
	}
	var buf [160]byte
	b := append(buf[:0], f.policies[best].limitPrefix...)
	b = strconv.AppendInt(b, left, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(reset), 10)
	ex.AddResponseHeader(headerRateLimit, b)
	ex.AddResponseHeader(headerRateLimitPolicy, f.policyHeader)
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// hash computes the policy's key for ex without allocating. Each
// component is hashed on its own with the limiter's random seed and folded
// in with its kind by a bijective mix, so component boundaries cannot be
// shifted to forge a collision. The matched route (never the raw path)
// scopes per-route policies, so case or trailing-slash variants of a URL
// cannot reset a counter.
func (p *policy) hash(ex *filters.Exchange) uint64 {
	seed := p.lim.seed
	acc := p.hashInit
	if p.perRoute {
		idx := -1
		if ex.Route != nil {
			idx = ex.Route.Index
		}
		acc = mix(acc, uint64(idx))
	}
	for i := range p.key {
		c := &p.key[i]
		var v []byte
		switch c.kind {
		case keyPrincipal:
			v = ex.Identity.Subject
		case keyTenant:
			v = ex.Identity.Tenant
		case keyCredential:
			v = ex.Identity.KeyID
		case keyMethod:
			v = ex.Method
		case keyHeader:
			v = ex.Header(c.arg)
		case keyParam:
			v = ex.Params.Get(c.arg)
		case keyClientIP:
			a := ex.ClientIP.Unmap()
			var ip [16]byte
			if a.Is4() {
				ip = a.As16() // IPv4: the whole address
			} else if a.IsValid() {
				ip = a.As16()
				for j := range ip {
					ip[j] &= p.v6mask[j]
				}
			}
			acc = mix(mix(acc, uint64(c.kind)), maphash.Bytes(seed, ip[:]))
			continue
		}
		acc = mix(mix(acc, uint64(c.kind)), maphash.Bytes(seed, v))
	}
	return fmix(acc)
}

// mix folds v into acc; for a fixed v it is a bijection of acc.
func mix(acc, v uint64) uint64 {
	return bits.RotateLeft64(acc^v, 31) * 0x9e3779b97f4a7c15
}

// fmix is MurmurHash3's 64-bit finalizer: every output bit depends on every
// input bit, so the shard, bucket and tag bits are independent.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
