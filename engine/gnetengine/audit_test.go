package gnetengine

import (
	"context"
	"sync"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// taskLoop is a gnet.EventLoop that keeps what Execute is given, so a test
// can count the wake-ups and play the loop itself.
type taskLoop struct {
	gnet.EventLoop
	mu    sync.Mutex
	tasks []gnet.Runnable
}

func (f *taskLoop) Execute(_ context.Context, r gnet.Runnable) error {
	f.mu.Lock()
	f.tasks = append(f.tasks, r)
	f.mu.Unlock()
	return nil
}

// run runs the queued tasks, as the loop does when woken, and returns
// how many there were.
func (f *taskLoop) run() int {
	f.mu.Lock()
	tasks := f.tasks
	f.tasks = nil
	f.mu.Unlock()
	for _, r := range tasks {
		_ = r.Run(context.Background())
	}
	return len(tasks)
}

func queued(lp *loop) int {
	lp.acks.mu.Lock()
	defer lp.acks.mu.Unlock()
	return len(lp.acks.reqs)
}

// TestAckDuringTurnDoesNotWake: an acknowledgement that arrives while the
// loop is inside a turn is drained when the turn ends, without a wake-up;
// one that arrives while the loop sleeps wakes it once.
func TestAckDuringTurnDoesNotWake(t *testing.T) {
	tests := []struct {
		name      string
		inTurn    bool
		acks      int
		wantWakes int
	}{
		{name: "one ack during a turn", inTurn: true, acks: 1, wantWakes: 0},
		{name: "a group during a turn", inTurn: true, acks: 8, wantWakes: 0},
		{name: "one ack between turns", inTurn: false, acks: 1, wantWakes: 1},
		{name: "a group between turns: one wake-up", inTurn: false, acks: 8, wantWakes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			el := &taskLoop{}
			lp := newLoop(&listener{}, el)
			if tt.inTurn {
				lp.beginTurn()
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the audit log's goroutine
				defer wg.Done()
				for range tt.acks {
					lp.pushAck(&request{})
				}
			}()
			wg.Wait()
			if tt.inTurn {
				lp.endTurn()
			}
			if got := el.run(); got != tt.wantWakes {
				t.Errorf("the loop was woken %d times, want %d", got, tt.wantWakes)
			}
			if n := queued(lp); n != 0 {
				t.Errorf("%d acknowledgements left on the queue", n)
			}
			if got := lp.acks.wakes.Load(); got != uint64(tt.wantWakes) {
				t.Errorf("wakes counter %d, want %d", got, tt.wantWakes)
			}
		})
	}
}

// TestAckHandshakeLosesNothing races acknowledgements from several
// goroutines against a loop that keeps beginning and ending turns and
// runs its tasks: every acknowledgement must be drained, by endTurn or by
// a wake-up, none left on the queue once both sides are done. The window
// a wrong order in endTurn opens is a few instructions wide, too narrow
// for this test to hit reliably; it is here for the race detector and
// for the bookkeeping (the length kept beside the queue).
func TestAckHandshakeLosesNothing(t *testing.T) {
	const producers, perProducer = 4, 5000
	el := &taskLoop{}
	lp := newLoop(&listener{}, el)
	var wg sync.WaitGroup
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perProducer {
				lp.pushAck(&request{})
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for turns := 0; ; turns++ {
		lp.beginTurn()
		lp.endTurn()
		el.run()
		select {
		case <-done:
		default:
			if turns < 10_000_000 { // bounded: the producers finish long before
				continue
			}
			t.Fatal("producers did not finish")
		}
		break
	}
	// Both sides are done: whatever is queued now was promised a wake-up.
	el.run()
	if n := queued(lp); n != 0 {
		t.Fatalf("%d acknowledgements were neither drained at a turn's end nor woken for", n)
	}
}
