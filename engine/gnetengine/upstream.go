package gnetengine

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// Upstream connection states.
const (
	upConnecting = iota
	upIdle
	upBusy
	upClosed
)

// loopPool is one loop's keep-alive connections to one upstream pool's
// targets. A request's upstream connection is always on the request's own
// loop, so its whole round trip runs there without a goroutine hand-off.
type loopPool struct {
	lp      *loop
	p       *pipeline.UpstreamPool
	opts    pipeline.UpstreamOptions
	targets []*target
	rr      int
}

// target is one backend address: its idle connections (most recently used
// last), the number open, and the requests waiting for a connection.
type target struct {
	addr    string
	idle    []*upConn
	open    int
	waiters []*request
}

func newLoopPool(lp *loop, p *pipeline.UpstreamPool) *loopPool {
	lpp := &loopPool{lp: lp, p: p, opts: p.Options()}
	for _, a := range lpp.opts.Targets {
		lpp.targets = append(lpp.targets, &target{addr: a})
	}
	return lpp
}

// acquire finds req a connection: an idle one, a new one, or a place in
// the target's queue when the target is at its connection cap. Targets
// are taken round-robin, leaving out those that recently could not be
// connected to while another is up (UpstreamPool.Pick); a target that
// cannot be dialed passes the request to the next one (the request was
// never sent).
func (lpp *loopPool) acquire(req *request) {
	i := lpp.p.Pick(lpp.rr)
	lpp.rr++
	lpp.acquireAt(req, i)
}

func (lpp *loopPool) acquireAt(req *request, i int) {
	t := lpp.targets[i]
	req.attempts++
	if n := len(t.idle); n > 0 {
		u := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		u.send(req)
		return
	}
	if max := lpp.opts.MaxConnections; max > 0 && t.open >= max {
		t.waiters = append(t.waiters, req)
		return
	}
	lpp.dial(t, i, req)
}

// cancel removes a request that no longer wants a connection (its client
// went away, or it timed out waiting).
func (lpp *loopPool) cancel(req *request) {
	for _, t := range lpp.targets {
		for i, w := range t.waiters {
			if w == req {
				t.waiters = append(t.waiters[:i], t.waiters[i+1:]...)
				return
			}
		}
	}
}

// release returns a healthy connection: to the next waiter, or to the idle
// list.
func (lpp *loopPool) release(u *upConn) {
	t := u.t
	if len(t.waiters) > 0 {
		req := t.waiters[0]
		copy(t.waiters, t.waiters[1:])
		t.waiters[len(t.waiters)-1] = nil
		t.waiters = t.waiters[:len(t.waiters)-1]
		u.send(req)
		return
	}
	u.state = upIdle
	u.req = nil
	u.deadline = 0
	if d := lpp.opts.IdleTimeout; d > 0 {
		u.deadline = clock() + int64(d)
		lpp.lp.wakeBy(u.deadline)
	}
	t.idle = append(t.idle, u)
}

// closed forgets a connection that is gone and lets a waiter dial.
func (lpp *loopPool) closed(u *upConn) {
	t := u.t
	for i, c := range t.idle {
		if c == u {
			t.idle = append(t.idle[:i], t.idle[i+1:]...)
			break
		}
	}
	t.open--
	if len(t.waiters) > 0 {
		req := t.waiters[0]
		copy(t.waiters, t.waiters[1:])
		t.waiters[len(t.waiters)-1] = nil
		t.waiters = t.waiters[:len(t.waiters)-1]
		lpp.dial(t, u.ti, req)
	}
}

