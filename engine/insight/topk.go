package insight

import (
	"slices"
	"strings"
	"time"
)

// Dimensions the top lists are kept for.
const (
	dimEndpoint = iota
	dimPrincipal
	dimIP
	numDims
)

var dimNames = [numDims]string{"endpoints", "principals", "ips"}

const nameCap = 64

// item is the detail of one Space-Saving counter.
type item struct {
	over   uint32 // count of the evicted item this counter took over
	errors uint32 // errors seen since key took this counter
	nlen   uint8
	name   [nameCap]byte
	lat    hist // latencies seen since key took this counter
}

// summary is a Space-Saving heavy-hitter summary (Metwally, Agrawal and
// El Abbadi, 2005) with a fixed number of counters. Keys and counts are kept
// in dense arrays: a small open-addressing index (linear probing, at most
// half full, backward-shift deletion) finds a key, and the smallest count is
// found by scanning the counts, which for up to a few hundred counters stays
// within a few cache lines.
type summary struct {
	keys   []uint64
	counts []uint32
	items  []item
	index  []uint16 // counter position + 1; 0 is free
	mask   uint64
}

func newSummary(capacity int) summary {
	n := 2
	for n < 2*capacity {
		n <<= 1
	}
	return summary{keys: make([]uint64, 0, capacity), counts: make([]uint32, capacity), items: make([]item, capacity),
		index: make([]uint16, n), mask: uint64(n - 1)}
}

func (s *summary) reset() {
	s.keys = s.keys[:0]
	clear(s.index)
}

// slotOf returns the index slot holding key, or the free slot where it
// would go.
func (s *summary) slotOf(key uint64) (uint64, bool) {
	for i := key & s.mask; ; i = (i + 1) & s.mask {
		v := s.index[i]
		if v == 0 {
			return i, false
		}
		if s.keys[v-1] == key {
			return i, true
		}
	}
}

// unindex removes the index slot i, shifting later entries of its probe run
// back so every key stays reachable from its home slot.
func (s *summary) unindex(i uint64) {
	for j := (i + 1) & s.mask; s.index[j] != 0; j = (j + 1) & s.mask {
		home := s.keys[s.index[j]-1] & s.mask
		// Move j's entry to i when its home does not lie in (i, j], cyclically.
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.index[i] = s.index[j]
			i = j
		}
	}
	s.index[i] = 0
}

// add counts one request for key. name is copied when key takes a counter.
func (s *summary) add(key uint64, name []byte, isErr bool, bucket int) {
	i, ok := s.slotOf(key)
	if ok {
		n := s.index[i] - 1
		s.counts[n]++
		it := &s.items[n]
		if isErr {
			it.errors++
		}
		it.lat[bucket]++
		return
	}
	s.take(i, key, name, isErr, bucket)
}

// take gives key a free counter or, when none is free, the counter with the
// smallest count, which key inherits as its over-estimate (Space-Saving).
// free is key's free index slot.
func (s *summary) take(free, key uint64, name []byte, isErr bool, bucket int) {
	var n int
	var c uint32
	if n = len(s.keys); n < cap(s.keys) {
		s.keys = append(s.keys, key)
	} else {
		n = 0
		for i, v := range s.counts {
			if v < s.counts[n] {
				n = i
			}
		}
		c = s.counts[n]
		old, _ := s.slotOf(s.keys[n])
		s.unindex(old)
		s.keys[n] = key
		free, _ = s.slotOf(key)
	}
	s.index[free] = uint16(n + 1)
	s.counts[n] = c + 1
	it := &s.items[n]
	it.over, it.errors = c, 0
	if isErr {
		it.errors = 1
	}
	it.lat = hist{}
	it.lat[bucket] = 1
	it.nlen = uint8(copy(it.name[:], name))
}

// pane is one slice of a window: a summary per dimension for the requests
// that completed in one pane-length of time.
type pane struct {
	epoch int64 // completion time / pane length; panes of other epochs are stale
	dims  [numDims]summary
}

// window is a sliding window made of panesPerWindow+1 panes: the panes that
// overlap [now-length, now]. It therefore covers between length and
// length·(1+1/panesPerWindow) of history.
type window struct {
	length time.Duration
	paneNs int64
	panes  []pane
}

const panesPerWindow = 12

func newWindow(length time.Duration, capacity int) window {
	w := window{length: length, paneNs: int64(length) / panesPerWindow, panes: make([]pane, panesPerWindow+1)}
	for i := range w.panes {
		w.panes[i].epoch = -1
		for d := range w.panes[i].dims {
			w.panes[i].dims[d] = newSummary(capacity)
		}
	}
	return w
}

// pane returns the pane for completion time endNs, clearing a stale one;
// nil when endNs is older than the window keeps.
func (w *window) pane(endNs int64) *pane {
	epoch := endNs / w.paneNs
	p := &w.panes[uint64(epoch)%uint64(len(w.panes))]
	if p.epoch != epoch {
		if p.epoch > epoch {
			return nil
		}
		p.epoch = epoch
		for d := range p.dims {
			p.dims[d].reset()
		}
	}
	return p
}

// Top is one line of a top list.
type Top struct {
	// Name is the route template, principal or client IP. Principals
	// longer than 64 bytes are cut and end with "…".
	Name string `json:"name"`
	// Requests is the number of requests counted for Name in the window; it
	// may exceed the true number by at most Overestimate.
	Requests uint64 `json:"requests"`
	// Overestimate bounds how much Requests may be too high, from counters
	// Name took over from evicted items (0 means Requests is exact).
	Overestimate uint64 `json:"overestimate"`
	// Errors counts the requests answered with status ≥ 400 or not allowed
	// by the proxy, among those counted since Name was last tracked.
	Errors uint64 `json:"errors"`
	// ErrorRate is Errors divided by the requests they were counted among.
	ErrorRate float64 `json:"error_rate"`
	// P50Ms, P90Ms and P99Ms are latency percentiles in milliseconds, as
	// bucket upper bounds (see the package doc).
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// top merges the panes of w that overlap [now-length, now] and returns the
// k largest items of dimension dim, largest first, ties by name.
func (w *window) top(dim int, nowNs int64, k int) []Top {
	cur := nowNs / w.paneNs
	type acc struct {
		name          string
		count, over   uint64
		errors, since uint64
		lat           hist
	}
	m := map[uint64]*acc{}
	for i := range w.panes {
		p := &w.panes[i]
		if p.epoch > cur || p.epoch < cur-panesPerWindow {
			continue
		}
		s := &p.dims[dim]
		for j, key := range s.keys {
			it := &s.items[j]
			a := m[key]
			if a == nil {
				a = &acc{name: string(it.name[:it.nlen])}
				m[key] = a
			}
			a.count += uint64(s.counts[j])
			a.over += uint64(it.over)
			a.errors += uint64(it.errors)
			a.since += uint64(s.counts[j] - it.over)
			a.lat.add(&it.lat)
		}
	}
	all := make([]*acc, 0, len(m))
	for _, a := range m {
		all = append(all, a)
	}
	slices.SortFunc(all, func(a, b *acc) int {
		if a.count != b.count {
			if a.count > b.count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	if len(all) > k {
		all = all[:k]
	}
	out := make([]Top, len(all))
	for i, a := range all {
		t := Top{Name: a.name, Requests: a.count, Overestimate: a.over, Errors: a.errors,
			P50Ms: a.lat.quantile(0.5), P90Ms: a.lat.quantile(0.9), P99Ms: a.lat.quantile(0.99)}
		if a.since > 0 {
			t.ErrorRate = float64(a.errors) / float64(a.since)
		}
		out[i] = t
	}
	return out
}
