package pgship

import "testing"

// TestCopyBatchAddAllocs gates the per-record encoding at zero
// allocations once the batch buffer has grown.
func TestCopyBatchAddAllocs(t *testing.T) {
	leaf, rec := copyTestRecord()
	var c copyBatch
	c.reset()
	for range 64 {
		c.add("audit.test/a", 1, leaf, &rec)
	}
	if n := testing.AllocsPerRun(100, func() {
		c.reset()
		for range 64 {
			c.add("audit.test/a", 1, leaf, &rec)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per batch of 64; want 0", n)
	}
}
