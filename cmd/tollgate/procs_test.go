package main

import "testing"

func TestSpareProcs(t *testing.T) {
	for _, c := range []struct {
		name       string
		loops, cur int
		set        bool
		want       int
	}{
		{"no event loops", 0, 2, false, 2},
		{"a loop per processor", 2, 2, false, 3},
		{"more loops than processors", 64, 2, false, 3},
		{"a processor to spare already", 2, 4, false, 4},
		{"set in the environment", 2, 2, true, 2},
	} {
		if got := spareProcs(c.loops, c.cur, c.set); got != c.want {
			t.Errorf("%s: spareProcs(%d, %d, %t) = %d, want %d", c.name, c.loops, c.cur, c.set, got, c.want)
		}
	}
}
