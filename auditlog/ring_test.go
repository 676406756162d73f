package auditlog

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestRingHandsEverySlotOnce runs producers against one consumer that
// polls: every slot arrives exactly once, none is lost while a producer is
// between claiming its cell and storing its slot, and the ring never holds
// more than its capacity.
func TestRingHandsEverySlotOnce(t *testing.T) {
	const producers, per, capacity = 8, 5000, 16
	r := newRing(capacity)
	tokens := make(chan struct{}, capacity) // bounds slots in flight, as Log's free list does
	for i := 0; i < capacity; i++ {
		tokens <- struct{}{}
	}
	seen := make([]bool, producers*per)
	done := make(chan struct{})
	go func() {
		defer close(done)
		got := 0
		deadline := time.Now().Add(10 * time.Second)
		for got < producers*per {
			s := r.pop()
			if s == nil {
				if time.Now().After(deadline) {
					t.Errorf("10s with %d of %d slots: a slot was lost", got, producers*per)
					return
				}
				runtime.Gosched()
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
					time.Sleep(time.Microsecond) // let the consumer find the ring empty now and then
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

// TestAppendFuncCallsBackOncePerRecord appends without blocking from many
// goroutines: every callback comes exactly once, after its record is
// readable, with a distinct index; a closed log refuses at once and never
// calls back.
func TestAppendFuncCallsBackOncePerRecord(t *testing.T) {
	for _, d := range []Durability{DurabilityProcess, DurabilityDisk, DurabilityAsync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(t, dir)
			o.Durability = d
			l, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			var mu sync.Mutex
			seen := map[uint64]bool{}
			calls := 0
			var wg sync.WaitGroup
			wg.Add(n)
			for g := 0; g < 4; g++ {
				go func() {
					var e Entry
					for i := g; i < n; i += 4 {
						testEntry(&e, i)
						cb := func(idx uint64, err error) {
							mu.Lock()
							defer mu.Unlock()
							calls++
							if err != nil {
								t.Errorf("callback: %v", err)
							}
							if d != DurabilityAsync {
								if seen[idx] {
									t.Errorf("index %d acknowledged twice", idx)
								}
								seen[idx] = true
							}
							wg.Done()
						}
						err := l.AppendFunc(&e, cb)
						for err == ErrQueueFull {
							time.Sleep(time.Millisecond)
							err = l.AppendFunc(&e, cb)
						}
						if err != nil {
							t.Error(err)
							wg.Done()
						}
					}
				}()
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			called := false
			if err := l.AppendFunc(&Entry{}, func(uint64, error) { called = true }); err != ErrClosed || called {
				t.Fatalf("after close: %v, called %v", err, called)
			}
			r, err := OpenReader(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if size, err := r.Size(); err != nil || size != n {
				t.Fatalf("log holds %d records (%v), want %d", size, err, n)
			}
			if d != DurabilityAsync && (len(seen) != n || calls != n) {
				t.Fatalf("%d callbacks, %d distinct indices, want %d", calls, len(seen), n)
			}
		})
	}
}