// dial opens a connection to t for req. The connect itself runs on a
// short-lived goroutine (connect is a blocking call in Go's net package);
// the connection is then enrolled in this loop, and everything after that
// happens on the loop.
func (lpp *loopPool) dial(t *target, ti int, req *request) {
	t.open++
	lp := lpp.lp
	u := &upConn{lp: lp, pool: lpp, t: t, ti: ti, req: req, state: upConnecting, idx: -1}
	req.up = u
	lp.addUp(u)
	timeout := lpp.opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	el := lp.el
	addr := t.addr
	started := lp.l.s.goOffLoop(func() {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.Dial("tcp", addr)
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			ch, err = el.Enroll(gnet.NewContext(context.Background(), u), conn)
			if err != nil {
				_ = conn.Close()
			} else if res := <-ch; res.Err != nil {
				err = res.Err
			}
		}
		if err != nil {
			_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				u.dialFailed(err)
				return nil
			}))
		}
	})
	if !started {
		u.dialFailed(errors.New("the engine is stopping"))
	}
}

// upConn is one keep-alive connection to an upstream target, registered
// with the loop of the requests it serves.
type upConn struct {
	lp    *loop
	pool  *loopPool
	t     *target
	ti    int
	c     gnet.Conn
	idx   int
	state uint8
	req   *request

	deadline int64
	reusable bool

	resumeScheduled bool
	resumeTask      gnet.RunnableFunc
	paused          bool // reads taken out of the loop's epoll set
}

// opened runs on the loop when the dialed connection is registered.
func (u *upConn) opened(c gnet.Conn) {
	u.c = c
	u.pool.p.Reached(u.ti)
	if u.state == upClosed {
		_ = c.Close()
		return
	}
	u.resumeTask = func(context.Context) error {
		u.resumeScheduled = false
		req := u.req
		if req == nil || u.state != upBusy || !req.gotHead {
			u.unpause()
			return nil
		}
		if req.cc.c.OutboundBuffered() > lowWater {
			u.scheduleResume()
			return nil
		}
		u.unpause()
		u.relay(nil)
		return nil
	}
	if req := u.req; req != nil {
		u.send(req)
		return
	}
	u.pool.release(u)
}

// dialFailed runs on the loop when the connect failed.
func (u *upConn) dialFailed(err error) {
	if u.state == upClosed {
		return
	}
	u.state = upClosed
	u.lp.removeUp(u)
	req := u.req
	u.req = nil
	u.pool.closed(u)
	u.pool.p.Failed(u.ti)
	if req == nil {
		return
	}
	req.up = nil
	lpp := u.pool
	if req.attempts < len(lpp.targets) {
		lpp.acquireAt(req, lpp.p.Pick(u.ti+1))
		return
	}
	lpp.lp.l.s.p.Warn("upstream connect failed", "upstream", lpp.opts.Name, "addr", u.t.addr, "err", err)
	reason := filters.ReasonUpstreamDown
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reason = filters.ReasonUpstreamTimeout
	}
	req.cc.upstreamFailed(reason)
}

// send writes req's head (and buffered body) on the connection.
func (u *upConn) send(req *request) {
	u.req = req
	req.up = u
	u.state = upBusy
	u.reusable = true
	if u.c == nil {
		return // still connecting; opened sends
	}
	u.armRead()
	_, _ = u.c.Write(req.out)
	if req.bodyMode == bmStream && req.bodyLeft > 0 {
		req.cc.pumpBody()
	}
}

// armRead (re)starts the wait for the upstream's next bytes.
func (u *upConn) armRead() {
	u.deadline = 0
	if d := u.pool.opts.Timeout; d > 0 {
		u.deadline = clock() + int64(d)
		u.lp.wakeBy(u.deadline)
	}
}

