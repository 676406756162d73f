package auditlog

import (
	"runtime"
	"sync/atomic"
)

// ring hands slots from many callers to whoever commits them (see
// commit.go). It replaces a channel because a channel send takes a lock
// that every request contends for; here a caller claims a cell with one
// atomic add and publishes its slot with one atomic store.
//
// The ring never overflows: there are at most capacity slots (Log's free
// list), and a cell is reused only after its slot has been taken.
type ring struct {
	cells []atomic.Pointer[slot]
	mask  uint64
	tail  atomic.Uint64 // next cell a caller claims
	// head is the next cell to take. Only the holder of Log.seqMu moves
	// it; others read it to see whether anything is waiting.
	head atomic.Uint64
}

// newRing returns a ring of at least n cells.
func newRing(n int) *ring {
	size := 1
	for size < n {
		size <<= 1
	}
	return &ring{cells: make([]atomic.Pointer[slot], size), mask: uint64(size - 1)}
}

// push publishes s. The caller must hold one of at most len(cells) slots.
func (r *ring) push(s *slot) {
	pos := r.tail.Add(1) - 1
	r.cells[pos&r.mask].Store(s)
}

// len returns how many slots are claimed but not yet taken.
func (r *ring) len() int { return int(r.tail.Load() - r.head.Load()) }

// pop takes the next slot, or returns nil when the ring is empty. A cell
// that is claimed but not yet stored is waited for: its caller is between
// two instructions. Only the holder of Log.seqMu pops.
func (r *ring) pop() *slot {
	h := r.head.Load()
	if r.tail.Load() == h {
		return nil
	}
	c := &r.cells[h&r.mask]
	s := c.Load()
	for s == nil {
		runtime.Gosched()
		s = c.Load()
	}
	c.Store(nil)
	r.head.Store(h + 1)
	return s
}
