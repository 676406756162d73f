package filters

import (
	"fmt"
	"sync"
)

// MaxRoles is the number of distinct role names one configuration can use;
// roles are bits of a RoleSet.
const MaxRoles = 64

// Roles is the table of role names of one configuration generation,
// shared by every filter compiled from it: authentication filters turn
// claimed role names into RoleSet bits with Lookup, authorization filters
// turn their rules into masks with Intern. It is filled while filters are
// constructed and only read afterwards.
type Roles struct {
	mu    sync.Mutex
	names []string
	index map[string]int
}

// NewRoles returns an empty role table.
func NewRoles() *Roles { return &Roles{index: make(map[string]int)} }

// Intern returns the bit index of name, adding it if new.
func (r *Roles) Intern(name string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.index[name]; ok {
		return i, nil
	}
	if len(r.names) == MaxRoles {
		return 0, fmt.Errorf("cannot add role %q: a configuration may use at most %d roles", name, MaxRoles)
	}
	r.index[name] = len(r.names)
	r.names = append(r.names, name)
	return len(r.names) - 1, nil
}

// Lookup returns the bit index of a known role. It does not allocate and is
// safe on the hot path once construction is over.
func (r *Roles) Lookup(name []byte) (int, bool) {
	i, ok := r.index[string(name)] // the compiler does not allocate for this lookup
	return i, ok
}

// Name returns the name of role bit i.
func (r *Roles) Name(i int) string {
	if i < 0 || i >= len(r.names) {
		return ""
	}
	return r.names[i]
}

// Names lists the roles in a set, for logs and the audit log.
func (r *Roles) Names(s RoleSet) []string {
	var out []string
	for i, n := range r.names {
		if s.Has(i) {
			out = append(out, n)
		}
	}
	return out
}
