package gnetengine

import (
	"time"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// A request's end: answering, finishing, accounting, closing.
//
// A request ends in many places: a refusal while its head or body is read
// (client.go), an upstream that fails or completes its response
// (upstream.go), an audit acknowledgement (audit.go), a client that goes
// away, a deadline the loop's sweep finds passed. Whichever it is, the
// same steps follow in the same order, and they live here so there is one
// way out: the refusal is rendered (respond), the request is accounted
// (account: Finish hooks, counters, its audit record queued) before its
// last bytes are written, its upstream connection is released (finish),
// and once the record is settled the held end goes out and the connection
// moves on to the next request or is closed (settle). Doing these in one
// place is what keeps a request from being counted twice or its response
// from outrunning its record.
//
// gnet has no deadlines, so the timeouts that end a request or a
// connection (408, a stalled client, an idle keep-alive connection) are
// enforced here too, by sweep, which the loop runs when its timer fires
// (loop.go).

// refuse refuses the request for reason and finishes it.
func (cc *clientConn) refuse(reason *filters.Reason) {
	if cc.req.Ex.Reason() == nil {
		cc.req.Ex.Refuse(reason)
	}
	cc.respond()
}

// respond answers the refusal the request's exchange holds with its
// problem+json body and finishes the request.
func (cc *clientConn) respond() {
	req := cc.req
	out := cc.problemResponse(req)
	account(cc.lp.l.s, req)
	cc.writeLast(req, out, nil)
	cc.finish()
}

// problemResponse renders the whole response for the exchange's refusal
// into req.out.
func (cc *clientConn) problemResponse(req *request) []byte {
	if req.MustClose() {
		// The framing of a request we could not understand cannot be
		// trusted: do not read another request from this connection.
		req.keepAlive = false
	}
	h := &req.resp
	body := cc.lp.l.s.p.WriteProblem(&req.Request, h)
	if !req.keepAlive {
		h.SetConnectionClose()
	} else if req.HTTP10 {
		h.SetCanonical(strConnection, strKeepAlive)
	}
	out := h.AppendBytes(req.out[:0])
	if !req.head {
		out = append(out, body...)
	}
	req.out = out
	return out
}

// upstreamFailed answers 502/504 for a request whose upstream exchange
// failed before a response head arrived.
func (cc *clientConn) upstreamFailed(r *filters.Reason) {
	req := cc.req
	if req.bodyMode == bmStream && req.bodyLeft > 0 {
		req.keepAlive = false
	}
	cc.lp.l.s.p.UpstreamFailed(&req.Request, r)
	cc.respond()
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
	cc.served++
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

// account ends the request in the pipeline (Finish hooks, the audit
// record, counters) just before a response's last bytes are written, so a
// client that has its response also sees it counted. With an audit log
// the record is queued, never waited for: waitRecord says the end of the
// response must wait for its acknowledgement, and the request leaves the
// pipeline then (a drain waits for it).
func account(s *Server, req *request) {
	if !req.Begun() || req.accounted {
		return
	}
	req.accounted = true
	pending, err := s.p.End(&req.Request, time.Now(), req.ackFn)
	req.auditErr = err
	if pending {
		req.waiting = waitRecord
		req.cc.lp.queuedRecord()
		return
	}
	s.p.Leave(&req.Request)
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
// upstreamBroke ends a response whose upstream failed after its head was
// relayed (closed mid-body, or silent past its timeout): recorded as
// upstream.stream_broken with the status the client got, then the
// connection is closed, the only way left to tell the client.
func (cc *clientConn) upstreamBroke() {
	if req := cc.req; req != nil && req.Ex.Reason() == nil {
		req.Ex.Refuse(filters.ReasonUpstreamBroken)
	}
	cc.abort()
}

func (cc *clientConn) abort() {
	if req := cc.req; req != nil && req.Ex.Reason() == nil && req.Ex.Status == 0 {
		req.Ex.Refuse(filters.ReasonClientAborted)
		req.Ex.Status = filters.ReasonClientAborted.Status
	}
	cc.state = stClosed
	cc.finish()
	_ = cc.c.Close()
}

// onClose runs when gnet closed the connection.
func (cc *clientConn) onClose() {
	cc.lp.removeClient(cc)
	if req := cc.req; req != nil && req.Begun() && req.Ex.Reason() == nil && (req.Ex.Status == 0 || cc.state == stUpstream) {
		if req.Ex.Status == 0 {
			req.Ex.Status = filters.ReasonClientAborted.Status
		}
		req.Ex.Refuse(filters.ReasonClientAborted)
	}
	cc.state = stClosed
	if cc.req != nil {
		if cc.req.waiting != waitNone {
			return // what the request waits for carries on when it arrives (audit.go)
		}
		if !cc.req.Begun() {
			releaseRequest(cc.req)
			cc.req = nil
			return
		}
		cc.finish()
	}
}

// sweep enforces the connection's deadlines and returns the next time it
// needs a sweep (0: none); it runs on the loop.
func (cc *clientConn) sweep(now int64, draining bool) int64 {
	switch cc.state {
	case stReadHead:
		if cc.req == nil && draining && cc.c.InboundBuffered() == 0 {
			_ = cc.c.Close()
			return 0
		}
		if cc.deadline == 0 || now < cc.deadline {
			return cc.deadline
		}
		if cc.served > 0 && (cc.req == nil || cc.c.InboundBuffered() == 0) {
			_ = cc.c.Close() // idle keep-alive connection
			return 0
		}
		// The first request of a connection, or part of a later one, did
		// not arrive within header_timeout: 408, as on every engine.
		cc.timeoutRequest()
	case stReadBody:
		if cc.deadline != 0 && now >= cc.deadline {
			cc.timeoutRequest()
			return 0
		}
		return cc.deadline
	case stUpstream:
		req := cc.req
		if req.bodyMode == bmStream && req.bodyLeft > 0 && cc.deadline != 0 && now >= cc.deadline {
			cc.abort()
			return 0
		}
		next := int64(0)
		if req.bodyMode == bmStream && req.bodyLeft > 0 {
			next = cc.deadline
		}
		if wt := cc.lp.l.cfg.WriteTimeout.D(); wt > 0 {
			if out := cc.c.OutboundBuffered(); out == 0 || out != cc.lastOut {
				cc.lastOut, cc.lastProgress = out, now
			} else if now-cc.lastProgress > int64(wt) {
				cc.abort() // the client stopped reading
				return 0
			}
			// Look again one write_timeout after the last progress.
			if stall := cc.lastProgress + int64(wt) + 1; next == 0 || stall < next {
				next = stall
			}
		}
		if req.bodyMode == bmStream && req.bodyLeft > 0 {
			cc.process()
		}
		return next
	case stClosing:
		if cc.c.OutboundBuffered() == 0 || (cc.deadline != 0 && now >= cc.deadline) {
			_ = cc.c.Close()
			return 0
		}
		return cc.deadline
	}
	return 0
}

// timeoutRequest answers 408 to a request that did not arrive in time.
func (cc *clientConn) timeoutRequest() {
	if cc.req == nil {
		cc.req = acquireRequest()
		cc.req.cc = cc
	}
	req := cc.req
	req.keepAlive = false
	if !req.Begun() {
		cc.lp.l.s.p.Malformed(&req.Request, &cc.lp.l.info, cc.peer, time.Now(), filters.ReasonRequestTimeout)
		// The head did not arrive whole, but its request line may have:
		// what is buffered starts where the request does (the head before
		// it was discarded when it was parsed), so the line, if it is in
		// and well-formed, is the one this request was sent with. Peek
		// only reads what is buffered, on this rare path.
		if buf, _ := cc.c.Peek(-1); len(buf) > 0 {
			if m, t := requestLine(buf); m != nil {
				req.Attempted(m, t)
			}
		}
		cc.respond()
		return
	}
	cc.refuse(filters.ReasonRequestTimeout)
}

// requestLine returns the method and target of the request line at the
// start of buf, after the empty lines the parser skips (parseRequest), if
// the line is complete and well-formed; nil otherwise.
func requestLine(buf []byte) (method, target []byte) {
	for len(buf) >= 2 && buf[0] == '\r' && buf[1] == '\n' {
		buf = buf[2:]
	}
	return pipeline.SplitRequestLine(buf)
}
