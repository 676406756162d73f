package insight

// table is a fixed-size hash table of per-key detector state. A key lives
// in one of probeLen consecutive slots after its home slot; when they are
// all taken, the slot whose state scores lowest is given to the new key.
// Memory is fixed at construction whatever the number of distinct keys.
type table[T any] struct {
	keys  []uint64 // 0 marks a free slot
	vals  []T
	mask  uint64
	score func(*T) float64 // lower is evicted first
	used  int
	evict uint64
}

const probeLen = 8

func newTable[T any](size int, score func(*T) float64) *table[T] {
	n := probeLen
	for n < size {
		n <<= 1
	}
	return &table[T]{keys: make([]uint64, n), vals: make([]T, n), mask: uint64(n - 1), score: score}
}

// get returns key's state, creating a zero one (fresh=true) when key is new.
func (t *table[T]) get(key uint64) (v *T, fresh bool) {
	if key == 0 {
		key = 1
	}
	free, victim := -1, -1
	var low float64
	for i := uint64(0); i < probeLen; i++ {
		j := int((key + i) & t.mask)
		switch t.keys[j] {
		case key:
			return &t.vals[j], false
		case 0:
			if free < 0 {
				free = j
			}
		default:
			if s := t.score(&t.vals[j]); victim < 0 || s < low {
				victim, low = j, s
			}
		}
	}
	j := free
	if j < 0 {
		j = victim
		t.evict++
	} else {
		t.used++
	}
	t.keys[j] = key
	var zero T
	t.vals[j] = zero
	return &t.vals[j], true
}

// each calls fn for every key's state.
func (t *table[T]) each(fn func(*T)) {
	for j, k := range t.keys {
		if k != 0 {
			fn(&t.vals[j])
		}
	}
}
