package introspect

import (
	"sync"
	"sync/atomic"
)

// flightKey identifies a token by its two keyed hashes.
type flightKey [2]uint64

// call is one introspection round trip that several requests presenting
// the same token wait for.
type call struct {
	done    chan struct{} // closed when e and failure are set
	e       *entry        // the outcome; nil when the call failed
	failure string        // detail of a failed call
	waiters atomic.Int32  // requests waiting besides the leader (tests)
}

// flights merges concurrent introspections of one token into a single
// call (the singleflight pattern): the first request to miss the cache
// becomes the leader and asks the server; the others wait for its answer.
// Only the miss path touches it, so its lock and map are never on the
// cache-hit path.
type flights struct {
	mu sync.Mutex
	m  map[flightKey]*call
}

// join returns the call in flight for k and false, or a new call and true
// when the caller is the leader and must finish it with land.
func (fl *flights) join(k flightKey) (*call, bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if c, ok := fl.m[k]; ok {
		c.waiters.Add(1)
		return c, false
	}
	if fl.m == nil {
		fl.m = make(map[flightKey]*call)
	}
	c := &call{done: make(chan struct{})}
	fl.m[k] = c
	return c, true
}

// land publishes the leader's outcome to the waiters and forgets the
// call, so the next miss asks the server again (after a failure) or finds
// the cached entry.
func (fl *flights) land(k flightKey, c *call) {
	fl.mu.Lock()
	delete(fl.m, k)
	fl.mu.Unlock()
	close(c.done)
}

// inFlight returns the call for k, or nil (for tests).
func (fl *flights) inFlight(k flightKey) *call {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.m[k]
}
