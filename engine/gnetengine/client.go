package gnetengine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
)

// Client connection states.
const (
	stReadHead = iota // waiting for (the rest of) a request head
	stReadBody        // buffering a request body before the chain runs
	stUpstream        // the request is with the upstream; its response is relayed
	stClosing         // the last response is being flushed before closing
	stClosed
	stRecording // the response is complete; its end waits for the audit record (audit.go)
	stDeciding  // strict mode: the request waits for its decision record (audit.go)
	stFiltering // a chain that may wait runs off the loop (runChain)
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
	cc.setDeadline(lp.l.cfg.IdleTimeout.D())
	return cc
}

func (cc *clientConn) setDeadline(d time.Duration) {
	if d <= 0 {
		cc.deadline = 0
		return
	}
	cc.deadline = cc.lp.now + int64(d)
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
			cc.begin(reason)
		case stReadBody:
			if !cc.readBody() {
				return
			}
			cc.runChain()
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
// it when reason is not nil).
func (cc *clientConn) begin(reason *filters.Reason) {
	s := cc.lp.l.s
	req := cc.req
	ex := &req.ex
	ex.Start = time.Now()
	inFlight := s.inFlight.Add(1)
	req.begun = true
	rt := s.holder.Acquire()
	if rt == nil {
		// Shutting down: no runtime to serve from.
		req.keepAlive = false
		cc.respond(filters.ReasonOverloaded, "")
		return
	}
	req.rt = rt
	ex.SetHeaders(&req.hadapt)
	ex.Generation = rt.Generation
	ex.PeerIP = cc.peer
	ex.ClientIP = cc.peer
	if reason != nil {
		s.parseErrors.Inc()
		cc.setRequestID(false)
		cc.respond(reason, "")
		return
	}
	h := &req.hdr
	req.head = h.IsHead()
	req.wantKeepAlive = !h.ConnectionClose() && h.IsHTTP11() && !s.draining.Load()
	req.keepAlive = req.wantKeepAlive
	if max := rt.Config.Limits.MaxInFlight; max > 0 && inFlight > int64(max) {
		// Shed before doing any work for the request.
		s.shed.Inc()
		ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
		cc.setRequestID(false)
		cc.respond(filters.ReasonOverloaded, "")
		return
	}
	lset := rt.Listeners[cc.lp.l.name]
	ex.Method = h.Method()
	ex.Host = h.Host()
	ex.RawTarget = h.RequestURI()
	ex.ContentLength = int64(h.ContentLength())
	req.trusted = lset != nil && lset.IsTrusted(cc.peer)
	if req.trusted {
		ex.ClientIP = forward.ClientIP(h.Peek(forward.HeaderXFF), cc.peer, lset)
	}
	cc.setRequestID(req.trusted)

	cl := h.ContentLength()
	if cl != 0 && cl != -2 {
		// Until the body is read, a refusal must close the connection:
		// the unread body would be taken for the next request.
		req.keepAlive = false
	}
	rawPath, query, ok := forward.SplitTarget(ex.RawTarget)
	if !ok {
		cc.respond(filters.ReasonBadPath, "request target must be origin-form or absolute-form")
		return
	}
	ex.Query = query
	var err error
	req.path, err = router.Normalize(req.path[:0], rawPath)
	if err != nil {
		cc.respond(filters.ReasonBadPath, err.Error())
		return
	}
	ex.Path = req.path

	id, res := rt.Router.Lookup(ex.Host, ex.Method, ex.Path, &ex.Params)
	switch res {
	case router.Found:
	case router.MethodNotAllowed:
		req.allow = append(req.allow[:0], rt.Router.Allow(ex.Host, ex.Path)...)
		cc.respond(filters.ReasonMethodNotAllowed, "")
		return
	default:
		cc.respond(filters.ReasonNoRoute, "")
		return
	}
	route := rt.Routes[id]
	req.route = route
	ex.Route = &route.Info

	req.limit = route.MaxBodyBytes
	if req.limit <= 0 {
		req.limit = int64(cc.lp.l.cfg.MaxBodyBytes)
	}
	switch {
	case cl > 0 && int64(cl) > req.limit:
		cc.respond(filters.ReasonBodyTooLarge, "")
		return
	case cl > 0 && cl <= int(cc.lp.l.cfg.StreamThreshold):
		req.bodyMode, req.bodyLeft = bmBuffered, int64(cl)
	case cl > 0:
		req.bodyMode, req.bodyLeft = bmStream, int64(cl)
		ex.BytesIn = int64(cl)
	case cl == -1:
		req.bodyMode = bmChunked
	}
	if req.bodyMode == bmBuffered || req.bodyMode == bmChunked {
		cc.state = stReadBody
		cc.setDeadline(cc.lp.l.cfg.ReadTimeout.D())
		return
	}
	cc.runChain()
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
		n, err := req.chunks.scan(buf, &req.body)
		_, _ = cc.c.Discard(n)
		if err != nil {
			cc.respond(filters.ReasonBadRequest, "")
			return false
		}
		if int64(len(req.body)) > req.limit {
			cc.respond(filters.ReasonBodyTooLarge, "")
			return false
		}
		if !req.chunks.done() {
			return false
		}
		// Re-framed with a length: the upstream never sees chunking.
		req.hdr.SetContentLength(len(req.body))
	}
	req.ex.Body = req.body
	req.ex.BytesIn = int64(len(req.body))
	req.keepAlive = req.wantKeepAlive
	return true
}

