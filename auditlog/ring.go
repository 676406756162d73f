package auditlog

import (
	"runtime"
	"sync/atomic"
)

// ring hands slots from many callers to the one sequencer. It replaces a
// channel because a channel send takes a lock that every request contends
// for; here a caller claims a cell with one atomic add and publishes its
// slot with one atomic store, and wakes the sequencer only when it sleeps.
//
// The ring never overflows: there are at most capacity slots (Log's free
// list), and a cell is reused only after the sequencer has taken the slot
// in it.
type ring struct {
	cells []atomic.Pointer[slot]
	mask  uint64
	tail  atomic.Uint64 // next cell a caller claims
	head  uint64        // next cell the sequencer reads; sequencer only

	sleeping atomic.Bool
	wake     chan struct{} // capacity 1: at most one wake-up in flight
}

// newRing returns a ring of at least n cells.
func newRing(n int) *ring {
	size := 1
	for size < n {
		size <<= 1
	}
	return &ring{cells: make([]atomic.Pointer[slot], size), mask: uint64(size - 1), wake: make(chan struct{}, 1)}
}

// push publishes s. The caller must hold one of at most len(cells) slots.
func (r *ring) push(s *slot) {
	pos := r.tail.Add(1) - 1
	r.cells[pos&r.mask].Store(s)
	if r.sleeping.Load() && r.sleeping.CompareAndSwap(true, false) {
		r.wake <- struct{}{}
	}
}

// len returns how many slots are claimed but not yet taken.
func (r *ring) len() int { return int(r.tail.Load() - r.head) }

// pop takes the next slot, or returns nil when the ring is empty. A cell
// that is claimed but not yet stored is waited for: its caller is between
// two instructions.
func (r *ring) pop() *slot {
	if r.tail.Load() == r.head {
		return nil
	}
	c := &r.cells[r.head&r.mask]
	s := c.Load()
	for s == nil {
		runtime.Gosched()
		s = c.Load()
	}
	c.Store(nil)
	r.head++
	return s
}

// sleep prepares the sequencer to wait on r.wake. It returns false when a
// slot arrived meanwhile, in which case the sequencer must not wait.
func (r *ring) sleep() bool {
	r.sleeping.Store(true)
	if r.tail.Load() == r.head {
		return true
	}
	r.awake()
	return false
}

// awake ends a sleep that did not end through r.wake: it withdraws the
// sleeping flag or, if a caller already took it, consumes that caller's
// wake-up so the next sleep starts clean.
func (r *ring) awake() {
	if !r.sleeping.CompareAndSwap(true, false) {
		<-r.wake
	}
}
