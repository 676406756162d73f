package ratelimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync/atomic"
	"time"
)

// Table layout. Every key owns one 64-bit word: the top tagBits bits are a
// fingerprint of the key's hash, the low tatBits bits its theoretical
// arrival time (TAT) in microseconds since the limiter was built. Because
// identity and state share one word, a single compare-and-swap both checks
// that the slot still belongs to the key and advances its TAT: there is no
// mutex, and no window in which one key's update could land on another's
// slot.
//
// 48 bits of microseconds span 8.9 years: a limiter (one config
// generation) that lives longer than that stops admitting. Microseconds
// bound the rate of one key to 1,000,000 requests per second.
const (
	tagBits     = 16
	tatBits     = 64 - tagBits
	tatMask     = 1<<tatBits - 1
	bucketSlots = 8 // one 64-byte cache line of words
	shardBits   = 6
	maxShards   = 1 << shardBits
	cacheLine   = 64

	// maxTolerance bounds burst×interval, so TAT arithmetic never overflows
	// the 48-bit field within the limiter's lifetime.
	maxTolerance = 1 << 46 // µs, about 2.2 years

	// MinKeys and MaxKeys bound a limiter's capacity.
	MinKeys = bucketSlots * maxShards
	MaxKeys = 1 << 24
)

// Limiter is one policy of the generic cell rate algorithm (GCRA, ITU-T
// I.371: a token bucket expressed as one theoretical arrival time per key)
// over a bounded, sharded table of keys. It is safe for concurrent use;
// Take never blocks, allocates or takes a lock.
//
// Within its bucket a key is told apart by a 16-bit fingerprint of its
// hash: a new key that meets a live key with the same fingerprint is
// judged on that key's state (about 8 in 65,536 lookups in a full bucket;
// the seed is random per limiter, so clients cannot arrange it).
//
// Eviction policy: a key lives in one 8-slot bucket chosen by its hash. A
// new key takes, in order of preference, an empty slot, then the slot whose
// TAT is furthest in the past. A slot whose TAT is not after now holds no
// information (its key has its whole burst back, exactly like a key never
// seen), so reusing it is lossless and is not counted. Only when every slot
// of the bucket is still live is one overwritten — the one whose TAT ends
// first, which loses the least — and that is counted in Evicted: it is the
// key cap biting, and the evicted key gets a fresh burst when it returns.
type Limiter struct {
	interval  int64 // T: µs of quota one request consumes
	tolerance int64 // τ = burst×T, µs
	burst     int64
	seed      maphash.Seed

	shards     []shard
	shardMask  uint64
	bucketMask uint64
	capacity   int
}

type shard struct {
	buckets []atomic.Uint64 // bucketSlots words per bucket, 64-byte aligned
	_       [cacheLine - 24]byte
	evicted atomic.Uint64
	limited atomic.Uint64
	_       [cacheLine - 16]byte
}

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Rate is the number of requests admitted per Per, on average.
	Rate int64
	// Per is the period Rate is counted over.
	Per time.Duration
	// Burst is the number of requests a key that has been idle can make at
	// once; at least 1.
	Burst int64
	// MaxKeys bounds the number of keys tracked, rounded up to a power of
	// two between MinKeys and MaxKeys.
	MaxKeys int
}

// Errors returned by NewLimiter.
var (
	ErrBadRate  = errors.New("ratelimit: rate and period must be positive")
	ErrTooFast  = errors.New("ratelimit: rate exceeds one request per microsecond per key")
	ErrTooLarge = errors.New("ratelimit: burst × period / rate exceeds two years")
	ErrBadBurst = errors.New("ratelimit: burst must be at least 1")
	ErrBadKeys  = errors.New("ratelimit: max_keys out of range")
)

