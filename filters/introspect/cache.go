package introspect

import (
	"github.com/tollgate-proxy/tollgate/filters"
)

// principal is what an active token proved, ready to copy into an
// exchange. It is immutable once built.
type principal struct {
	subject     []byte
	tenant      []byte
	issuer      []byte
	keyID       []byte // token fingerprint: hex of the first bytes of SHA-256(token)
	rolesHeader []byte // recognised role names joined with ","
	roles       filters.RoleSet
	scopes      filters.RoleSet // bits of the configuration's scope table
}

// entry is one introspection outcome: an accepted principal (ref == nil)
// or a definitive refusal (inactive, expired, wrong audience …). It is
// immutable: a slot is updated by storing a new entry.
type entry struct {
	h1, h2   uint64 // two independently seeded hashes of the raw token
	deadline int64  // unix nanoseconds: the entry is good while now < deadline
	ref      *refusal
	detail   string    // problem detail of a refusal, or ""
	p        principal // for a refusal, only keyID is set (the audit hint)
}

// Key implements tokencache.Entry.
func (e *entry) Key() (uint64, uint64) { return e.h1, e.h2 }

// Expiry implements tokencache.Entry.
func (e *entry) Expiry() int64 { return e.deadline }