// runFilters runs the request's chain behind a recovery boundary. It
// touches only the request, so it may run off the loop.
func (s *Server) runFilters(req *request) (v filters.Verdict, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			s.log.Error("recovered from a panic in a filter", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	return req.route.Chain.Run(&req.ex), false
}

// runChain runs the route's filters and forwards an allowed request. A
// chain with a filter that may wait (introspection on a cache miss, a
// concurrency queue) runs on its own goroutine while the connection waits
// in stFiltering, so the loop never waits with it; the verdict comes back
// through the loop's ack queue (audit.go).
func (cc *clientConn) runChain() {
	req := cc.req
	s := cc.lp.l.s
	if req.route.Chain.MayBlock() {
		req.waiting = waitFilters
		cc.state = stFiltering
		cc.deadline = 0
		lp := cc.lp
		go func() {
			req.verdict, req.panicked = s.runFilters(req)
			lp.pushAck(req)
		}()
		return
	}
	v, panicked := s.runFilters(req)
	cc.afterFilters(v, panicked)
}

// afterFilters answers a refused request, or records and forwards an
// allowed one.
func (cc *clientConn) afterFilters(v filters.Verdict, panicked bool) {
	req := cc.req
	if panicked {
		// A filter panicked: answer 500 and close, instead of taking every
		// connection of the process down.
		req.keepAlive = false
		cc.respond(filters.ReasonInternal, "")
		return
	}
	if !v.IsContinue() {
		cc.respond(v.Reason(), "")
		return
	}
	if rec := cc.lp.l.s.recorder; rec != nil {
		refuse := rec.Refuse()
		if !refuse && rec.Strict() {
			// Strict mode: the decision record first (audit.go); forward
			// when it is acknowledged.
			if refuse = rec.RecordDecisionFunc(&req.ex, req.rt.Roles, time.Now(), req.ackFn) != nil; !refuse {
				req.waiting = waitDecision
				cc.state = stDeciding
				cc.deadline = 0
				return
			}
		}
		if refuse {
			cc.refuseUnrecorded()
			return
		}
	}
	cc.forward()
}

// refuseUnrecorded fails closed: what cannot be recorded is not forwarded.
func (cc *clientConn) refuseUnrecorded() {
	cc.req.ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
	cc.respond(engine.ReasonAuditUnavailable, "")
}

// forward sends an allowed request upstream.
func (cc *clientConn) forward() {
	req := cc.req
	// The body is read, or will be streamed whole: the connection can
	// carry another request after this one.
	req.keepAlive = req.wantKeepAlive
	cc.prepareUpstreamRequest()
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
	cc.lastOut, cc.lastProgress = 0, cc.lp.now
	if req.route.Upstream.TLS() {
		// The loop speaks plain TCP to upstreams.
		cc.lp.l.s.throttled.Warn("gnet engine cannot reach TLS upstreams", "route", req.route.Info.Name)
		cc.upstreamFailed(filters.ReasonUpstreamDown)
		return
	}
	req.pool = cc.lp.poolFor(req.route.Upstream)
	req.pool.acquire(req)
}

// prepareUpstreamRequest rewrites the request head for the upstream: the
// normalized target, hop-by-hop fields removed, forwarding headers set. It
// mirrors the default engine's.
func (cc *clientConn) prepareUpstreamRequest() {
	req := cc.req
	ex := &req.ex
	h := &req.hdr

	req.target = append(req.target[:0], ex.Path...)
	if len(ex.Query) > 0 {
		req.target = append(req.target, '?')
		req.target = append(req.target, ex.Query...)
	}
	h.SetRequestURIBytes(req.target)
	h.SetNoDefaultContentType(true)
	if len(ex.Host) == 0 {
		// HTTP/1.0 without Host: name the upstream, which HTTP/1.1 needs.
		h.SetHost(req.route.Info.Upstream)
	}
	req.scratch = forward.RemoveHopByHop(h, req.scratch)
	h.Del(forward.HeaderExpect)

	// X-Forwarded-For: an untrusted client's own value is dropped, a
	// trusted proxy's chain is extended with its address.
	req.scratch = req.scratch[:0]
	if req.trusted {
		if prev := h.Peek(forward.HeaderXFF); len(prev) > 0 {
			req.scratch = append(req.scratch, prev...)
			req.scratch = append(req.scratch, strComma...)
		}
	}
	req.scratch = ex.PeerIP.AppendTo(req.scratch)
	h.SetBytesV(forward.HeaderXFF, req.scratch)

	if !req.trusted || len(h.Peek(forward.HeaderXFProto)) == 0 {
		h.SetBytesV(forward.HeaderXFProto, strHTTP)
	}
	if !req.trusted || len(h.Peek(forward.HeaderXFHost)) == 0 {
		h.SetBytesV(forward.HeaderXFHost, ex.Host)
	}
	if !req.trusted {
		h.Del(forward.HeaderForwarded)
	}
	req.scratch = ex.ClientIP.AppendTo(req.scratch[:0])
	h.SetBytesV(forward.HeaderXRealIP, req.scratch)
	h.SetBytesV(forward.HeaderRequestID, ex.RequestID)
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

// schedulePump retries pumpBody shortly: gnet tells nobody when an
// outbound backlog drains.
func (cc *clientConn) schedulePump() {
	if cc.pumpScheduled {
		return
	}
	cc.pumpScheduled = true
	el := cc.lp.el
	task := cc.pumpTask
	time.AfterFunc(time.Millisecond, func() { _ = el.Execute(context.Background(), task) })
}

// unpause gives the connection's reads back to the loop.
func (cc *clientConn) unpause() {
	if cc.paused {
		cc.paused = false
		resumeRead(cc.lp.epfd, cc.c.Fd())
	}
}

func (cc *clientConn) setRequestID(trusted bool) {
	req := cc.req
	var presented []byte
	if trusted {
		presented = req.hdr.Peek(forward.HeaderRequestID)
	}
	req.ex.RequestID = cc.lp.l.s.ids.Set(req.ex.RequestID, presented)
}

// respond refuses the request with the reason's problem+json body and
// finishes it.
func (cc *clientConn) respond(r *filters.Reason, detail string) {
	req := cc.req
	ex := &req.ex
	if ex.Reason() == nil {
		ex.Refuse(r)
	}
	r = ex.Reason()
	if r.Status == fasthttp.StatusBadRequest || r.Status == fasthttp.StatusRequestHeaderFieldsTooLarge || r.Status == fasthttp.StatusRequestTimeout {
		// The framing of a request we could not understand cannot be
		// trusted: do not read another request from this connection.
		req.keepAlive = false
	}
	out := cc.problemResponse(req, detail)
	account(cc.lp.l.s, req)
	cc.writeLast(req, out, nil)
	cc.finish()
}

// problemResponse renders the whole response for the exchange's refusal
// reason into req.out and sets the status.
func (cc *clientConn) problemResponse(req *request, detail string) []byte {
	ex := &req.ex
	r := ex.Reason()
	if detail != "" {
		ex.AppendDetailString(detail)
	}
	if len(ex.RequestID) == 0 {
		cc.setRequestID(false)
	}
	req.problem = ex.AppendProblem(req.problem[:0])
	out := req.out[:0]
	out = append(out, strHTTP11...)
	out = strconv.AppendInt(out, int64(r.Status), 10)
	out = append(out, ' ')
	out = append(out, fasthttp.StatusMessage(r.Status)...)
	out = append(out, strCRLF...)
	out = appendHeader(out, "Content-Type", filters.S2B(filters.ProblemContentType))
	out = append(out, "Content-Length: "...)
	out = strconv.AppendInt(out, int64(len(req.problem)), 10)
	out = append(out, strCRLF...)
	if len(req.allow) > 0 {
		out = appendHeader(out, forward.HeaderAllow, req.allow)
	}
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		k, v := ex.ResponseHeader(i)
		out = appendHeader(out, k, v)
	}
	out = appendHeader(out, forward.HeaderRequestID, ex.RequestID)
	if !req.keepAlive {
		out = appendHeader(out, forward.HeaderConnection, strClose)
	}
	out = append(out, strCRLF...)
	if !req.head {
		out = append(out, req.problem...)
	}
	req.out = out
	ex.Status = r.Status
	return out
}

func appendHeader(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, strColonSpace...)
	dst = append(dst, value...)
	return append(dst, strCRLF...)
}

