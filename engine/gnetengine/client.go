package gnetengine

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Reading a client connection.
//
// A loop serves every connection it holds, so a connection never waits
// for its bytes: its state says where it stopped, and process, called
// whenever the client's bytes arrive or what the connection waited for
// comes back, advances it as far as the buffered bytes allow. The head is
// parsed and begun in the pipeline, the head part of the route's chain
// runs, the body is buffered (or streamed later), the body part runs, and
// an allowed request is forwarded to an upstream connection on the same
// loop (upstream.go), its streamed body pumped as it arrives. A filter
// that would have to wait runs off the loop and its verdict re-enters
// here. How the request ends (its answer, its record, the connection's
// next request or its close, the timeouts) is finish.go's.

// Client connection states.
const (
	stReadHead = iota // waiting for (the rest of) a request head
	stReadBody        // buffering a request body before the chain runs
	stUpstream        // the request is with the upstream; its response is relayed
	stClosing         // the last response is being flushed before closing
	stClosed
	stRecording // the response is complete; its end waits for the audit record (audit.go)
	stDeciding  // strict mode: the request waits for its decision record (audit.go)
	stFiltering // a filter that has to wait runs off the loop (runChain)
)

// highWater is the outbound backlog above which the relay stops feeding a
// connection and waits for it to drain below lowWater.
const (
	highWater = 256 << 10
	lowWater  = 64 << 10
)

// maxPipelined bounds the bytes a client may send ahead while a request of
// its is in flight.
const maxPipelined = 1 << 20

// clientConn is one client connection. Requests on it are served one at a
// time, in order: while one is in flight, pipelined bytes wait in gnet's
// inbound buffer.
type clientConn struct {
	lp   *loop
	c    gnet.Conn
	idx  int
	peer netip.Addr

	state     uint8
	inProcess bool
	req       *request
	deadline  int64 // unix nanoseconds; 0 means none

	// Write-stall detection while a response is relayed.
	lastOut      int
	lastProgress int64

	pumpScheduled bool
	pumpTask      gnet.RunnableFunc
	paused        bool // reads taken out of the loop's epoll set
	served        int  // requests answered on this connection
}

func (lp *loop) newClient(c gnet.Conn) *clientConn {
	cc := &clientConn{lp: lp, c: c}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			cc.peer = ip.Unmap()
		}
	}
	cc.pumpTask = func(context.Context) error {
		cc.pumpScheduled = false
		if cc.state == stClosed {
			return nil
		}
		if req := cc.req; req != nil && req.up != nil && req.up.c != nil && req.up.c.OutboundBuffered() > lowWater {
			cc.schedulePump()
			return nil
		}
		cc.unpause()
		cc.process()
		return nil
	}
	lp.addClient(cc)
	// A new connection's first request must arrive within header_timeout
	// (slowloris, silent sockets); between requests idle_timeout applies.
	cc.setDeadline(lp.l.cfg.HeaderTimeout.D())
	return cc
}

func (cc *clientConn) setDeadline(d time.Duration) {
	if d <= 0 {
		cc.deadline = 0
		return
	}
	cc.deadline = clock() + int64(d)
	cc.lp.wakeBy(cc.deadline)
}

func (cc *clientConn) onTraffic() { cc.process() }

// process advances the connection as far as the buffered bytes allow. It
// never waits: when it needs more bytes it returns, and the next event
// (traffic, upstream progress, the sweeper) calls it again.
func (cc *clientConn) process() {
	if cc.inProcess {
		return
	}
	cc.inProcess = true
	defer func() { cc.inProcess = false }()
	cfg := &cc.lp.l.cfg
	for {
		switch cc.state {
		case stReadHead:
			buf, _ := cc.c.Peek(-1)
			if len(buf) == 0 {
				return
			}
			if cc.req == nil {
				cc.req = acquireRequest()
				cc.req.cc = cc
				cc.setDeadline(cfg.HeaderTimeout.D())
			}
			n, reason := cc.lp.reqParser.parseRequest(&cc.req.hdr, buf, int(cfg.MaxHeaderBytes))
			if n == 0 && reason == nil {
				return
			}
			if n > 0 {
				_, _ = cc.c.Discard(n)
			}
			cc.begin(reason, buf)
		case stReadBody:
			if !cc.readBody() {
				return
			}
			cc.runChain(phaseBody)
		case stUpstream:
			req := cc.req
			if req.bodyMode == bmStream && req.bodyLeft > 0 {
				cc.pumpBody()
				return
			}
			if cc.c.InboundBuffered() > maxPipelined {
				cc.abort()
			}
			return
		case stClosing:
			if n := cc.c.InboundBuffered(); n > 0 {
				_, _ = cc.c.Discard(n)
			}
			return
		default:
			return
		}
	}
}

