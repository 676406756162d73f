package introspect

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/tollgate-proxy/tollgate/filters"
)

// cacheWays is the associativity of the result cache.
const cacheWays = 4

// principal is what an active token proved, ready to copy into an
// exchange. It is immutable once built.
type principal struct {
	subject     []byte
	tenant      []byte
	issuer      []byte
	keyID       []byte // token fingerprint: hex of the first bytes of SHA-256(token)
	rolesHeader []byte // recognised role names joined with ","
	roles       filters.RoleSet
}

// entry is one introspection outcome: an accepted principal (ref == nil)
// or a definitive refusal (inactive, expired, wrong audience …). It is
// immutable: a slot is updated by storing a new entry.
type entry struct {
	h1, h2   uint64 // two independently seeded hashes of the raw token
	deadline int64  // unix nanoseconds: the entry is good while now < deadline
	ref      *refusal
	p        principal // for a refusal, only keyID is set (the audit hint)
}

// resultCache remembers introspection outcomes so a repeat token costs two
// hashes and a few atomic loads instead of a round trip to the
// authorization server.
//
// It is a set-associative table of atomic pointers: a lookup takes no lock
// and writes nothing, so cores hammering one hot token do not contend on a
// cache line; each set of cacheWays slots is its own shard. It is bounded
// by construction (the table never grows). When a set is full the entry
// that expires first is replaced, so the short-lived negative entries a
// flood of garbage tokens leaves behind are evicted before the principals
// of real clients.
//
// Tokens are keyed by 128 bits of keyed hash (maphash, with per-filter
// random seeds), never by the token itself: the cache holds nothing that
// can be replayed, and an attacker who cannot learn the seeds cannot forge
// a token that collides with another client's.
type resultCache struct {
	seed1, seed2 maphash.Seed
	mask         uint64 // number of sets - 1
	slots        []atomic.Pointer[entry]
}

// newResultCache returns a cache of at least maxEntries slots (rounded up
// to a power of two), or nil when maxEntries is 0.
func newResultCache(maxEntries int) *resultCache {
	if maxEntries <= 0 {
		return nil
	}
	sets := (maxEntries + cacheWays - 1) / cacheWays
	n := uint64(1) << bits.Len64(uint64(sets-1))
	return &resultCache{
		seed1: maphash.MakeSeed(),
		seed2: maphash.MakeSeed(),
		mask:  n - 1,
		slots: make([]atomic.Pointer[entry], n*cacheWays),
	}
}

func (c *resultCache) hash(raw []byte) (uint64, uint64) {
	return maphash.Bytes(c.seed1, raw), maphash.Bytes(c.seed2, raw)
}

func (c *resultCache) set(h1 uint64) []atomic.Pointer[entry] {
	i := (h1 & c.mask) * cacheWays
	return c.slots[i : i+cacheWays : i+cacheWays]
}

// get returns the entry for the token hashed to h1, h2, or nil.
func (c *resultCache) get(h1, h2 uint64) *entry {
	s := c.set(h1)
	for i := range s {
		if e := s[i].Load(); e != nil && e.h1 == h1 && e.h2 == h2 {
			return e
		}
	}
	return nil
}

// put stores e, replacing the same token, an empty or expired slot, or
// else the entry that expires first.
func (c *resultCache) put(e *entry, now int64) {
	s := c.set(e.h1)
	victim := 0
	var victimDeadline int64 = 1<<63 - 1
	for i := range s {
		old := s[i].Load()
		if old == nil || (old.h1 == e.h1 && old.h2 == e.h2) || old.deadline <= now {
			s[i].Store(e)
			return
		}
		if old.deadline < victimDeadline {
			victim, victimDeadline = i, old.deadline
		}
	}
	s[victim].Store(e)
}

// capacity returns the number of slots.
func (c *resultCache) capacity() int { return len(c.slots) }

// len counts the occupied slots (for tests).
func (c *resultCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
