package gnetengine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tollgate-proxy/tollgate/filters"
)

// The audit log on an event loop.
//
// The default engine writes a request's record before it releases the
// response, blocking the request's goroutine until the record is in the
// file. A loop serves every connection it holds and must not block, so
// here the record is queued with the audit log's QueueFunc when the
// response is complete (account), the end of the response (its last
// bytes, or for a response delimited by closing the connection, the
// close) is held on the request, and the connection waits in stRecording.
// After the epoll round (commitRound) the loop commits what its turns
// queued, in one write on the loop (auditlog/commit.go); the log
// acknowledges each record on the goroutine that committed it, which puts
// the request on its loop's ack queue, and the loop then releases the
// held bytes and moves on. The loop's own records come back within the
// same commitRound, with nothing woken. A client never sees a complete
// response whose record is not written, and the record carries the bytes
// really sent.
//
// If the record fails under fail-closed, a response of which nothing has
// been sent becomes 503 audit.unavailable; one that was partly relayed is
// cut off by closing the connection.
//
// Strict mode works the same way one step earlier: the decision record is
// queued when the filters allow the request, the connection waits in
// stDeciding, and the acknowledgement forwards the request (or refuses it,
// whatever the failure policy, if the record failed).
//
// # What the hand-off costs (issue #13)
//
// Measured 2026-12-06 on the shared 2-core machine (load average 5–12),
// wrk -t2 -c64 on GET through the gnet engine to the demo upstream, perf
// stat on the proxy, audit off against audit process, each figure per
// request (scripts/syscalls.sh --audit reproduces the same columns):
//
//	                     audit off   audit process
//	system calls         4.3–4.6     4.9–5.2
//	  write + writev     1.93–1.99   1.99–2.06 (writes only)
//	  epoll_pwait        0.21–0.23   0.32–0.39
//	  futex              0.02–0.15   0.19–0.27
//	  nanosleep          0.04–0.36   0.28–0.43
//	  pwrite64           0           0.07 (≈15 records per group)
//	context switches     0.27–0.73   0.70–0.97
//
// The response is one write either way: the held end (head and body of a
// small response) goes out in one write once acknowledged, where audit off
// writes it with one writev; the extra writes are the eventfd wake-ups,
// about 0.04 per request, one per loop and group. The rest of the extra
// system calls are the Go scheduler's: the sequencer goroutine is woken
// (futex) and its wake-up stolen by an idle thread (nanosleep), and,
// as we read the profile, both loops' threads wait in epoll_wait holding
// their Ps, so sysmon retakes one to run the sequencer (perf record: runtime.sysmon 12% of the
// process's samples with the log against 9% without, the scheduler's
// park/stop/start 7% against 4%, the sequencer 4%, the caller's encoding
// 2.5%, gnet's Execute and the eventfd write 1.5%).
//
// Draining at the end of a turn (below) moved more than half of the
// drain work off gnet's Execute (perf record: drainAcks in 22% of the
// samples, only 9% under Execute's task, the rest at turns' ends), and in five interleaved rounds against the
// build before it (same run, same load), with the log on: system calls
// 4.94–5.09 against 5.01–5.18 per request, context switches 0.76–0.87
// against 0.79–0.97, futex 0.21–0.24 against 0.23–0.27. CPU per request
// moved within the noise (±20% between rounds on this machine).
//
// With GOMAXPROCS=3 (one P more than the two loops, which block in
// epoll_wait holding theirs) the same build used 8–17% less CPU per
// request with the log on and 6–17% less with it off, nanosleep fell from
// 0.30–0.35 to 0.09–0.13 per request and context switches from 0.75–0.81
// to 0.55–0.64 (three interleaved rounds). It helps both modes alike, so
// the log's share stays (1.13–1.30× against 1.16–1.22×). It also brings
// the p99 with the log on down to the p99 without it, and for that the
// process takes the spare P when the environment does not set GOMAXPROCS
// (cmd/tollgate/procs.go, where the choice belongs).
//
// # Committing on the loop
//
// The figures above are of a log whose own goroutine committed every
// group: woken by the loops, it woke them back. Then the loop committed
// its turn's records itself at the turn's end, and handed the log's
// goroutine only what may block (disk mode's fdatasync, sealing,
// checkpoints), as it still does. The same script on the builds before
// and after, interleaved, two runs of two rounds each
// (scripts/syscalls.sh --audit 6, 2026-12-06, load average 5–7): with the
// log on, context switches per request 0.48–0.67 against 0.67–0.77, CPU
// per request 1.20–1.37× the log-off figure of the same round against
// 1.27–1.44×; system calls rose, 5.36–5.53 against 4.93–5.05, because a
// turn holds one request here and so every group was one record
// (tollgate_audit_groups_total equalled the records): a pwrite per
// request instead of one per 15, which cost less than the wake-ups it
// replaced.
//
// # Committing once per epoll round
//
// A turn ends with one request's response, so committing at every turn's
// end made every group one record. Now a turn that queued records
// schedules commitRound with gnet's Execute, once until it runs: gnet
// runs its tasks after the callbacks of an epoll round, and since the
// eventfd write makes the next epoll_wait return at once, the task runs
// after the next round's callbacks, and its one write holds the records
// of every turn in between. Held responses go out one epoll round later
// than before; the loop never waits for it. With wrk -c64 on two loops a
// group holds about 11 records instead of one (tollgate_audit_groups_total
// against tollgate_audit_records_total), and BENCHMARKS.md ("Committing
// once per epoll round") has the cost before and after: with the log on,
// 1.08–1.27× the CPU per request of the log off against 1.28–1.32× in
// interleaved runs, and 1.15× in a run on a quiet machine.
//
// Where the rest goes, from CPU profiles of the proxy (/debug/pprof/profile,
// 15 s under wrk -t2 -c64, audit off then on, 2026-12-06), per request: of
// +4.5µs, the entry and the record's encoding (RecordFunc) +1.2µs, the
// commit +1.4µs (its pwrite 0.6µs at about 11 records per group, S2
// 0.2µs, the tree's hashes 0.2µs, the acknowledgements 0.2µs), Execute
// 0.4µs, and the rest spread over more epoll_wait calls, the scheduler
// (gnet yields the processor when a zero-timeout epoll_wait finds nothing)
// and socket writes that cost more per call.
//
// Measured and not kept: queueing the next commit from commitRound when
// its round brought several records, so that gnet runs it after the very
// next round and responses go out a round sooner. Against this build,
// two binaries side by side, 19 interleaved rounds of 5 s under wrk -t2
// -c64: CPU per request 0.98× the median (0.87–1.22×, lower in 13 rounds),
// req/s and group sizes the same. Within the noise, so the simpler
// schedule stays.
//
// Not done: acknowledging at hand-off in process mode (the record is then
// only in memory, and process mode promises that kill -9 loses nothing
// acknowledged, auditlog/doc.go).

