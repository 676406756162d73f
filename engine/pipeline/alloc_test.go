//go:build !race

package pipeline_test

import (
	"bufio"
	"bytes"
	"testing"
)

// TestRoundTripAllocatesNothing gates the pipeline's share of a forwarded
// request (both heads parsed, rewritten and serialized) at zero
// allocations; the engines' gates on real sockets cover the rest.
func TestRoundTripAllocatesNothing(t *testing.T) {
	g := newRig(t)
	var src bytes.Reader
	br := bufio.NewReader(&src)
	for range 10 {
		g.roundTrip(t, br, &src)
	}
	if n := testing.AllocsPerRun(200, func() { g.roundTrip(t, br, &src) }); n != 0 {
		t.Fatalf("a forwarded request costs the pipeline %v allocations, want 0", n)
	}
}
