//go:build !race

package tokencache

import "testing"

func TestGetZeroAllocs(t *testing.T) {
	c := New[entry](64)
	raw := []byte("token")
	h1, h2 := c.Hash(raw)
	c.Put(&entry{h1: h1, h2: h2, expires: 10}, 0)
	if n := testing.AllocsPerRun(200, func() {
		a, b := c.Hash(raw)
		if c.Get(a, b) == nil {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Fatalf("%v allocs per hit", n)
	}
}
