package jwtauth

import (
	"github.com/tollgate-proxy/tollgate/filters"
)

// principal is what a verified token proved, ready to copy into an
// exchange. It is immutable once built.
type principal struct {
	subject     []byte
	tenant      []byte
	issuer      []byte
	kid         []byte
	rolesHeader []byte // role names joined with ","
	roles       filters.RoleSet
	scopes      filters.RoleSet // bits of the configuration's scope table
}

// cacheEntry is one verified token in the filter's tokencache. It is
// immutable: a slot is updated by storing a new entry. Besides expiring, an
// entry stops counting when the issuer's key set drops the key that
// verified it (epoch).
type cacheEntry struct {
	h1, h2   uint64 // two independently seeded hashes of the raw token
	deadline int64  // unix seconds: the entry is good while now < deadline
	epoch    uint64 // the issuer's key set epoch at verification time
	issuer   int
	p        principal
}

// Key implements tokencache.Entry.
func (e *cacheEntry) Key() (uint64, uint64) { return e.h1, e.h2 }

// Expiry implements tokencache.Entry.
func (e *cacheEntry) Expiry() int64 { return e.deadline }