// ackQueue carries requests back to the loop from other goroutines: the
// audit log's acknowledgements, and chains that ran off the loop because
// a filter may wait. One task drains everything queued since the last
// drain, so the loop is woken once per group commit, not per request.
//
// An acknowledgement that arrives while the loop is inside one of its
// turns (a callback in progress: OnTraffic, the drain task or the
// round's commit) does not wake the loop at all: pushAck sees the turn
// flag and leaves the requests to endTurn, which drains the queue before
// the loop goes back to epoll. A wake-up is gnet's Execute: a task
// allocated on the caller's side, an eventfd write, and an extra epoll
// round on the loop. The flag and the queue's length are an instance of
// Dekker's handshake (sequentially consistent atomics): pushAck publishes
// the length, then reads the flag; endTurn clears the flag, then reads the
// length. At least one of them sees the other's write, so an
// acknowledgement is either drained by endTurn or woken for, never left
// behind.
type ackQueue struct {
	mu      sync.Mutex
	reqs    []*request
	spare   []*request
	n       atomic.Int32 // len(reqs), readable without mu
	pending atomic.Bool  // a drain task is queued on the loop
	turn    atomic.Bool  // the loop is inside a turn that ends with endTurn
	wakes   atomic.Uint64
}

// onRecorded is the request's AppendFunc callback (bound once per pooled
// request). It runs on the audit log's goroutine.
func (r *request) onRecorded(_ uint64, err error) {
	r.ackErr = err // read on the loop after pushAck's lock
	r.cc.lp.pushAck(r)
}

// pushAck hands req back to its loop. It runs on another goroutine.
func (lp *loop) pushAck(req *request) {
	q := &lp.acks
	q.mu.Lock()
	q.reqs = append(q.reqs, req)
	q.n.Store(int32(len(q.reqs)))
	q.mu.Unlock()
	if q.turn.Load() {
		return // the loop is in a turn: endTurn drains (see ackQueue)
	}
	if !q.pending.Swap(true) {
		q.wakes.Add(1)
		// An error means the engine is stopping and its connections are
		// being closed; the requests are then simply dropped.
		_ = lp.el.Execute(context.Background(), lp.ackTask)
	}
}

// beginTurn marks the loop busy in a callback: acknowledgements that
// arrive until endTurn wait for it instead of waking the loop. It runs on
// the loop, and every beginTurn is followed by endTurn.
func (lp *loop) beginTurn() { lp.acks.turn.Store(true) }

// queuedRecord notes that the loop queued an audit record. Within a turn
// the record waits for the end of the epoll round (commitRound), which
// commits every record of the round in one write; outside one (a sweep,
// a retry) it is committed at once.
func (lp *loop) queuedRecord() {
	if lp.acks.turn.Load() {
		lp.uncommitted = true
		return
	}
	lp.l.s.p.CommitAudit()
}

