package concurrency

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
)

const cacheLine = 64

// Reason codes. Each filter instance declares its own *Reason values with
// these codes (see Finish for why).
const (
	CodeQueueFull    = "throttle.queue_full"
	CodeQueueTimeout = "throttle.queue_timeout"
)

// Filter admits at most a fixed number of requests at once; the next ones
// wait in a bounded FIFO queue for at most the queue timeout. It is safe
// for concurrent use by any number of chains; all of them share its slots.
type Filter struct {
	// Hot words, each on its own cache line.
	inFlight atomic.Int64
	_        [cacheLine - 8]byte
	queued   atomic.Int64 // waiters in the queue; read without the lock
	_        [cacheLine - 8]byte

	limit      int64
	maxQueue   int
	timeout    time.Duration
	retryAfter []byte

	reasonFull    *filters.Reason
	reasonTimeout *filters.Reason

	mu         sync.Mutex
	head, tail *waiter // FIFO, guarded by mu
	waiters    sync.Pool

	waited      atomic.Uint64 // admitted after queueing
	shedFull    atomic.Uint64
	shedTimeout atomic.Uint64
	waitNanos   atomic.Uint64
	waitHist    [len(waitBuckets) + 1]atomic.Uint64
	waitSeconds *metrics.PrometheusHistogram
	metrics     *metrics.Set
}

// Interface guards.
var (
	_ filters.Filter   = (*Filter)(nil)
	_ filters.Finisher = (*Filter)(nil)
	_ filters.Waiter   = (*Filter)(nil)
)

// waiter is one queued request. It is pooled with its channel and timer,
// so queueing does not allocate in steady state.
type waiter struct {
	prev, next *waiter
	ready      chan struct{} // buffered: the slot hand-over never blocks
	timer      *time.Timer
	granted    bool // guarded by Filter.mu
}

// Name implements filters.Filter.
func (f *Filter) Name() string { return "concurrency" }

// Handle implements filters.Filter. Unlike most filters it may block: a
// request that finds every slot taken waits in the queue (for at most the
// queue timeout) on its own goroutine.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	// Fast path: a free slot.
	if f.tryAcquire() {
		return filters.Continue
	}
	return f.wait(ex)
}

// TryHandle implements filters.Waiter: a free slot is taken at once, as
// Handle takes it; with every slot taken it says it would wait and takes
// nothing, and Handle then queues (or sheds) the request.
func (f *Filter) TryHandle(*filters.Exchange) (filters.Verdict, bool) {
	// Fast path: a free slot.
	if f.tryAcquire() {
		return filters.Continue, true
	}
	return filters.Continue, false
}

func (f *Filter) tryAcquire() bool {
	for {
		n := f.inFlight.Load()
		if n >= f.limit {
			return false
		}
		if f.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Slow path: queue, or shed.
func (f *Filter) wait(ex *filters.Exchange) filters.Verdict {
	f.mu.Lock()
	if f.tryAcquire() { // a slot was freed meanwhile
		f.mu.Unlock()
		return filters.Continue
	}
	if int(f.queued.Load()) >= f.maxQueue {
		f.mu.Unlock()
		f.shedFull.Add(1)
		return f.shed(ex, f.reasonFull)
	}
	w := f.waiters.Get().(*waiter)
	f.pushLocked(w)
	f.mu.Unlock()

	start := time.Now()
	w.timer.Reset(f.timeout)
	select {
	case <-w.ready:
		w.timer.Stop()
	case <-w.timer.C:
		f.mu.Lock()
		granted := w.granted
		if !granted {
			f.removeLocked(w)
		}
		f.mu.Unlock()
		if !granted {
			f.waiters.Put(w)
			f.shedTimeout.Add(1)
			return f.shed(ex, f.reasonTimeout)
		}
		<-w.ready // handed a slot as the timer fired: take it
	}
	w.granted = false
	f.waiters.Put(w)
	f.observeWait(time.Since(start))
	f.waited.Add(1)
	return filters.Continue
}

func (f *Filter) shed(ex *filters.Exchange, r *filters.Reason) filters.Verdict {
	ex.AddResponseHeader("Retry-After", f.retryAfter) // RFC 9110 §10.2.3
	return filters.Respond(r)
}

// Finish implements filters.Finisher: it releases the request's slot. The
// chain calls it for every filter whose Handle ran, including this one
// when it refused; a refusal held no slot, which Finish recognises by this
// instance's own reasons (a second concurrency filter in the same chain
// has reasons of its own, so its refusal still releases ours).
//
// For a streamed response the engine finishes the request when its handler
// returns, which is before the stream has ended: the slot bounds the time
// to the response headers, not the time the upstream spends streaming.
func (f *Filter) Finish(ex *filters.Exchange) {
	if r := ex.Reason(); r == f.reasonFull || r == f.reasonTimeout {
		return
	}
	f.release()
}

// release frees a slot, or hands it straight to the oldest waiter so that
// newcomers cannot overtake the queue.
func (f *Filter) release() {
	if f.queued.Load() > 0 {
		f.mu.Lock()
		if w := f.popLocked(); w != nil {
			w.granted = true
			w.ready <- struct{}{}
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
	f.inFlight.Add(-1)
	// A request may have queued between the check above and the
	// decrement; it re-tried the slots under the lock before sleeping, but
	// possibly before the decrement. Look again so it is not left waiting
	// beside a free slot.
	if f.queued.Load() > 0 {
		f.mu.Lock()
		for f.head != nil && f.tryAcquire() {
			w := f.popLocked()
			w.granted = true
			w.ready <- struct{}{}
		}
		f.mu.Unlock()
	}
}

func (f *Filter) pushLocked(w *waiter) {
	w.prev, w.next = f.tail, nil
	if f.tail != nil {
		f.tail.next = w
	} else {
		f.head = w
	}
	f.tail = w
	f.queued.Add(1)
}

func (f *Filter) popLocked() *waiter {
	w := f.head
	if w != nil {
		f.removeLocked(w)
	}
	return w
}

func (f *Filter) removeLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		f.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		f.tail = w.prev
	}
	w.prev, w.next = nil, nil
	f.queued.Add(-1)
}

func newWaiter() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{ready: make(chan struct{}, 1), timer: t}
}

// MayBlock reports whether Handle can wait for a slot: with a queue it
// does, up to the queue timeout. An engine on an event loop asks
// TryHandle first and leaves the loop only when no slot is free.
func (f *Filter) MayBlock() bool { return f.maxQueue > 0 }
