package ratelimit

import (
	"sync"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/ratelimit/redisstore"
)

// Lease mode: each instance spends batches of the shared budget locally.

const (
	refillWorkers = 2
	refillQueue   = 1024
	leaseShards   = 32
)

// leaseTable holds, per key, the requests this instance has leased from
// the shared budget. It is bounded like the local table (max_keys keys);
// when a shard is full, expired leases go first, then any one.
type leaseTable struct {
	shards   [leaseShards]leaseShard
	perShard int
}

type leaseShard struct {
	mu sync.Mutex
	m  map[uint64]*lease
	_  [cacheLine - 16]byte
}

type lease struct {
	tokens    int64 // leased requests left
	expires   int64 // µs: leased requests are dropped then
	tat       int64 // the key's TAT at the last grant, µs on the local clock
	refusedAt int64 // µs: Redis refused until here (TAT + T − τ); 0 when not
	refilling bool  // a refill is queued or in flight
}

func newLeaseTable(maxKeys int) *leaseTable {
	t := &leaseTable{perShard: max(maxKeys/leaseShards, 8)}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*lease)
	}
	return t
}

func (t *leaseTable) shard(h uint64) *leaseShard { return &t.shards[h%leaseShards] }

// get returns h's lease, making room for it; the caller holds s.mu.
func (s *leaseShard) get(h uint64, now int64, limit int) *lease {
	if l := s.m[h]; l != nil {
		return l
	}
	if len(s.m) >= limit {
		for k, l := range s.m {
			if l.expires <= now && !l.refilling {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < limit {
				break
			}
			delete(s.m, k) // its leased requests are lost: never more admitted
		}
	}
	l := &lease{}
	s.m[h] = l
	return l
}

func (t *leaseTable) giveBack(h uint64) {
	s := t.shard(h)
	s.mu.Lock()
	if l := s.m[h]; l != nil {
		l.tokens++
	}
	s.mu.Unlock()
}

// takeLease spends one leased request of the key, or leases a batch from
// Redis when none is left (one round trip), or refuses locally while the
// last refusal from Redis still holds. A lease that falls to its low-water
// mark is refilled ahead by a worker, so most requests never wait.
func (f *Filter) takeLease(ex *filters.Exchange, p *policy, h uint64, now int64) (Result, error) {
	if r, ok := f.spendLease(ex, p, h, now, true); ok {
		return r, nil
	}
	// Slow path: lease a batch now.
	sh := p.shared
	s := sh.leases.shard(h)
	sh.waits.Inc()
	rep, err := f.call(p, p.storeKey(ex), sh.leaseSize)
	if err != nil {
		return Result{}, err
	}
	now = f.clock()
	r := Result{Allowed: rep.Granted > 0, TAT: now + rep.TATAfter, Now: now}
	s.mu.Lock()
	l := s.get(h, now, sh.leases.perShard)
	excess := f.merge(p, l, rep, now)
	if r.Allowed {
		l.tokens-- // this request's
	}
	s.mu.Unlock()
	if excess > 0 {
		f.queue(refill{p: p, h: h, key: p.storeKey(ex), n: -excess})
	}
	return r, nil
}

// spendLease is takeLease's fast path: it spends one leased request of the
// key, or refuses while the last refusal from Redis holds, and reports
// false when neither applies (a batch must be leased). With create unset
// (TryHandle) it leaves the table as it found it for a key it does not
// hold.
func (f *Filter) spendLease(ex *filters.Exchange, p *policy, h uint64, now int64, create bool) (Result, bool) {
	sh := p.shared
	s := sh.leases.shard(h)
	s.mu.Lock()
	var l *lease
	if create {
		l = s.get(h, now, sh.leases.perShard)
	} else if l = s.m[h]; l == nil {
		s.mu.Unlock()
		return Result{}, false
	}
	if l.tokens > 0 && now >= l.expires {
		l.tokens = 0 // expired leased requests are dropped: the bound holds
	}
	if l.tokens > 0 {
		// Fast path: a leased request.
		l.tokens--
		r := Result{Allowed: true, TAT: max(l.tat, now), Now: now}
		prefetch := l.tokens <= sh.lowWater && !l.refilling
		if prefetch {
			l.refilling = true
		}
		s.mu.Unlock()
		if prefetch {
			f.prefetch(p, h, p.storeKey(ex))
		}
		return r, true
	}
	if now < l.refusedAt {
		r := Result{TAT: l.tat, Now: now}
		s.mu.Unlock()
		return r, true
	}
	s.mu.Unlock()
	return Result{}, false
}

// merge adds a grant to a lease; the caller holds the shard's lock. A
// lease never holds more than leaseSize + lowWater requests (the bound in
// the README counts on it): what a grant brings past that (a refill racing
// a synchronous lease) is returned as excess, for the caller to give back
// to Redis.
func (f *Filter) merge(p *policy, l *lease, rep redisstore.Reply, now int64) (excess int64) {
	sh := p.shared
	l.tat = now + rep.TATAfter
	if rep.Granted == 0 {
		l.refusedAt = l.tat + p.lim.interval - p.lim.tolerance
		return 0
	}
	l.refusedAt = 0
	if now >= l.expires {
		l.tokens = 0
	}
	l.tokens += rep.Granted
	if limit := sh.leaseSize + sh.lowWater; l.tokens > limit {
		excess, l.tokens = l.tokens-limit, limit
	}
	l.expires = now + sh.leaseTTL
	return excess
}

// refill is one queued lease refill (n > 0) or give-back (n < 0). key is
// the Redis key (a copy; the exchange is gone when the worker runs).
type refill struct {
	p   *policy
	h   uint64
	key string
	n   int64
}

// queue queues a job; it reports false when the queue is full.
func (f *Filter) queue(job refill) bool {
	f.pending.Add(1)
	select {
	case f.refills <- job:
		return true
	default:
		f.pending.Add(-1)
		return false
	}
}

// prefetch queues a refill; when the queue is full the lease simply runs
// dry and the next request leases synchronously.
func (f *Filter) prefetch(p *policy, h uint64, key string) {
	if !f.queue(refill{p: p, h: h, key: key, n: p.shared.leaseSize}) {
		s := p.shared.leases.shard(h)
		s.mu.Lock()
		if l := s.m[h]; l != nil {
			l.refilling = false
		}
		s.mu.Unlock()
	}
}

// refillLoop runs refills until Close.
func (f *Filter) refillLoop() {
	defer f.workers.Done()
	for {
		select {
		case <-f.stop:
			return
		case job := <-f.refills:
			f.runRefill(job)
			f.pending.Add(-1) // after runRefill queued any give-back
		}
	}
}

// runRefill runs one queued job: a refill merges its grant into the
// lease (and queues back what the lease cannot hold); a give-back is best
// effort.
func (f *Filter) runRefill(job refill) {
	rep, err := f.call(job.p, job.key, job.n)
	if job.n < 0 {
		return
	}
	now := f.clock()
	var excess int64
	s := job.p.shared.leases.shard(job.h)
	s.mu.Lock()
	if l := s.m[job.h]; l != nil {
		l.refilling = false
		if err == nil {
			excess = f.merge(job.p, l, rep, now)
		}
	} else if err == nil {
		excess = rep.Granted // the lease was evicted meanwhile
	}
	s.mu.Unlock()
	if excess > 0 {
		f.queue(refill{p: job.p, h: job.h, key: job.key, n: -excess})
	}
}