// upstreamFailed answers 502/504 for a request whose upstream exchange
// failed before a response head arrived.
func (cc *clientConn) upstreamFailed(r *filters.Reason) {
	req := cc.req
	if route := req.route; route != nil {
		if r == filters.ReasonUpstreamTimeout {
			route.UpstreamTimeouts.Inc()
		} else {
			route.UpstreamErrors.Inc()
		}
	}
	if req.bodyMode == bmStream && req.bodyLeft > 0 {
		req.keepAlive = false
	}
	req.ex.Refuse(r)
	cc.respond(r, "")
}

// finish ends the current request: it runs the chain's Finish hooks once,
// counts and records the response, releases the upstream connection and
// the runtime, and — once the record is written — moves the connection on
// to the next request or to closing.
func (cc *clientConn) finish() {
	req := cc.req
	if req == nil || cc.state == stRecording {
		return // settle runs when the record is acknowledged
	}
	s := cc.lp.l.s
	if u := req.up; u != nil {
		req.up = nil
		u.detach()
	} else if req.pool != nil {
		req.pool.cancel(req)
	}
	if req.bodyMode == bmStream && req.bodyLeft > 0 {
		req.keepAlive = false
	}
	account(s, req)
	if req.waiting == waitRecord {
		if cc.state != stClosed {
			cc.state = stRecording
			cc.deadline = 0
		}
		return
	}
	cc.settle(req)
}