// onTraffic reads the upstream's response: the head first, then the body,
// relayed to the client as it arrives.
func (u *upConn) onTraffic() {
	req := u.req
	if req == nil || u.state != upBusy {
		// Bytes on an idle connection: the upstream is confused.
		u.close()
		return
	}
	if req.gotHead {
		u.relay(nil)
		return
	}
	for {
		buf, _ := u.c.Peek(-1)
		n, ok := u.lp.respParser.parseResponse(&req.resp, buf, maxResponseHead)
		if !ok {
			u.reusable = false
			req.cc.upstreamFailed(filters.ReasonUpstreamBad)
			return
		}
		if n == 0 {
			return
		}
		_, _ = u.c.Discard(n)
		status := req.resp.StatusCode()
		if status >= 100 && status < 200 {
			if status == 101 {
				u.reusable = false
				req.cc.upstreamFailed(filters.ReasonUpstreamBad)
				return
			}
			// Interim response (RFC 9110 §15.2): wait for the final one.
			req.resp.Reset()
			continue
		}
		break
	}
	u.startResponse()
}

// startResponse builds the client's response head from the upstream's.
func (u *upConn) startResponse() {
	req := u.req
	cc := req.cc
	h := &req.resp
	req.gotHead = true
	status := h.StatusCode()
	switch cl := h.ContentLength(); {
	case req.head || status == 204 || status == 304:
		req.respMode = rmNone
	case cl >= 0:
		req.respMode, req.respLeft = rmLength, int64(cl)
		if cl == 0 {
			req.respMode = rmNone
		}
	case cl == -1:
		req.respMode = rmChunked
		if req.HTTP10 {
			// The upstream spoke HTTP/1.1 (the proxy always does) but the
			// client cannot read chunked coding (RFC 9112 §7.1): relay the
			// decoded body, delimited by closing the connection.
			req.dechunk = true
			req.keepAlive = false
			h.Del(fasthttp.HeaderTransferEncoding)
			h.SetContentLength(-2)
		}
	default:
		req.respMode = rmClose
		req.keepAlive = false
	}
	if h.ConnectionClose() {
		u.reusable = false
	}
	if !cc.lp.l.s.p.PrepareResponse(&req.Request, h) {
		// A response filter panicked: nothing of the response is out, so
		// the client gets the 500 instead, and the upstream connection,
		// its body unread, is not reused.
		u.reusable = false
		req.keepAlive = false
		req.respMode = rmNone
		cc.respond()
		return
	}
	if !req.keepAlive || cc.lp.l.s.draining.Load() {
		req.keepAlive = false
		h.SetConnectionClose()
	} else if req.HTTP10 {
		h.SetCanonical(strConnection, strKeepAlive) // HTTP/1.0 closes unless told
	}
	req.out = h.AppendBytes(req.out[:0])
	u.relay(req.out)
}

// relay passes the body bytes buffered on the upstream connection to the
// client, after head when it is not empty, with one write. It stops early
// while the client's outbound backlog is above highWater and retries
// shortly after.
func (u *upConn) relay(head []byte) {
	req := u.req
	cc := req.cc
	if req.respMode == rmNone {
		account(cc.lp.l.s, req)
		cc.writeLast(req, head, nil)
		u.done()
		return
	}
	if len(head) == 0 && cc.c.OutboundBuffered() > highWater {
		// The client is slower than the upstream: stop reading the
		// upstream until the client drains.
		if !u.paused && u.c.OutboundBuffered() == 0 {
			u.paused = pauseRead(u.lp.epfd, u.c.Fd())
		}
		u.scheduleResume()
		return
	}
	buf, _ := u.c.Peek(-1)
	var k int
	finished := false
	switch req.respMode {
	case rmLength:
		k = len(buf)
		if int64(k) >= req.respLeft {
			k = int(req.respLeft)
			finished = true
			if len(buf) > k {
				u.reusable = false // more bytes than announced
			}
		}
		req.respLeft -= int64(k)
	case rmChunked:
		var dst *[]byte
		if req.dechunk {
			req.decoded = req.decoded[:0]
			dst = &req.decoded
		}
		n, err := req.respChunks.Scan(buf, dst)
		if err != nil {
			u.reusable = false
			_, _ = cc.c.Write(head)
			cc.abort()
			return
		}
		k = n
		if req.respChunks.Done() {
			finished = true
			if len(buf) > k {
				u.reusable = false
			}
		}
	case rmClose:
		k = len(buf)
	}
	body := buf[:k]
	if req.dechunk {
		body = req.decoded
	}
	req.Ex.BytesOut += int64(len(body))
	if finished {
		account(cc.lp.l.s, req)
		cc.writeLast(req, head, body) // copies what it holds: body is discarded below
	} else {
		cc.write2(req, head, body)
		req.wrote = req.wrote || len(head)+len(body) > 0
	}
	if k > 0 {
		_, _ = u.c.Discard(k)
	}
	u.armRead()
	if finished {
		u.done()
	}
}

