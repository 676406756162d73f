package gnetengine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
)

// maxResponseHead bounds an upstream's status line and headers, as on
// the goroutine engine.
const maxResponseHead = pipeline.MaxResponseHead

// loop is the state of one event loop: its connections, its upstream
// pools and its parsers. Everything in it is touched only on that loop,
// so nothing in it is locked.
type loop struct {
	l  *listener
	el gnet.EventLoop

	reqParser  *headParser
	respParser *headParser

	clients []*clientConn
	ups     []*upConn
	pools   map[*pipeline.UpstreamPool]*loopPool

	sweepTask gnet.RunnableFunc
	acks      ackQueue

	// Relays paused for backpressure, retried together (retryLater).
	retries, spare []gnet.RunnableFunc
	retryTimer     *time.Timer
	retryArmed     bool
	retryTask      gnet.RunnableFunc

	// Deadlines: gnet has no read deadlines, so one timer per loop is
	// armed for the earliest deadline of its connections (wakeBy) and
	// sweeps them when it fires; nothing ticks while no deadline is near.
	sweepTimer *time.Timer
	wakeAt     int64         // unix nanoseconds the timer is armed for; 0: not armed
	sweeps     atomic.Uint64 // sweeps run, for the test that nothing polls

	ackTask gnet.RunnableFunc
	// uncommitted: the loop's turns queued audit records that
	// commitRound must commit; commitScheduled: commitTask is queued on
	// the loop (audit.go).
	uncommitted     bool
	commitScheduled bool
	commitTask      gnet.RunnableFunc
	epfd            int // the loop's epoll descriptor, or -1 (see pause_linux.go)
}

func newLoop(l *listener, el gnet.EventLoop) *loop {
	lp := &loop{
		l:          l,
		el:         el,
		reqParser:  newHeadParser(int(l.cfg.MaxHeaderBytes)),
		respParser: newHeadParser(maxResponseHead),
		pools:      make(map[*pipeline.UpstreamPool]*loopPool),
		epfd:       epollFD(el),
	}
	lp.sweepTask = func(context.Context) error {
		lp.sweep()
		return nil
	}
	lp.ackTask = func(context.Context) error {
		// A turn of its own: the records its settling queues (the
		// next pipelined request's) wait for the round's commit, and
		// what is acknowledged meanwhile for endTurn, instead of
		// waking the loop again.
		lp.beginTurn()
		lp.drainAcks()
		lp.endTurn()
		return nil
	}
	lp.commitTask = func(context.Context) error {
		lp.commitRound()
		return nil
	}
	lp.retryTask = func(context.Context) error {
		lp.runRetries()
		return nil
	}
	return lp
}

// clock returns the time deadlines are set from, in unix nanoseconds.
func clock() int64 { return time.Now().UnixNano() }

// wakeBy makes sure the loop sweeps its connections no later than at (unix
// nanoseconds; 0 means no deadline). It runs on the loop. A deadline later
// than the one the timer is armed for costs nothing: the sweep then
// re-arms the timer for whatever is earliest.
func (lp *loop) wakeBy(at int64) {
	if at == 0 || (lp.wakeAt != 0 && lp.wakeAt <= at) {
		return
	}
	lp.wakeAt = at
	d := time.Duration(at - clock())
	if lp.sweepTimer == nil {
		lp.sweepTimer = time.AfterFunc(d, func() {
			_ = lp.el.Execute(context.Background(), lp.sweepTask)
		})
		return
	}
	lp.sweepTimer.Reset(d)
}

// retryLater runs task on the loop about a millisecond from now. gnet
// tells nobody when a connection's outbound backlog drains, so a relay
// paused for backpressure (the other side's backlog above highWater) looks
// again shortly. One timer per loop serves every paused connection, armed
// only while one waits and only from the loop, so once the loop stops it
// fires at most once more, into a loop that refuses the task.
func (lp *loop) retryLater(task gnet.RunnableFunc) {
	lp.retries = append(lp.retries, task)
	if lp.retryArmed {
		return
	}
	lp.retryArmed = true
	if lp.retryTimer == nil {
		lp.retryTimer = time.AfterFunc(time.Millisecond, func() {
			_ = lp.el.Execute(context.Background(), lp.retryTask)
		})
		return
	}
	lp.retryTimer.Reset(time.Millisecond)
}

// runRetries runs the tasks retryLater queued. It runs on the loop; a
// task that must wait longer queues itself again.
func (lp *loop) runRetries() {
	lp.retryArmed = false
	tasks := lp.retries
	lp.retries = lp.spare[:0]
	for i, task := range tasks {
		_ = task(context.Background())
		tasks[i] = nil
	}
	lp.spare = tasks[:0]
}

// sweep enforces every deadline of the loop's connections and arms the
// timer for the earliest one left. It runs on the loop: when the timer
// fires, and when the engine starts draining.
func (lp *loop) sweep() {
	now := clock()
	lp.wakeAt = 0
	lp.sweeps.Add(1)
	draining := lp.l.s.draining.Load()
	next := int64(0)
	earliest := func(at int64) {
		if at != 0 && (next == 0 || at < next) {
			next = at
		}
	}
	// Iterate backwards: expiring a connection may remove it (swap-remove
	// moves the last element into its slot, which was already visited).
	for i := len(lp.clients) - 1; i >= 0; i-- {
		if i < len(lp.clients) {
			earliest(lp.clients[i].sweep(now, draining))
		}
	}
	for i := len(lp.ups) - 1; i >= 0; i-- {
		if i < len(lp.ups) {
			earliest(lp.ups[i].sweep(now))
		}
	}
	lp.wakeBy(next)
}

func (lp *loop) addClient(cc *clientConn) {
	cc.idx = len(lp.clients)
	lp.clients = append(lp.clients, cc)
}

func (lp *loop) removeClient(cc *clientConn) {
	i := cc.idx
	if i < 0 || i >= len(lp.clients) || lp.clients[i] != cc {
		return
	}
	last := len(lp.clients) - 1
	lp.clients[i] = lp.clients[last]
	lp.clients[i].idx = i
	lp.clients[last] = nil
	lp.clients = lp.clients[:last]
	cc.idx = -1
}

func (lp *loop) addUp(u *upConn) {
	u.idx = len(lp.ups)
	lp.ups = append(lp.ups, u)
}

func (lp *loop) removeUp(u *upConn) {
	i := u.idx
	if i < 0 || i >= len(lp.ups) || lp.ups[i] != u {
		return
	}
	last := len(lp.ups) - 1
	lp.ups[i] = lp.ups[last]
	lp.ups[i].idx = i
	lp.ups[last] = nil
	lp.ups = lp.ups[:last]
	u.idx = -1
}

// poolFor returns this loop's connections to p's targets. Pools are keyed
// by the runtime's pool object, which survives reloads that leave the
// upstream unchanged, so warm connections survive them too.
func (lp *loop) poolFor(p *pipeline.UpstreamPool) *loopPool {
	lpp := lp.pools[p]
	if lpp == nil {
		lpp = newLoopPool(lp, p)
		lp.pools[p] = lpp
	}
	return lpp
}