// settle ends a request whose record is settled: the held end of its
// response goes out, and the connection moves on.
func (cc *clientConn) settle(req *request) {
	cc.releaseHeld(req)
	cc.req = nil
	keepAlive := req.keepAlive
	releaseRequest(req)
	if cc.state == stClosed {
		return
	}
	if !keepAlive {
		cc.closeWhenFlushed()
		return
	}
	cc.unpause()
	cc.state = stReadHead
	cc.setDeadline(cc.lp.l.cfg.IdleTimeout.D())
	if !cc.inProcess && cc.c.InboundBuffered() > 0 {
		cc.process()
	}
}

// account runs the chain's Finish hooks once, counts the response and
// releases the runtime. It runs just before a response's last bytes are
// written, so a client that has its response also sees it counted.
func account(s *Server, req *request) {
	if !req.begun {
		return
	}
	req.begun = false
	ex := &req.ex
	if rt := req.rt; rt != nil {
		route := req.route
		if route == nil {
			route = rt.Unmatched
		} else {
			route.Chain.Finish(ex)
		}
		end := time.Now()
		if s.recorder != nil {
			// Never blocks: with an audit log the record is queued and
			// waitRecord says the end of the response must wait.
			pending, err := s.recorder.RecordFunc(ex, rt.Roles, end, req.ackFn)
			if pending {
				req.waiting = waitRecord
			}
			req.auditErr = err
		}
		route.CountResponse(ex.Status, end.Sub(ex.Start))
		rt.Release()
		req.rt = nil
	}
	if req.waiting != waitRecord {
		s.inFlight.Add(-1) // else when the record is acknowledged: a drain waits for it
	}
}