// begin starts serving the request whose head was just parsed (or refuses
// it when reason is not nil; buf then holds the refused bytes).
func (cc *clientConn) begin(reason *filters.Reason, buf []byte) {
	s := cc.lp.l.s
	req := cc.req
	r := &req.Request
	l := cc.lp.l
	if reason != nil {
		s.p.Malformed(r, &l.info, cc.peer, time.Now(), reason)
		if m, t := requestLine(buf); m != nil {
			r.Attempted(m, t)
		}
		req.keepAlive = false
		cc.respond()
		return
	}
	h := &req.hdr
	req.head = h.IsHead()
	// fasthttp reads an HTTP/1.0 request as closing unless it says
	// "Connection: keep-alive" (the HTTP/1.0 extension ab -k and older
	// clients use), which is kept alive as on the goroutine engine.
	req.wantKeepAlive = !h.ConnectionClose() && !s.draining.Load()
	req.keepAlive = req.wantKeepAlive
	cl := h.ContentLength()
	if cl != 0 && cl != -2 {
		// Until the body is read, a refusal must close the connection:
		// the unread body would be taken for the next request.
		req.keepAlive = false
	}
	if !s.p.Begin(r, &l.info, h, cc.peer, time.Now()) {
		cc.respond()
		return
	}
	// Identity and policy first: the body is read only for a request
	// they allow.
	cc.runChain(phaseHead)
}

// afterHead goes on with a request the head part of its chain allowed:
// its body is read (or will be streamed), then the rest of the chain runs.
func (cc *clientConn) afterHead() {
	req := cc.req
	l := cc.lp.l
	switch cl := req.hdr.ContentLength(); {
	case cl > 0 && cl <= int(l.cfg.StreamThreshold):
		req.bodyMode, req.bodyLeft = bmBuffered, int64(cl)
	case cl > 0:
		req.bodyMode, req.bodyLeft = bmStream, int64(cl)
		req.SetBody(nil, int64(cl))
	case cl == -1:
		req.bodyMode = bmChunked
	}
	if req.bodyMode != bmNone && cc.c.InboundBuffered() == 0 && expectsContinue(&req.hdr) {
		// The client waits for a go-ahead before it sends the body (curl
		// does for bodies over 1 MiB, for up to a second): the head part
		// of the chain allowed the request, so give it (RFC 9110
		// §10.1.1). A refused request got its final answer instead.
		_, _ = cc.c.Write(str100Continue)
	}
	if req.bodyMode == bmBuffered || req.bodyMode == bmChunked {
		cc.state = stReadBody
		cc.setDeadline(l.cfg.ReadTimeout.D())
		if !cc.inProcess {
			// The head part ran off the loop: the body may be in already,
			// and no new traffic would come to read it.
			cc.process()
		}
		return
	}
	cc.runChain(phaseBody)
}

// expectsContinue reports whether an HTTP/1.1 request asked for a 100
// (Continue) before sending its body.
func expectsContinue(h *fasthttp.RequestHeader) bool {
	return h.IsHTTP11() && bytes.EqualFold(h.PeekBytes(strExpect), strContinue)
}

// readBody buffers a Content-Length or chunked body, enforcing the limit.
// It reports whether the body is complete.
func (cc *clientConn) readBody() bool {
	req := cc.req
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 {
		return false
	}
	switch req.bodyMode {
	case bmBuffered:
		k := int64(len(buf))
		if k > req.bodyLeft {
			k = req.bodyLeft
		}
		req.body = append(req.body, buf[:k]...)
		_, _ = cc.c.Discard(int(k))
		req.bodyLeft -= k
		if req.bodyLeft > 0 {
			return false
		}
	case bmChunked:
		n, err := req.chunks.Scan(buf, &req.body)
		_, _ = cc.c.Discard(n)
		if err != nil {
			cc.refuse(filters.ReasonBadRequest)
			return false
		}
		if int64(len(req.body)) > req.Limit {
			cc.refuse(filters.ReasonBodyTooLarge)
			return false
		}
		if !req.chunks.Done() {
			return false
		}
		// Re-framed with a length: the upstream never sees chunking.
		req.hdr.SetContentLength(len(req.body))
	}
	req.SetBody(req.body, int64(len(req.body)))
	req.keepAlive = req.wantKeepAlive
	return true
}

// The two parts of a route's chain (filters.Chain.RunHead, RunBody).
const (
	phaseHead = iota // before the body is read: identity, policy, limits
	phaseBody        // once the body is in: validation
)

