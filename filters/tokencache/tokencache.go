// Package tokencache is the bounded, lock-free cache authentication
// filters keep judged tokens in, so a repeat token costs two hashes and a
// few atomic loads instead of a signature check or a network round trip.
//
// It is a set-associative table of atomic pointers: a lookup takes no lock
// and writes nothing, so cores hammering one hot token do not contend on a
// cache line; each set of Ways slots acts as its own shard. It is bounded
// by construction (the table never grows). When a set is full the entry
// that expires first is replaced, so short-lived entries (negative
// results a flood of garbage tokens leaves behind) go before real
// clients'.
//
// Tokens are keyed by 128 bits of keyed hash (maphash, with per-cache
// random seeds), never by the token itself: the cache holds nothing that
// can be replayed, and an attacker who cannot learn the seeds cannot forge
// a token that collides with another client's.
package tokencache

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// Ways is the associativity of the table.
const Ways = 4

// Entry is what a cache stores: an immutable value that knows the token
// hashes it was stored under and when it expires (in whatever clock unit
// the caller passes to Put).
type Entry interface {
	Key() (h1, h2 uint64)
	Expiry() int64
}

// Cache holds *T entries. A slot is updated by storing a new entry, never
// by changing one in place.
type Cache[T any, P interface {
	*T
	Entry
}] struct {
	seed1, seed2 maphash.Seed
	mask         uint64 // number of sets - 1
	slots        []atomic.Pointer[T]
}

// New returns a cache of at least maxEntries slots (rounded up to a power
// of two), or nil when maxEntries is 0 or less.
func New[T any, P interface {
	*T
	Entry
}](maxEntries int) *Cache[T, P] {
	if maxEntries <= 0 {
		return nil
	}
	sets := (maxEntries + Ways - 1) / Ways
	n := uint64(1) << bits.Len64(uint64(sets-1))
	return &Cache[T, P]{
		seed1: maphash.MakeSeed(),
		seed2: maphash.MakeSeed(),
		mask:  n - 1,
		slots: make([]atomic.Pointer[T], n*Ways),
	}
}

// Hash returns the two independently seeded hashes of a raw token.
func (c *Cache[T, P]) Hash(raw []byte) (h1, h2 uint64) {
	return maphash.Bytes(c.seed1, raw), maphash.Bytes(c.seed2, raw)
}

func (c *Cache[T, P]) set(h1 uint64) []atomic.Pointer[T] {
	i := (h1 & c.mask) * Ways
	return c.slots[i : i+Ways : i+Ways]
}

// Get returns the entry for the token hashed to h1, h2, or nil. The
// caller checks its expiry.
func (c *Cache[T, P]) Get(h1, h2 uint64) *T {
	s := c.set(h1)
	for i := range s {
		if e := s[i].Load(); e != nil {
			if k1, k2 := P(e).Key(); k1 == h1 && k2 == h2 {
				return e
			}
		}
	}
	return nil
}

// Put stores e, replacing the same token, an empty or expired slot, or
// else the entry that expires first.
func (c *Cache[T, P]) Put(e *T, now int64) {
	h1, h2 := P(e).Key()
	s := c.set(h1)
	victim := 0
	var victimExpiry int64 = 1<<63 - 1
	for i := range s {
		old := s[i].Load()
		if old == nil {
			s[i].Store(e)
			return
		}
		o1, o2 := P(old).Key()
		exp := P(old).Expiry()
		if (o1 == h1 && o2 == h2) || exp <= now {
			s[i].Store(e)
			return
		}
		if exp < victimExpiry {
			victim, victimExpiry = i, exp
		}
	}
	s[victim].Store(e)
}

// Capacity returns the number of slots.
func (c *Cache[T, P]) Capacity() int { return len(c.slots) }

// Len counts the occupied slots (for tests and metrics).
func (c *Cache[T, P]) Len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
