//go:build !race

package upstream

import (
	"testing"
	"time"
)

// TestZeroAllocs gates the per-request work the load harness leans on:
// counting a known path and framing an event must not allocate.
func TestZeroAllocs(t *testing.T) {
	s := New(Options{})
	p := []byte("/bench")
	s.count(p) // the first request for a path adds it to the table
	if n := testing.AllocsPerRun(100, func() { s.count(p) }); n != 0 {
		t.Fatalf("count allocates %v times per call", n)
	}
	buf := make([]byte, 0, 256)
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], 3, 5, now) }); n != 0 {
		t.Fatalf("AppendEvent allocates %v times per call", n)
	}
	want := "id: 3\nevent: tick\ndata: {\"seq\":3,\"of\":5,\"time\":\"2026-01-02T03:04:05.000000006Z\"}\n\n"
	if string(buf) != want {
		t.Fatalf("AppendEvent = %q, want %q", buf, want)
	}
}
