package concurrency

import (
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestTryHandle wants a free slot taken at once and, with every slot
// taken, "would wait" with nothing taken and nothing queued: Handle then
// queues the request and gets the slot handed over.
func TestTryHandle(t *testing.T) {
	f := newTestFilter(t, `{max_concurrent: 1, max_queue: 1, queue_timeout: 5s}`)
	first := filters.AcquireExchange()
	defer filters.ReleaseExchange(first)
	if v, ok := f.TryHandle(first); !ok || !v.IsContinue() {
		t.Fatalf("free slot: decided=%v allowed=%v", ok, v.IsContinue())
	}
	second := filters.AcquireExchange()
	defer filters.ReleaseExchange(second)
	for i := 0; i < 3; i++ {
		if v, ok := f.TryHandle(second); ok || !v.IsContinue() {
			t.Fatalf("no slot: decided=%v, want undecided", ok)
		}
	}
	if n, q := f.inFlight.Load(), f.queued.Load(); n != 1 || q != 0 {
		t.Fatalf("after undecided tries: in flight %d queued %d, want 1 and 0", n, q)
	}
	got := make(chan filters.Verdict, 1)
	go func() { got <- f.Handle(second) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.queued.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Handle did not queue")
		}
		time.Sleep(time.Millisecond)
	}
	f.Finish(first) // hands the slot over
	select {
	case v := <-got:
		if !v.IsContinue() {
			t.Fatalf("queued request refused: %s", v.Reason().Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slot was not handed over")
	}
	f.Finish(second)
	if n := f.inFlight.Load(); n != 0 {
		t.Fatalf("in flight %d after both finished", n)
	}
}
