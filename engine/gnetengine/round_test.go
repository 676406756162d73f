package gnetengine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/filters"
)

// stoppingLoop is a loop whose engine is shutting down: Execute refuses.
type stoppingLoop struct{ gnet.EventLoop }

func (stoppingLoop) Execute(context.Context, gnet.Runnable) error {
	return errors.New("engine is shutting down")
}

// TestTurnsOfARoundShareOneCommit: the records that several turns of a
// loop queue wait for one commit, scheduled by the first of them and run
// by gnet after the epoll round (commitRound), which acknowledges them
// all; a loop whose engine is stopping commits each turn's records at the
// end of the turn instead, so none waits for a task that will not run.
func TestTurnsOfARoundShareOneCommit(t *testing.T) {
	tests := []struct {
		name       string
		stopping   bool
		wantTasks  int // commit tasks scheduled by the turns
		ackedEarly int // records acknowledged before any task runs
	}{
		{name: "a round of three turns", wantTasks: 1, ackedEarly: 0},
		{name: "engine stopping", stopping: true, wantTasks: 0, ackedEarly: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The log's own goroutine does not commit by time during
			// the test (an hour between syncs and between checkpoints),
			// so what commits a record is what the test runs.
			rec, p := auditRecorder(t, &engine.Holder{}, &config.Audit{Durability: "process",
				FsyncInterval: config.Duration(time.Hour), CheckpointInterval: config.Duration(time.Hour)})
			var el gnet.EventLoop = &taskLoop{}
			if tt.stopping {
				el = stoppingLoop{}
			}
			lp := newLoop(&listener{s: &Server{p: p}}, el)
			var acked atomic.Int32
			done := func(_ uint64, err error) {
				if err != nil {
					t.Errorf("record failed: %v", err)
				}
				acked.Add(1)
			}
			turn := func(status int) { // a turn that queues one record
				lp.beginTurn()
				ex := &filters.Exchange{Start: time.Now(), Method: []byte("GET"), Path: []byte("/turn")}
				ex.Status = status
				if pending, err := rec.RecordFunc(ex, nil, time.Now(), done); !pending || err != nil {
					t.Fatalf("record not queued: pending %v, err %v", pending, err)
				}
				lp.queuedRecord()
				lp.endTurn()
			}
			for i := range 3 { // three turns of one round
				turn(200 + i)
			}
			if got := int(acked.Load()); got != tt.ackedEarly {
				t.Fatalf("%d records acknowledged at the turns' ends, want %d", got, tt.ackedEarly)
			}
			if tl, ok := el.(*taskLoop); ok {
				if got := tl.run(); got != tt.wantTasks {
					t.Fatalf("the turns scheduled %d commits, want %d", got, tt.wantTasks)
				}
				if n := tl.run(); n != 0 {
					t.Errorf("the commit scheduled %d more tasks, want none", n)
				}
			}
			if got := acked.Load(); got != 3 {
				t.Fatalf("%d of 3 records acknowledged after the round", got)
			}
			if lp.uncommitted || lp.commitScheduled {
				t.Errorf("after the round: uncommitted %v, commit scheduled %v", lp.uncommitted, lp.commitScheduled)
			}
			// The next round's first record schedules the next commit.
			turn(204)
			if tl, ok := el.(*taskLoop); ok {
				if got := tl.run(); got != tt.wantTasks {
					t.Fatalf("the next round scheduled %d commits, want %d", got, tt.wantTasks)
				}
			}
			if got := acked.Load(); got != 4 {
				t.Fatalf("%d of 4 records acknowledged after the next round", got)
			}
		})
	}
}
