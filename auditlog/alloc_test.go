//go:build !race

package auditlog

import (
	"strconv"
	"testing"
)

// TestZeroAllocs is the hard gate on the hot path: encoding a record,
// decoding it, and a whole Append round trip (including the sequencer's
// group commit) allocate nothing in steady state.
func TestZeroAllocs(t *testing.T) {
	var e Entry
	testEntry(&e, 7)
	c := testCommitments(&e)
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(1000, func() { buf = appendLeaf(buf[:0], &e, c) }); n != 0 {
		t.Fatalf("appendLeaf: %v allocs", n)
	}
	var r Record
	if n := testing.AllocsPerRun(1000, func() {
		if err := DecodeEntry(buf, &r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("DecodeEntry: %v allocs", n)
	}
	for _, d := range []Durability{DurabilityProcess, DurabilityAsync} {
		o := testOptions(t, t.TempDir())
		o.Durability = d
		o.CheckpointEvery = 1 << 30 // checkpoints allocate (signing); they run once a second
		o.CheckpointInterval = 1 << 40
		o.FsyncInterval = 1 << 40
		l, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 3000) // warm up buffers
		i := 3000
		testEntry(&e, i)
		n := testing.AllocsPerRun(2000, func() {
			e.Start += 1000
			e.RequestID = strconv.AppendInt(e.RequestID[:0], int64(i), 10)
			i++
			if _, err := l.Append(&e); err != nil && err != ErrQueueFull {
				t.Fatal(err)
			}
		})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("Append (%s): %v allocs per record", d, n)
		}
	}
}