// runChain runs one part of the route's filters on the loop, up to the
// first filter that would have to wait (introspection on a cache miss, a
// rate limit with no lease left, a concurrency queue: filters.Waiter).
// Most requests decide there. Only when a filter would wait does the rest
// of the part run on a goroutine the server owns, from that filter on,
// while the connection waits in stFiltering, so the loop never waits with
// it; the verdict comes back through the loop's ack queue (audit.go) to
// afterPhase.
func (cc *clientConn) runChain(phase uint8) {
	req := cc.req
	s := cc.lp.l.s
	allowed, resume, done := s.tryFilter(req, phase)
	if done {
		cc.afterPhase(phase, allowed)
		return
	}
	req.waiting = waitFilters
	req.phase = phase
	cc.state = stFiltering
	cc.deadline = 0
	lp := cc.lp
	s.p.CountOffLoop()
	if !s.goOffLoop(func() {
		req.allowed = s.p.ResumeFilters(&req.Request, resume)
		lp.pushAck(req)
	}) {
		// The server is stopping: nothing runs off the loop any more.
		req.waiting = waitNone
		req.keepAlive = false
		cc.refuse(filters.ReasonOverloaded)
	}
}

// tryFilter runs one part of req's chain on the loop (see runChain).
func (s *Server) tryFilter(req *request, phase uint8) (allowed bool, resume int, done bool) {
	if phase == phaseHead {
		return s.p.TryFilterHead(&req.Request)
	}
	return s.p.TryFilterBody(&req.Request)
}

// afterPhase goes on once a part of the chain decided.
func (cc *clientConn) afterPhase(phase uint8, allowed bool) {
	switch {
	case !allowed:
		cc.respond()
	case phase == phaseHead:
		cc.afterHead()
	default:
		cc.afterFilters(true)
	}
}

// afterFilters answers a refused request, or records and forwards an
// allowed one.
func (cc *clientConn) afterFilters(allowed bool) {
	req := cc.req
	if !allowed {
		cc.respond()
		return
	}
	wait, ok := cc.lp.l.s.p.Admit(&req.Request, req.ackFn)
	switch {
	case wait:
		// Strict mode: forward when the decision record is acknowledged
		// (audit.go).
		req.waiting = waitDecision
		cc.state = stDeciding
		cc.deadline = 0
		cc.lp.queuedRecord()
	case !ok:
		cc.respond()
	default:
		cc.forward()
	}
}

// forward sends an allowed request upstream.
func (cc *clientConn) forward() {
	req := cc.req
	// The body is read, or will be streamed whole: the connection can
	// carry another request after this one.
	req.keepAlive = req.wantKeepAlive
	cc.lp.l.s.p.PrepareUpstream(&req.Request)
	req.out = req.hdr.AppendBytes(req.out[:0])
	if req.bodyMode == bmBuffered || req.bodyMode == bmChunked {
		req.out = append(req.out, req.body...)
	}
	cc.state = stUpstream
	if req.bodyMode == bmStream {
		cc.setDeadline(cc.lp.l.cfg.ReadTimeout.D())
	} else {
		cc.deadline = 0
	}
	cc.lastOut, cc.lastProgress = 0, clock()
	if wt := cc.lp.l.cfg.WriteTimeout.D(); wt > 0 {
		cc.lp.wakeBy(cc.lastProgress + int64(wt)) // the stall check
	}
	if req.Route.Upstream.TLS() {
		// The loop speaks plain TCP to upstreams.
		cc.lp.l.s.p.Warn("gnet engine cannot reach TLS upstreams", "route", req.Route.Info.Name)
		cc.upstreamFailed(filters.ReasonUpstreamDown)
		return
	}
	req.pool = cc.lp.poolFor(req.Route.Upstream)
	req.pool.acquire(req)
}

// pumpBody forwards a streamed request body to the upstream as it
// arrives, pausing while the upstream's outbound backlog is high.
func (cc *clientConn) pumpBody() {
	req := cc.req
	u := req.up
	if u == nil || u.c == nil || u.state != upBusy {
		return // not connected yet: opened() sends and pumps
	}
	if u.c.OutboundBuffered() > highWater {
		// The upstream takes the body slower than the client sends it:
		// stop reading the client until the upstream drains.
		if !cc.paused && cc.c.OutboundBuffered() == 0 {
			cc.paused = pauseRead(cc.lp.epfd, cc.c.Fd())
		}
		cc.schedulePump()
		return
	}
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 {
		return
	}
	k := int64(len(buf))
	if k > req.bodyLeft {
		k = req.bodyLeft
	}
	_, _ = u.c.Write(buf[:k])
	_, _ = cc.c.Discard(int(k))
	req.bodyLeft -= k
	cc.setDeadline(cc.lp.l.cfg.ReadTimeout.D())
	if req.bodyLeft == 0 {
		cc.deadline = 0
	}
}

// schedulePump retries pumpBody shortly (loop.retryLater).
func (cc *clientConn) schedulePump() {
	if cc.pumpScheduled {
		return
	}
	cc.pumpScheduled = true
	cc.lp.retryLater(cc.pumpTask)
}

// unpause gives the connection's reads back to the loop.
func (cc *clientConn) unpause() {
	if cc.paused {
		cc.paused = false
		resumeRead(cc.lp.epfd, cc.c.Fd())
	}
}

var _ gnet.EventHandler = (*listener)(nil)