// maxRoundCommits bounds the commits of one commitRound: settling
// acknowledged requests can start pipelined ones whose records are queued
// in turn.
const maxRoundCommits = 4

// endTurn ends a turn. If the turn queued audit records and no commit is
// scheduled yet, it schedules commitRound, which gnet runs once the
// callbacks of the epoll round after this one are done, so that one
// write commits what the loop's turns queued meanwhile. It then settles
// the acknowledgements that arrived during the turn, outside it, so what
// arrives meanwhile wakes the loop as usual. It runs on the loop.
func (lp *loop) endTurn() {
	if lp.uncommitted && !lp.commitScheduled {
		lp.commitScheduled = true
		if err := lp.el.Execute(context.Background(), lp.commitTask); err != nil {
			// The engine is stopping: commit now rather than never.
			lp.commitScheduled = false
			lp.uncommitted = false
			lp.l.s.p.CommitAudit()
		}
	}
	lp.acks.turn.Store(false)
	if lp.acks.n.Load() > 0 {
		lp.drainAcks()
	}
}

// commitRound is a turn of its own that commits the audit records the
// loop's turns queued, then settles the acknowledgements that came back,
// its own among them (the commit calls them back on this loop while the
// turn flag keeps them from waking it), and again for what settling
// queued. It runs on the loop, as a task after an epoll round.
func (lp *loop) commitRound() {
	lp.beginTurn()
	lp.commitScheduled = false
	q := &lp.acks
	for range maxRoundCommits {
		if !lp.uncommitted {
			break
		}
		lp.uncommitted = false
		lp.l.s.p.CommitAudit()
		if q.n.Load() == 0 {
			break
		}
		lp.drainAcks()
	}
	lp.endTurn()
}

// drainAcks settles every acknowledged request. It runs on the loop.
func (lp *loop) drainAcks() {
	q := &lp.acks
	q.pending.Store(false)
	q.mu.Lock()
	reqs := q.reqs
	q.reqs = q.spare
	q.n.Store(0)
	q.mu.Unlock()
	for i, req := range reqs {
		reqs[i] = nil
		waited := req.waiting
		req.waiting = waitNone
		switch waited {
		case waitFilters:
			req.cc.filtered(req)
		case waitDecision:
			req.cc.decided(req)
		case waitRecord:
			req.auditErr = lp.l.s.p.Settle(req.ackErr)
			lp.l.s.p.Leave(&req.Request)
			req.cc.settle(req)
		}
	}
	q.mu.Lock()
	q.spare = reqs[:0]
	q.mu.Unlock()
}

// filtered carries on with a request whose chain ran off the loop.
func (cc *clientConn) filtered(req *request) {
	if cc.state == stClosed {
		req.Ex.Refuse(filters.ReasonClientAborted)
		req.Ex.Status = filters.ReasonClientAborted.Status
		cc.finish()
		return
	}
	cc.afterPhase(req.phase, req.allowed)
}

// decided carries on with a strict-mode request once its decision record
// is acknowledged: forward it, refuse it if the record failed, or record
// it as aborted if its client left meanwhile.
func (cc *clientConn) decided(req *request) {
	err := req.ackErr
	req.ackErr = nil
	forward := cc.lp.l.s.p.Decided(&req.Request, err)
	switch {
	case cc.state == stClosed:
		req.Ex.Refuse(filters.ReasonClientAborted)
		req.Ex.Status = filters.ReasonClientAborted.Status
		cc.finish()
	case !forward:
		cc.respond()
	default:
		cc.forward()
	}
}

// writeLast writes the last bytes of a response, a then b, or keeps them
// on the request while its record is on its way.
func (cc *clientConn) writeLast(req *request, a, b []byte) {
	if req.waiting == waitRecord || req.auditErr != nil {
		req.held = append(append(req.held[:0], a...), b...)
		return
	}
	cc.write2(req, a, b)
}

// write2 writes a then b with one system call.
func (cc *clientConn) write2(req *request, a, b []byte) {
	switch {
	case len(a) > 0 && len(b) > 0:
		req.iov[0], req.iov[1] = a, b
		_, _ = cc.c.Writev(req.iov)
		req.iov[0], req.iov[1] = nil, nil
	case len(a) > 0:
		_, _ = cc.c.Write(a)
	case len(b) > 0:
		_, _ = cc.c.Write(b)
	}
}

// releaseHeld sends what writeLast kept, or what replaces it when the
// record failed under fail-closed.
func (cc *clientConn) releaseHeld(req *request) {
	if cc.state == stClosed {
		return
	}
	err := req.auditErr
	if err == nil {
		if len(req.held) > 0 {
			_, _ = cc.c.Write(req.held)
		}
		return
	}
	req.keepAlive = false
	if req.wrote {
		// Part of the response is out: only closing tells the client.
		cc.state = stClosed
		_ = cc.c.Close()
		return
	}
	req.AuditUnavailable()
	_, _ = cc.c.Write(cc.problemResponse(req))
}