// unpause gives the connection's reads back to the loop.
func (u *upConn) unpause() {
	if u.paused {
		u.paused = false
		resumeRead(u.lp.epfd, u.c.Fd())
	}
}

func (u *upConn) scheduleResume() {
	if u.resumeScheduled {
		return
	}
	u.resumeScheduled = true
	u.lp.retryLater(u.resumeTask)
}

// done ends a complete response: the request finishes and the connection
// goes back to its pool.
func (u *upConn) done() { u.req.cc.finish() }

// detach is called by the request when it finishes (or its client went
// away): a connection whose response was complete and well-framed is
// reused, any other is closed.
func (u *upConn) detach() {
	req := u.req
	u.req = nil
	switch u.state {
	case upConnecting:
		// The connection is still being made; it joins the pool when
		// registered.
		return
	case upBusy:
		complete := req != nil && req.gotHead &&
			(req.respMode == rmNone || (req.respMode == rmLength && req.respLeft == 0) ||
				(req.respMode == rmChunked && req.respChunks.Done())) &&
			!(req.bodyMode == bmStream && req.bodyLeft > 0)
		if complete && u.reusable && !u.lp.l.s.draining.Load() {
			u.unpause()
			u.pool.release(u)
			return
		}
		u.close()
	}
}

// close closes the connection; onClose does the bookkeeping.
func (u *upConn) close() {
	if u.c != nil && u.state != upClosed {
		_ = u.c.Close()
	}
}

// onClose runs when gnet closed the connection.
func (u *upConn) onClose(err error) {
	if u.state == upClosed {
		return
	}
	u.state = upClosed
	u.lp.removeUp(u)
	u.pool.closed(u)
	req := u.req
	u.req = nil
	if req == nil || req.cc == nil {
		return
	}
	req.up = nil
	cc := req.cc
	switch {
	case !req.gotHead:
		cc.upstreamFailed(filters.ReasonUpstreamDown)
	case req.respMode == rmClose:
		// The close delimits the body (RFC 9112 §6.3): relay what is left
		// and finish.
		if buf, _ := u.c.Peek(-1); len(buf) > 0 {
			_, _ = cc.c.Write(buf)
			req.Ex.BytesOut += int64(len(buf))
		}
		cc.finish()
	default:
		// Cut off mid-body: the client cannot be told except by closing.
		cc.upstreamBroke()
	}
}

// sweep enforces the connection's read and idle deadlines and returns
// the next one (0: none).
func (u *upConn) sweep(now int64) int64 {
	if u.deadline == 0 || now < u.deadline {
		return u.deadline
	}
	switch u.state {
	case upIdle:
		u.close()
	case upBusy:
		req := u.req
		if req == nil {
			u.close()
			return 0
		}
		u.reusable = false
		if !req.gotHead {
			u.lp.l.s.p.Warn("upstream timed out", "upstream", u.pool.opts.Name, "addr", u.t.addr)
			req.cc.upstreamFailed(filters.ReasonUpstreamTimeout)
			return 0
		}
		// Timed out mid-body: the status line is out, so the client can
		// only be told by the close; the record says the upstream broke
		// the response, as the goroutine engine's stream end record does.
		req.cc.upstreamBroke()
	}
	return 0
}
