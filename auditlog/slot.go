package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// slot carries one record from Append to its commit. Slots are reused,
// so a steady stream of appends allocates nothing.
type slot struct {
	rec      []byte // uvarint(len) ‖ leaf ‖ uvarint(len) ‖ side
	leafHash tlog.Hash
	start    int64
	idx      uint64
	err      error
	done     chan struct{}
	notify   func(idx uint64, err error) // AppendFunc's callback, instead of done
	sealer   *sealer
	leaf     []byte // 0x00 ‖ leaf
	c        commitments
}

// slotStack is the free list of slots. A slot is made the first time
// every existing one is in use, up to max (QueueSize), which bounds the
// records queued; after that steady appends allocate nothing, and memory
// follows the most records ever in flight rather than the bound. A mutex
// is held for a few instructions; it measured cheaper than a channel and,
// unlike a sync.Pool, never drops slots at a GC.
type slotStack struct {
	mu    sync.Mutex
	slots []*slot
	made  int
	max   int
}

func (st *slotStack) pop() *slot {
	st.mu.Lock()
	n := len(st.slots)
	if n == 0 {
		if st.made == st.max {
			st.mu.Unlock()
			return nil
		}
		st.made++
		st.mu.Unlock()
		return newSlot()
	}
	s := st.slots[n-1]
	st.slots = st.slots[:n-1]
	st.mu.Unlock()
	return s
}

func newSlot() *slot {
	return &slot{done: make(chan struct{}, 1), sealer: newSealer(), rec: make([]byte, 0, 256), leaf: make([]byte, 0, 256)}
}

func (st *slotStack) push(s *slot) {
	st.mu.Lock()
	st.slots = append(st.slots, s) // within capacity: only popped slots come back
	st.mu.Unlock()
}

// encode turns e into the slot's record bytes and leaf hash.
func (s *slot) encode(e *Entry, k *saltKeys) {
	s.sealer.commitments(&s.c, e, k)
	// s.leaf is 0x00 ‖ leaf: the RFC 6962 leaf hash input, hashed in one call.
	s.leaf = appendLeaf(append(s.leaf[:0], 0), e, &s.c)
	s.leafHash = sha256.Sum256(s.leaf)
	leaf := s.leaf[1:]
	s.rec = binary.AppendUvarint(s.rec[:0], uint64(len(leaf)))
	s.rec = append(s.rec, leaf...)
	sideAt := len(s.rec)
	s.rec = append(s.rec, 0, 0) // room for the side length (≤ 2 bytes)
	s.rec = s.sealer.appendSide(s.rec, e, k, &s.c)
	n := len(s.rec) - sideAt - 2
	var lb [2]byte
	m := binary.PutUvarint(lb[:], uint64(n))
	if m == 1 {
		s.rec[sideAt] = lb[0]
		copy(s.rec[sideAt+1:], s.rec[sideAt+2:])
		s.rec = s.rec[:len(s.rec)-1]
	} else {
		s.rec[sideAt], s.rec[sideAt+1] = lb[0], lb[1]
	}
	s.start = e.Start
	s.err = nil
}