// NewLimiter builds a limiter and allocates its whole table: memory is
// fixed from here on (8 bytes per key slot).
func NewLimiter(c LimiterConfig) (*Limiter, error) {
	if c.Rate <= 0 || c.Per <= 0 {
		return nil, ErrBadRate
	}
	if c.Burst < 1 {
		return nil, ErrBadBurst
	}
	if c.MaxKeys < 0 || c.MaxKeys > MaxKeys {
		return nil, fmt.Errorf("cannot size table for %d keys: %w (at most %d)", c.MaxKeys, ErrBadKeys, MaxKeys)
	}
	per := c.Per.Microseconds()
	interval := per / c.Rate
	if interval < 1 {
		return nil, ErrTooFast
	}
	hi, tol := bits.Mul64(uint64(c.Burst), uint64(interval))
	if hi != 0 || tol > maxTolerance {
		return nil, ErrTooLarge
	}
	n := max(c.MaxKeys, MinKeys)
	n = 1 << bits.Len(uint(n-1)) // next power of two
	l := &Limiter{
		interval:  interval,
		tolerance: int64(tol),
		burst:     c.Burst,
		seed:      maphash.MakeSeed(),
		capacity:  n,
	}
	nShards := maxShards
	bucketsPerShard := n / bucketSlots / nShards
	l.shards = make([]shard, nShards)
	l.shardMask = uint64(nShards - 1)
	l.bucketMask = uint64(bucketsPerShard - 1)
	// One backing array for every shard, padded so each bucket starts on a
	// cache line.
	words := make([]atomic.Uint64, n+bucketSlots)
	start := alignOffset(words)
	per1 := bucketsPerShard * bucketSlots
	for i := range l.shards {
		off := start + i*per1
		l.shards[i].buckets = words[off : off+per1 : off+per1]
	}
	return l, nil
}

// Capacity returns the number of key slots.
func (l *Limiter) Capacity() int { return l.capacity }

// Interval returns the quota one request consumes, T.
func (l *Limiter) Interval() time.Duration { return time.Duration(l.interval) * time.Microsecond }

// Burst returns the burst size.
func (l *Limiter) Burst() int64 { return l.burst }

// Tolerance returns τ = burst × T: the time an exhausted key takes to get
// its whole burst back, and the longest Reset can be.
func (l *Limiter) Tolerance() time.Duration { return time.Duration(l.tolerance) * time.Microsecond }

// HashKey hashes key with the limiter's seed. The seed is random per
// limiter, so clients cannot aim keys at each other's slots.
func (l *Limiter) HashKey(key []byte) uint64 { return maphash.Bytes(l.seed, key) }

// Result is the outcome of Take.
type Result struct {
	// Allowed reports whether the request is admitted.
	Allowed bool
	// TAT is the key's theoretical arrival time after the decision, in
	// microseconds on the limiter's clock.
	TAT int64
	// Now is the time the decision was made at, on the same clock.
	Now int64
}

// Remaining returns how many more requests the key could make at once.
func (l *Limiter) Remaining(r Result) int64 {
	if !r.Allowed {
		return 0
	}
	return (l.tolerance - (r.TAT - r.Now)) / l.interval
}

// RetryAfter returns, for a refusal, the time until a request would be
// admitted (always positive); 0 for an admission.
func (l *Limiter) RetryAfter(r Result) time.Duration {
	if r.Allowed {
		return 0
	}
	return time.Duration(r.TAT+l.interval-l.tolerance-r.Now) * time.Microsecond
}

// Reset returns the time until the key has its whole burst back.
func (l *Limiter) Reset(r Result) time.Duration {
	return time.Duration(max(r.TAT-r.Now, 0)) * time.Microsecond
}

func tagOf(h uint64) uint64 {
	t := h >> tatBits
	if t == 0 {
		t = 1 // 0 marks an empty slot
	}
	return t << tatBits
}

func (l *Limiter) locate(h uint64) (*shard, []atomic.Uint64) {
	sh := &l.shards[h&l.shardMask]
	b := ((h >> shardBits) & l.bucketMask) * bucketSlots
	return sh, sh.buckets[b : b+bucketSlots : b+bucketSlots]
}

