package insight

import (
	"net/netip"
	"sync/atomic"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// Sizes of the fixed copies a record keeps of an entry's byte fields.
// Longer values are cut for display; principals and routes are keyed by a
// hash of the whole value, so cutting never merges two of them.
const (
	capPrincipal = 64
	capRoute     = 64
	capMethod    = 8
	capReason    = 32
)

// record is the fixed-size copy of one auditlog.Entry that crosses from the
// request goroutine to the aggregator.
type record struct {
	end, dur     int64 // completion time (Unix ns) and duration (ns)
	phash, rhash uint64
	ip           netip.Addr
	status       uint16
	decision     auditlog.Decision
	unverified   bool
	routeIsPath  bool // no route matched: route holds the path
	plen, rlen   uint8
	mlen, rslen  uint8
	ptrunc       bool
	principal    [capPrincipal]byte
	route        [capRoute]byte
	method       [capMethod]byte
	reason       [capReason]byte
}

func (r *record) principalBytes() []byte { return r.principal[:r.plen] }
func (r *record) routeBytes() []byte     { return r.route[:r.rlen] }

// slot is one cell of the queue. seq is the cell's turn: pos when free
// for the producer at pos, pos+1 once that producer has published.
type slot struct {
	seq atomic.Uint64
	r   record
}

// queue is a bounded multi-producer, single-consumer ring after Dmitry
// Vyukov's bounded MPMC queue: producers claim a position with one CAS and
// publish through the slot's sequence number, so a producer never waits for
// another one and never waits for the consumer. A full queue refuses.
type queue struct {
	_     [64]byte
	head  atomic.Uint64 // next position to claim (producers)
	_     [56]byte
	tail  atomic.Uint64 // next position to read (written by the consumer only)
	mask  uint64
	slots []slot
}

func newQueue(size int) *queue {
	q := &queue{mask: uint64(size - 1), slots: make([]slot, size)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// claim reserves a slot for writing. It returns nil when the queue is full.
func (q *queue) claim() (*slot, uint64) {
	pos := q.head.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				return s, pos
			}
			pos = q.head.Load()
		case d < 0:
			return nil, 0 // the consumer has not freed this cell: full
		default:
			pos = q.head.Load() // another producer took pos
		}
	}
}

// publish makes the slot claimed at pos visible to the consumer.
func (q *queue) publish(s *slot, pos uint64) { s.seq.Store(pos + 1) }

// next returns the oldest published record, or nil when none is ready.
// The record is valid until release is called. Only the consumer calls it.
func (q *queue) next() *record {
	t := q.tail.Load()
	s := &q.slots[t&q.mask]
	if s.seq.Load() != t+1 {
		return nil
	}
	return &s.r
}

// release frees the record returned by next.
func (q *queue) release() {
	t := q.tail.Load()
	s := &q.slots[t&q.mask]
	s.seq.Store(t + q.mask + 1)
	q.tail.Store(t + 1)
}
