package tokencache

import (
	"testing"
)

type entry struct {
	h1, h2  uint64
	expires int64
	name    string
}

func (e *entry) Key() (uint64, uint64) { return e.h1, e.h2 }
func (e *entry) Expiry() int64         { return e.expires }

func TestDisabled(t *testing.T) {
	if New[entry](0) != nil || New[entry](-1) != nil {
		t.Fatal("a zero-size cache must be nil (disabled)")
	}
}

func TestGetPut(t *testing.T) {
	c := New[entry](5) // rounded up: 2 sets of 4
	if c.Capacity() != 8 {
		t.Fatalf("capacity %d, want 8", c.Capacity())
	}
	h1, h2 := c.Hash([]byte("token-a"))
	if c.Get(h1, h2) != nil {
		t.Fatal("empty cache returned an entry")
	}
	a := &entry{h1: h1, h2: h2, expires: 100, name: "a"}
	c.Put(a, 0)
	if got := c.Get(h1, h2); got != a {
		t.Fatalf("Get = %v, want a", got)
	}
	if c.Get(h1, h2+1) != nil {
		t.Fatal("a different second hash matched")
	}
	// The same token replaces its slot.
	a2 := &entry{h1: h1, h2: h2, expires: 200, name: "a2"}
	c.Put(a2, 0)
	if c.Get(h1, h2) != a2 || c.Len() != 1 {
		t.Fatalf("replacing: got %v, len %d", c.Get(h1, h2), c.Len())
	}
}

func TestFullSetEvictsTheSoonestToExpire(t *testing.T) {
	c := New[entry](Ways) // one set
	for i, exp := range []int64{50, 10, 40, 30} {
		c.Put(&entry{h1: uint64(i), h2: 1, expires: exp}, 0)
	}
	c.Put(&entry{h1: 99, h2: 1, expires: 1000}, 0)
	if c.Get(1, 1) != nil {
		t.Fatal("the entry expiring first (10) survived")
	}
	for _, k := range []uint64{0, 2, 3, 99} {
		if c.Get(k, 1) == nil {
			t.Fatalf("entry %d evicted", k)
		}
	}
	// An expired entry is reused before any live one.
	c.Put(&entry{h1: 7, h2: 1, expires: 1000}, 35) // now=35: 30 has expired
	if c.Get(3, 1) != nil || c.Get(7, 1) == nil || c.Get(2, 1) == nil {
		t.Fatal("an expired slot was not reused first")
	}
}

func TestBoundedUnderManyTokens(t *testing.T) {
	c := New[entry](64)
	for i := 0; i < 10000; i++ {
		h1, h2 := c.Hash([]byte{byte(i), byte(i >> 8)})
		c.Put(&entry{h1: h1, h2: h2, expires: int64(i)}, 0)
	}
	if c.Len() > c.Capacity() || c.Capacity() != 64 {
		t.Fatalf("len %d capacity %d", c.Len(), c.Capacity())
	}
}