// closeWhenFlushed closes the connection once its last response is out.
func (cc *clientConn) closeWhenFlushed() {
	cc.state = stClosing
	if cc.c.OutboundBuffered() == 0 {
		_ = cc.c.Close()
		return
	}
	cc.setDeadline(cc.lp.l.cfg.WriteTimeout.D())
}

// abort drops the connection without a response (the client stopped
// reading, or a response was cut off mid-body).
func (cc *clientConn) abort() {
	if req := cc.req; req != nil && req.ex.Reason() == nil && req.ex.Status == 0 {
		req.ex.Refuse(filters.ReasonClientAborted)
		req.ex.Status = filters.ReasonClientAborted.Status
	}
	cc.state = stClosed
	cc.finish()
	_ = cc.c.Close()
}

// onClose runs when gnet closed the connection.
func (cc *clientConn) onClose() {
	cc.lp.removeClient(cc)
	if req := cc.req; req != nil && req.begun && req.ex.Reason() == nil && (req.ex.Status == 0 || cc.state == stUpstream) {
		if req.ex.Status == 0 {
			req.ex.Status = filters.ReasonClientAborted.Status
		}
		req.ex.Refuse(filters.ReasonClientAborted)
	}
	cc.state = stClosed
	if cc.req != nil {
		if cc.req.waiting != waitNone {
			return // what the request waits for carries on when it arrives (audit.go)
		}
		if !cc.req.begun {
			releaseRequest(cc.req)
			cc.req = nil
			return
		}
		cc.finish()
	}
}

// sweep enforces the connection's deadlines; it runs on the loop.
func (cc *clientConn) sweep(now int64, draining bool) {
	switch cc.state {
	case stReadHead:
		if cc.req == nil && draining && cc.c.InboundBuffered() == 0 {
			_ = cc.c.Close()
			return
		}
		if cc.deadline == 0 || now < cc.deadline {
			return
		}
		if cc.req == nil || cc.c.InboundBuffered() == 0 {
			_ = cc.c.Close() // idle keep-alive connection
			return
		}
		cc.timeoutRequest()
	case stReadBody:
		if cc.deadline != 0 && now >= cc.deadline {
			cc.timeoutRequest()
		}
	case stUpstream:
		req := cc.req
		if req.bodyMode == bmStream && req.bodyLeft > 0 && cc.deadline != 0 && now >= cc.deadline {
			cc.abort()
			return
		}
		if out := cc.c.OutboundBuffered(); out == 0 || out != cc.lastOut {
			cc.lastOut, cc.lastProgress = out, now
		} else if wt := cc.lp.l.cfg.WriteTimeout.D(); wt > 0 && now-cc.lastProgress > int64(wt) {
			cc.abort() // the client stopped reading
			return
		}
		if req.bodyMode == bmStream && req.bodyLeft > 0 {
			cc.process()
		}
	case stClosing:
		if cc.c.OutboundBuffered() == 0 || (cc.deadline != 0 && now >= cc.deadline) {
			_ = cc.c.Close()
		}
	}
}

// timeoutRequest answers 408 to a request that did not arrive in time.
func (cc *clientConn) timeoutRequest() {
	req := cc.req
	if !req.begun && req.ex.Start.IsZero() {
		s := cc.lp.l.s
		req.ex.Start = time.Now()
		s.inFlight.Add(1)
		req.begun = true
		req.ex.PeerIP, req.ex.ClientIP = cc.peer, cc.peer
		if rt := s.holder.Acquire(); rt != nil {
			req.rt = rt
			req.ex.Generation = rt.Generation
		}
	}
	req.keepAlive = false
	cc.respond(filters.ReasonRequestTimeout, "")
}

var _ gnet.EventHandler = (*listener)(nil)
