package auditlog

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// quietOptions turn the log goroutine's tick (the net under the hand-off
// between committers) down to once every half hour, so that a record left
// behind by the hand-off is seen as one.
func quietOptions(t *testing.T, dir string, d Durability) Options {
	o := testOptions(t, dir)
	o.Durability = d
	o.FsyncInterval = time.Hour
	o.CheckpointInterval = time.Hour
	return o
}

// TestNoRecordLeftBehind has goroutines append in each of the three ways at
// once (Append, AppendFunc, QueueFunc then Commit), with the tick off:
// every record is acknowledged, and the log holds them all, whoever
// committed them.
func TestNoRecordLeftBehind(t *testing.T) {
	for _, d := range []Durability{DurabilityProcess, DurabilityDisk, DurabilityAsync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(quietOptions(t, dir, d))
			if err != nil {
				t.Fatal(err)
			}
			const goroutines, per = 6, 400
			var acked atomic.Int64
			var wg sync.WaitGroup
			wg.Add(goroutines * per)
			cb := func(_ uint64, err error) {
				if err != nil {
					t.Errorf("callback: %v", err)
				}
				acked.Add(1)
				wg.Done()
			}
			for g := range goroutines {
				go func() {
					var e Entry
					for i := range per {
						testEntry(&e, g*per+i)
						var err error
						for {
							switch g % 3 {
							case 0:
								if _, err = l.Append(&e); err == nil {
									cb(0, nil)
								}
							case 1:
								err = l.AppendFunc(&e, cb)
							case 2:
								// A loop's turn: a few records, then one commit.
								if err = l.QueueFunc(&e, cb); err == nil && (i%3 == 2 || i == per-1) {
									l.Commit()
								}
							}
							if err != ErrQueueFull {
								break
							}
							// AppendFunc's callers do not wait: they can fill
							// the queue while another caller commits.
							l.Commit()
							runtime.Gosched()
						}
						if err != nil {
							t.Errorf("append %d: %v", g*per+i, err)
							wg.Done()
						}
					}
				}()
			}
			waitOrFail(t, &wg, 20*time.Second, func() string {
				return fmt.Sprintf("acknowledged %d of %d", acked.Load(), goroutines*per)
			})
			if size, err := closedSize(t, l, dir); err != nil || size != goroutines*per {
				t.Fatalf("log holds %d records (%v), want %d", size, err, goroutines*per)
			}
		})
	}
}

// gateFile blocks the segment's writes or syncs until its gate opens.
type gateFile struct {
	file
	writes, syncs *gate
}

type gate struct {
	armed   atomic.Bool
	entered chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1), open: make(chan struct{})} }

func (g *gate) pass() {
	if g != nil && g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.open
	}
}

func (f gateFile) WriteAt(p []byte, off int64) (int, error) {
	f.writes.pass()
	return f.file.WriteAt(p, off)
}

func (f gateFile) Datasync() error {
	f.syncs.pass()
	return f.file.Datasync()
}

func gatedOptions(t *testing.T, dir string, d Durability, writes, syncs *gate) Options {
	o := quietOptions(t, dir, d)
	wrapSegments(&o, func(f file) file { return gateFile{f, writes, syncs} })
	return o
}

// TestHolderCommitsWhatCameMeanwhile holds one caller inside its commit's
// write while another queues and commits: the second finds the lock taken
// and returns at once, and the first, once its write is done, commits the
// second's record too, with the tick off.
func TestHolderCommitsWhatCameMeanwhile(t *testing.T) {
	dir := t.TempDir()
	writes := newGate()
	l, err := Open(gatedOptions(t, dir, DurabilityProcess, writes, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	writes.armed.Store(true)
	first := make(chan error, 1)
	go func() {
		var e Entry
		testEntry(&e, 1)
		_, err := l.Append(&e)
		first <- err
	}()
	<-writes.entered // the first caller holds the lock, inside pwrite

	second, returned := queueAndCommit(t, l, 2)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Commit waited for the caller holding the lock")
	}
	select {
	case err := <-second:
		t.Fatalf("second record acknowledged (%v) while the first write is held", err)
	default:
	}
	close(writes.open)
	for _, c := range []chan error{first, second} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a record was left in the queue after the holder unlocked")
		}
	}
}

// TestCommitNeverSyncs: in disk mode a loop's Commit leaves the commit,
// which syncs, to the log's goroutine, and returns while that sync is
// held; the record is acknowledged once the sync is done.
func TestCommitNeverSyncs(t *testing.T) {
	dir := t.TempDir()
	syncs := newGate()
	l, err := Open(gatedOptions(t, dir, DurabilityDisk, nil, syncs))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	syncs.armed.Store(true)
	acked, returned := queueAndCommit(t, l, 1)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		close(syncs.open) // let Close finish
		t.Fatal("Commit blocked on fdatasync")
	}
	select {
	case <-syncs.entered: // the log's goroutine is in the sync
	case <-time.After(10 * time.Second):
		t.Fatal("no one committed the record")
	}
	select {
	case err := <-acked:
		t.Fatalf("acknowledged (%v) before the sync", err)
	default:
	}
	close(syncs.open)
	select {
	case err := <-acked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not acknowledged after the sync")
	}
}

// queueAndCommit queues record i as an event loop does and commits on
// another goroutine: acked receives the record's acknowledgement, and
// returned is closed when Commit returns.
func queueAndCommit(t *testing.T, l *Log, i int) (acked chan error, returned chan struct{}) {
	t.Helper()
	var e Entry
	testEntry(&e, i)
	acked = make(chan error, 1)
	if err := l.QueueFunc(&e, func(_ uint64, err error) { acked <- err }); err != nil {
		t.Fatal(err)
	}
	returned = make(chan struct{})
	go func() { l.Commit(); close(returned) }()
	return acked, returned
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration, state func() string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("after %v: %s", d, state())
	}
}

// TestQueueSizeBoundsRecordsInFlight queues records as an event loop does,
// with no one committing: QueueSize records are taken, the next is refused
// with ErrQueueFull, and once a commit acknowledges them their slots take
// records again.
func TestQueueSizeBoundsRecordsInFlight(t *testing.T) {
	const size = 8
	o := quietOptions(t, t.TempDir(), DurabilityProcess)
	o.QueueSize = size
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan error, 2*size)
	var e Entry
	for round := 0; round < 2; round++ {
		for i := 0; i < size; i++ {
			testEntry(&e, round*size+i)
			if err := l.QueueFunc(&e, func(_ uint64, err error) { acked <- err }); err != nil {
				t.Fatalf("round %d, record %d of %d: %v", round, i+1, size, err)
			}
		}
		testEntry(&e, 100+round)
		if err := l.QueueFunc(&e, func(uint64, error) { t.Error("a refused record was acknowledged") }); err != ErrQueueFull {
			t.Fatalf("round %d: record %d of a queue of %d: got %v, want ErrQueueFull", round, size+1, size, err)
		}
		if got := l.Stats().QueueFull; got != uint64(round+1) {
			t.Fatalf("round %d: QueueFull = %d, want %d", round, got, round+1)
		}
		l.Commit()
		for i := 0; i < size; i++ {
			if err := <-acked; err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := l.Stats().Appended; got != 2*size {
		t.Fatalf("Appended = %d, want %d", got, 2*size)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
