package jwtauth

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/tollgate-proxy/tollgate/filters"
)

// cacheWays is the associativity of the verified-token cache.
const cacheWays = 4

// principal is what a verified token proved, ready to copy into an
// exchange. It is immutable once built.
type principal struct {
	subject     []byte
	tenant      []byte
	issuer      []byte
	kid         []byte
	rolesHeader []byte // role names joined with ","
	roles       filters.RoleSet
}

// cacheEntry is one verified token. It is immutable: a slot is updated by
// storing a new entry.
type cacheEntry struct {
	h1, h2   uint64 // two independently seeded hashes of the raw token
	deadline int64  // unix seconds: the entry is good while now < deadline
	epoch    uint64 // the issuer's key set epoch at verification time
	issuer   int
	p        principal
}

// tokenCache remembers verified tokens so a repeat token costs two hashes
// and a few atomic loads instead of a signature verification.
//
// It is a set-associative table of atomic pointers: a lookup takes no lock
// and writes nothing, so cores hammering one hot token do not contend on a
// cache line; each set of cacheWays slots acts as its own shard. It is
// bounded by construction (the table never grows), and entries leave when
// they expire, when their slot is reused, or when the issuer's key set
// drops the key that verified them (epoch).
//
// Tokens are keyed by 128 bits of keyed hash (maphash, with per-filter
// random seeds), never by the token itself; an attacker cannot compute
// the seeds offline, so forging a colliding token is out of reach.
type tokenCache struct {
	seed1, seed2 maphash.Seed
	mask         uint64 // number of sets - 1
	slots        []atomic.Pointer[cacheEntry]
}

// newTokenCache returns a cache of at least maxEntries slots (rounded up
// to a power of two), or nil when maxEntries is 0.
func newTokenCache(maxEntries int) *tokenCache {
	if maxEntries <= 0 {
		return nil
	}
	sets := (maxEntries + cacheWays - 1) / cacheWays
	n := uint64(1) << bits.Len64(uint64(sets-1))
	return &tokenCache{
		seed1: maphash.MakeSeed(),
		seed2: maphash.MakeSeed(),
		mask:  n - 1,
		slots: make([]atomic.Pointer[cacheEntry], n*cacheWays),
	}
}

func (c *tokenCache) hash(raw []byte) (uint64, uint64) {
	return maphash.Bytes(c.seed1, raw), maphash.Bytes(c.seed2, raw)
}

func (c *tokenCache) set(h1 uint64) []atomic.Pointer[cacheEntry] {
	i := (h1 & c.mask) * cacheWays
	return c.slots[i : i+cacheWays : i+cacheWays]
}

// get returns the entry for the token hashed to h1, h2, or nil.
func (c *tokenCache) get(h1, h2 uint64) *cacheEntry {
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
func (c *tokenCache) put(e *cacheEntry, now int64) {
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

// len counts the occupied slots (for tests and metrics).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