// Take decides one request for the key hashed to h at time now
// (microseconds on the limiter's clock, never decreasing by more than
// scheduling jitter). When commit is false it only reports what it would
// decide and changes nothing. A refusal never consumes quota.
func (l *Limiter) Take(h uint64, now int64, commit bool) Result {
	sh, b := l.locate(h)
	tagged := tagOf(h)
scan:
	for {
		// Fast path: the key holds a slot.
		victim, victimTAT := -1, int64(-1)
		var victimWord uint64
		for i := range b {
			w := b[i].Load()
			if w&^tatMask == tagged {
				if r, ok := l.update(&b[i], w, tagged, now, commit); ok {
					return r
				}
				continue scan // the slot was taken over under us
			}
			tat := int64(w & tatMask)
			if w == 0 {
				tat = -1
			}
			if victim < 0 || tat < victimTAT {
				victim, victimTAT, victimWord = i, tat, w
			}
		}
		// Slow path: a key not seen (or forgotten).
		if r, ok := l.insert(sh, &b[victim], victimWord, victimTAT, tagged, now, commit); ok {
			return r
		}
	}
}

// update runs the GCRA step on a slot the key owns. ok is false when the
// slot changed owner before the CAS succeeded.
func (l *Limiter) update(slot *atomic.Uint64, w, tagged uint64, now int64, commit bool) (Result, bool) {
	for {
		tat := int64(w & tatMask)
		next := max(tat, now) + l.interval
		if next-now > l.tolerance {
			return Result{TAT: tat, Now: now}, true
		}
		if !commit || slot.CompareAndSwap(w, tagged|uint64(next)) {
			return Result{Allowed: true, TAT: next, Now: now}, true
		}
		w = slot.Load()
		if w&^tatMask != tagged {
			return Result{}, false
		}
	}
}

// insert gives a slot to a key that has none. A fresh key always fits its
// first request (burst ≥ 1).
func (l *Limiter) insert(sh *shard, slot *atomic.Uint64, old uint64, oldTAT int64, tagged uint64, now int64, commit bool) (Result, bool) {
	next := now + l.interval
	if !commit {
		return Result{Allowed: true, TAT: next, Now: now}, true
	}
	if !slot.CompareAndSwap(old, tagged|uint64(next)) {
		return Result{}, false
	}
	if oldTAT > now {
		sh.evicted.Add(1) // a live key lost its state: the cap bites
	}
	return Result{Allowed: true, TAT: next, Now: now}, true
}

// Refund gives back one request's quota to the key hashed to h, undoing a
// committed Take when a later policy refused the request. It does nothing
// if the key lost its slot meanwhile.
func (l *Limiter) Refund(h uint64) {
	_, b := l.locate(h)
	tagged := tagOf(h)
	for i := range b {
		w := b[i].Load()
		for w&^tatMask == tagged {
			tat := max(int64(w&tatMask)-l.interval, 0)
			if b[i].CompareAndSwap(w, tagged|uint64(tat)) {
				return
			}
			w = b[i].Load()
		}
	}
}

// countLimited records a refusal decided by this limiter, on the key's
// shard so refusals of different keys do not contend.
func (l *Limiter) countLimited(h uint64) { l.shards[h&l.shardMask].limited.Add(1) }

// LimiterStats is a snapshot of a limiter's counters.
type LimiterStats struct {
	// Capacity is the number of key slots.
	Capacity int
	// Live is the number of keys whose state still matters (TAT after
	// now); computed by scanning the table.
	Live int
	// Evicted counts live keys overwritten because their bucket was full.
	Evicted uint64
	// Limited counts refusals decided by this limiter.
	Limited uint64
}

// Stats scans the table (O(capacity): call it from a metrics scrape, not
// per request) and sums the counters.
func (l *Limiter) Stats(now int64) LimiterStats {
	return LimiterStats{Capacity: l.capacity, Live: l.Live(now), Evicted: l.Evicted(), Limited: l.Limited()}
}

// Live counts the keys whose TAT is after now, by scanning the table.
func (l *Limiter) Live(now int64) int {
	n := 0
	for i := range l.shards {
		b := l.shards[i].buckets
		for j := range b {
			if w := b[j].Load(); w != 0 && int64(w&tatMask) > now {
				n++
			}
		}
	}
	return n
}

// Evicted returns the number of live keys overwritten because their bucket
// was full.
func (l *Limiter) Evicted() uint64 {
	var n uint64
	for i := range l.shards {
		n += l.shards[i].evicted.Load()
	}
	return n
}

// Limited returns the number of refusals decided by this limiter.
func (l *Limiter) Limited() uint64 {
	var n uint64
	for i := range l.shards {
		n += l.shards[i].limited.Load()
	}
	return n
}
