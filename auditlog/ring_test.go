package auditlog

import (
	"sync"
	"testing"
	"time"
)

// TestRingHandsEverySlotOnce runs producers against one consumer that
// sleeps whenever the ring is empty: every slot arrives exactly once, none
// is lost to a missed wake-up, and the ring never holds more than its
// capacity.
func TestRingHandsEverySlotOnce(t *testing.T) {
	const producers, per, capacity = 8, 5000, 16
	r := newRing(capacity)
	tokens := make(chan struct{}, capacity) // bounds slots in flight, as Log.inflight does
	for i := 0; i < capacity; i++ {
		tokens <- struct{}{}
	}
	seen := make([]bool, producers*per)
	done := make(chan struct{})
	go func() {
		defer close(done)
		got := 0
		for got < producers*per {
			s := r.pop()
			if s == nil {
				if r.sleep() {
					select {
					case <-r.wake:
					case <-time.After(10 * time.Second):
						t.Errorf("consumer slept 10s with %d of %d slots: a wake-up was lost", got, producers*per)
						return
					}
				}
				continue
			}
			if n := r.len(); n > capacity {
				t.Errorf("ring holds %d slots, capacity %d", n, capacity)
			}
			if seen[s.idx] {
				t.Errorf("slot %d delivered twice", s.idx)
			}
			seen[s.idx] = true
			got++
			tokens <- struct{}{}
		}
	}()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				<-tokens
				r.push(&slot{idx: uint64(p*per + i)})
				if i%64 == 0 {
					time.Sleep(time.Microsecond) // let the consumer fall asleep now and then
				}
			}
		}()
	}
	wg.Wait()
	<-done
	for i, ok := range seen {
		if !ok {
			t.Fatalf("slot %d never delivered", i)
		}
	}
	if r.len() != 0 {
		t.Fatalf("ring holds %d slots after the run", r.len())
	}
}

func TestNewRingRoundsUp(t *testing.T) {
	for _, c := range []struct{ n, want int }{{1, 1}, {2, 2}, {3, 4}, {1000, 1024}, {16384, 16384}} {
		if got := len(newRing(c.n).cells); got != c.want {
			t.Errorf("newRing(%d): %d cells, want %d", c.n, got, c.want)
		}
	}
}
