package fasthttpengine

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/engine/upstream"
	"github.com/tollgate-proxy/tollgate/filters"
)

// reqState is the pooled per-request state: the exchange, the header
// adapter it points into, and scratch buffers.
type reqState struct {
	ex      filters.Exchange
	hdr     reqHeaders
	path    []byte // normalized path
	target  []byte // normalized path + query, sent upstream
	scratch []byte
	body    []byte // problem bodies
	reqBody []byte // buffered request bodies
}

func newReqState() *reqState {
	st := &reqState{}
	st.ex.Reset()
	return st
}

func (st *reqState) reset() {
	st.ex.Reset()
	st.hdr.h = nil
	st.path = st.path[:0]
	st.target = st.target[:0]
	st.scratch = st.scratch[:0]
	st.body = st.body[:0]
	if cap(st.reqBody) > 1<<20 {
		st.reqBody = nil // do not pin a large upload's buffer in the pool
	}
	st.reqBody = st.reqBody[:0]
}

// reqHeaders adapts fasthttp's request headers to filters.Headers.
type reqHeaders struct{ h *fasthttp.RequestHeader }

func (a *reqHeaders) Peek(name string) []byte       { return a.h.Peek(name) }
func (a *reqHeaders) Set(name string, value []byte) { a.h.SetBytesV(name, value) }
func (a *reqHeaders) Del(name string)               { a.h.Del(name) }

func (s *Server) handle(l *listener, ctx *fasthttp.RequestCtx) {
	inFlight := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	rt := s.holder.Acquire()
	if rt == nil {
		// Shutting down: no runtime to serve from.
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetConnectionClose()
		return
	}
	defer rt.Release()

	st := s.states.Get().(*reqState)
	defer func() {
		st.reset()
		s.states.Put(st)
	}()
	ex := &st.ex
	st.hdr.h = &ctx.Request.Header
	ex.SetHeaders(&st.hdr)
	ex.Start = ctx.Time()
	ex.Generation = rt.Generation
	ex.TLS = l.tls
	if l.mtls {
		if cs := ctx.TLSConnectionState(); cs != nil && len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
			ex.PeerCertificate = cs.VerifiedChains[0][0]
		}
	}

	trusted := s.begin(l, rt, ctx, st)
	var route *engine.Route
	if max := rt.Config.Limits.MaxInFlight; max > 0 && inFlight > int64(max) {
		// Shed before doing any work for the request.
		s.shed.Inc()
		ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
		s.refuse(ctx, st, filters.ReasonOverloaded, "")
	} else {
		route = s.serveSafely(l, rt, ctx, st, trusted)
	}
	if route == nil {
		route = rt.Unmatched
	} else {
		route.Chain.Finish(ex)
	}
	ex.Status = ctx.Response.StatusCode()
	end := time.Now()
	if s.recorder != nil {
		s.record(ctx, st, rt, end)
	}
	route.CountResponse(ex.Status, end.Sub(ex.Start))
}

// record writes the request's audit entry before the response is
// released. If the entry cannot be written under fail-closed, the answer
// becomes 503: nothing a client sees answered goes unrecorded.
func (s *Server) record(ctx *fasthttp.RequestCtx, st *reqState, rt *engine.Runtime, end time.Time) {
	ex := &st.ex
	if err := s.recorder.Record(ex, rt.Roles, end); err != nil {
		s.throttled.Warn("cannot record request in the audit log; answering 503", "err", err)
		ctx.Response.Reset() // closes a streamed upstream body
		ex.Refuse(engine.ReasonAuditUnavailable)
		ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
		s.writeProblem(ctx, st, "")
		ex.Status = ctx.Response.StatusCode()
		return
	}
	// A streamed body goes out after the handler returns: its stream
	// writes the end record.
	if is, ok := ctx.Response.BodyStream().(*idleStream); ok {
		is.rec, is.audit = s.recorder, s.recorder.BeginStream(ex, rt.Roles)
	}
}

// serveSafely is serve with a recovery boundary: a panic in a filter or in
// the engine answers 500 proxy.internal_error and is recorded as failed,
// instead of taking every other connection down with the process.
func (s *Server) serveSafely(l *listener, rt *engine.Runtime, ctx *fasthttp.RequestCtx, st *reqState, trusted bool) (route *engine.Route) {
	defer func() {
		if p := recover(); p != nil {
			s.panics.Inc()
			s.log.Error("recovered from a panic while serving a request", "panic", fmt.Sprint(p), "request_id", string(st.ex.RequestID), "stack", string(debug.Stack()))
			if r := st.ex.Route; r != nil {
				route = rt.Routes[r.Index] // so its filters' Finish still runs
			}
			ctx.Response.Reset()
			st.ex.Refuse(filters.ReasonInternal)
			s.writeProblem(ctx, st, "")
			ctx.SetConnectionClose()
		}
	}()
	return s.serve(l, rt, ctx, st, trusted)
}

// begin fills what every outcome records — method, target, client
// address, request id — and reports whether the peer is a trusted proxy.
func (s *Server) begin(l *listener, rt *engine.Runtime, ctx *fasthttp.RequestCtx, st *reqState) (trusted bool) {
	ex := &st.ex
	h := &ctx.Request.Header
	ex.Method = h.Method()
	ex.Host = h.Host()
	ex.RawTarget = h.RequestURI()
	ex.ContentLength = int64(h.ContentLength())
	peer := peerAddr(ctx)
	ex.PeerIP, ex.ClientIP = peer, peer
	if lset := rt.Listeners[l.name]; lset != nil && lset.IsTrusted(peer) {
		trusted = true
		ex.ClientIP = forward.ClientIP(h.Peek(forward.HeaderXFF), peer, lset)
	}
	s.setRequestID(ctx, st, trusted)
	return trusted
}

// serve runs one request and returns the matched route (nil if none).
func (s *Server) serve(l *listener, rt *engine.Runtime, ctx *fasthttp.RequestCtx, st *reqState, trusted bool) *engine.Route {
	ex := &st.ex
	req := &ctx.Request
	if req.Header.ContentLength() == -1 && forward.HasContentLength(req.Header.RawHeaders()) {
		// Transfer-Encoding and Content-Length together: the classic
		// request-smuggling ambiguity (RFC 9112 §6.3). Refuse and close.
		s.refuse(ctx, st, filters.ReasonAmbiguousFraming, "")
		return nil
	}
	rawPath, query, ok := forward.SplitTarget(ex.RawTarget)
	if !ok {
		s.refuse(ctx, st, filters.ReasonBadPath, "request target must be origin-form or absolute-form")
		return nil
	}
	ex.Query = query
	var err error
	st.path, err = router.Normalize(st.path[:0], rawPath)
	if err != nil {
		s.refuse(ctx, st, filters.ReasonBadPath, err.Error())
		return nil
	}
	ex.Path = st.path

	id, res := rt.Router.Lookup(ex.Host, ex.Method, ex.Path, &ex.Params)
	switch res {
	case router.Found:
	case router.MethodNotAllowed:
		ctx.Response.Header.SetBytesV(forward.HeaderAllow, rt.Router.Allow(ex.Host, ex.Path))
		s.refuse(ctx, st, filters.ReasonMethodNotAllowed, "")
		return nil
	default:
		s.refuse(ctx, st, filters.ReasonNoRoute, "")
		return nil
	}
	route := rt.Routes[id]
	ex.Route = &route.Info

	if v := s.readBody(l, ctx, st, route); v != nil {
		s.refuse(ctx, st, v, "")
		return route
	}

	if v := route.Chain.Run(ex); !v.IsContinue() {
		s.refuse(ctx, st, v.Reason(), "")
		return route
	}

	if s.recorder != nil {
		refuse := s.recorder.Refuse()
		if !refuse && s.recorder.Strict() {
			refuse = s.recorder.RecordDecision(ex, rt.Roles, time.Now()) != nil
		}
		if refuse {
			// Fail closed: what cannot be recorded is not forwarded.
			ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
			s.refuse(ctx, st, engine.ReasonAuditUnavailable, "")
			return route
		}
	}
	s.prepareUpstreamRequest(ctx, st, route, trusted)
	s.forward(l, ctx, st, route)
	return route
}

// readBody buffers the request body when it is small enough (so filters
// and the audit log can see it) and enforces the route's body limit.
// Larger bodies with a declared length stay streamed to the upstream.
func (s *Server) readBody(l *listener, ctx *fasthttp.RequestCtx, st *reqState, route *engine.Route) *filters.Reason {
	ex := &st.ex
	req := &ctx.Request
	limit := route.MaxBodyBytes
	if limit <= 0 {
		limit = int64(l.cfg.MaxBodyBytes)
	}
	cl := ex.ContentLength
	if cl > limit {
		return filters.ReasonBodyTooLarge
	}
	if !req.IsBodyStream() {
		ex.Body = req.Body()
		ex.BytesIn = int64(len(ex.Body))
		return nil
	}
	if cl >= 0 && cl > int64(l.cfg.StreamThreshold) {
		ex.BytesIn = cl
		return nil
	}
	// Small or chunked: read it into our own buffer, at most limit+1
	// bytes so an oversized chunked body is caught without reading it all.
	r := io.LimitReader(req.BodyStream(), limit+1)
	buf := st.reqBody[:0]
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), max(4096, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			st.reqBody = buf
			return filters.ReasonBadRequest
		}
	}
	st.reqBody = buf
	if int64(len(buf)) > limit {
		return filters.ReasonBodyTooLarge
	}
	req.SetBodyRaw(buf)
	ex.Body = buf
	ex.BytesIn = int64(len(buf))
	return nil
}

// prepareUpstreamRequest rewrites the request in place for the upstream:
// the normalized target, hop-by-hop fields removed, forwarding headers set.
func (s *Server) prepareUpstreamRequest(ctx *fasthttp.RequestCtx, st *reqState, route *engine.Route, trusted bool) {
	ex := &st.ex
	h := &ctx.Request.Header

	st.target = append(st.target[:0], ex.Path...)
	if len(ex.Query) > 0 {
		st.target = append(st.target, '?')
		st.target = append(st.target, ex.Query...)
	}
	ctx.Request.SetRequestURIBytes(st.target)
	// The client's scheme is not the upstream's: fasthttp refuses to send
	// an https URI over a plain connection and vice versa.
	if route.Upstream.TLS() {
		ctx.Request.URI().SetSchemeBytes(strHTTPS)
	} else {
		ctx.Request.URI().SetSchemeBytes(strHTTP)
	}
	h.SetNoDefaultContentType(true)
	if len(ex.Host) == 0 {
		// HTTP/1.0 without Host: name the upstream, which HTTP/1.1 needs.
		h.SetHost(route.Info.Upstream)
	}

	st.scratch = forward.RemoveHopByHop(h, st.scratch)
	h.Del(forward.HeaderExpect)
	for _, name := range route.RemoveHeaders {
		h.Del(name)
	}
	for _, hv := range route.SetHeaders {
		h.SetBytesV(hv.Name, hv.Value)
	}

	// X-Forwarded-For: an untrusted client's own value is dropped, a
	// trusted proxy's chain is extended with its address.
	st.scratch = st.scratch[:0]
	if trusted {
		if prev := h.Peek(forward.HeaderXFF); len(prev) > 0 {
			st.scratch = append(st.scratch, prev...)
			st.scratch = append(st.scratch, strComma...)
		}
	}
	st.scratch = ex.PeerIP.AppendTo(st.scratch)
	h.SetBytesV(forward.HeaderXFF, st.scratch)

	if !trusted || len(h.Peek(forward.HeaderXFProto)) == 0 {
		if ex.TLS {
			h.SetBytesV(forward.HeaderXFProto, strHTTPS)
		} else {
			h.SetBytesV(forward.HeaderXFProto, strHTTP)
		}
	}
	if !trusted || len(h.Peek(forward.HeaderXFHost)) == 0 {
		h.SetBytesV(forward.HeaderXFHost, ex.Host)
	}
	if !trusted {
		h.Del(forward.HeaderForwarded)
	}
	st.scratch = ex.ClientIP.AppendTo(st.scratch[:0])
	h.SetBytesV(forward.HeaderXRealIP, st.scratch)
	h.SetBytesV(forward.HeaderRequestID, ex.RequestID)
}

// forward sends the request upstream and relays the answer. The upstream's
// response is read into its own pooled Response: small bodies are copied
// into the client response, large and open-ended ones are streamed from it.
func (s *Server) forward(l *listener, ctx *fasthttp.RequestCtx, st *reqState, route *engine.Route) {
	ex := &st.ex
	up := fasthttp.AcquireResponse()
	err := route.Upstream.Do(&ctx.Request, up)
	if err != nil {
		fasthttp.ReleaseResponse(up)
		reason := filters.ReasonUpstreamDown
		if upstream.IsTimeout(err) {
			reason = filters.ReasonUpstreamTimeout
			route.UpstreamTimeouts.Inc()
		} else {
			route.UpstreamErrors.Inc()
		}
		s.throttled.Warn("upstream request failed", "route", route.Info.Name, "upstream", route.Info.Upstream, "err", err)
		ex.Refuse(reason)
		s.writeProblem(ctx, st, "")
		return
	}
	resp := &ctx.Response
	streaming := false
	if up.IsBodyStream() {
		cl := up.Header.ContentLength()
		streaming = cl < 0 || cl > int(l.cfg.StreamThreshold)
		if !streaming {
			// Small: read it whole now, so the write is one buffered
			// response bounded by the write timeout.
			_ = up.Body()
		}
	}
	up.Header.CopyTo(&resp.Header)
	st.scratch = forward.RemoveResponseHopByHop(&resp.Header, st.scratch)
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		k, v := ex.ResponseHeader(i)
		resp.Header.SetBytesV(k, v)
	}
	resp.Header.SetBytesV(forward.HeaderRequestID, ex.RequestID)
	ex.Status = resp.StatusCode()
	route.Chain.RunResponse(ex)

	if streaming {
		// Large or open-ended (chunked, SSE): stream it, re-arming the
		// client write deadline for every chunk. The stream owns up.
		stream := acquireIdleStream(up, ctx, l.cfg.WriteTimeout.D())
		resp.SetBodyStream(stream, up.Header.ContentLength())
		return
	}
	body := up.Body()
	ex.BytesOut = int64(len(body))
	if !ctx.IsHead() {
		resp.SetBody(body)
	}
	fasthttp.ReleaseResponse(up)
	s.armWriteDeadline(l, ctx)
}

func (s *Server) armWriteDeadline(l *listener, ctx *fasthttp.RequestCtx) {
	if d := l.cfg.WriteTimeout.D(); d > 0 {
		_ = ctx.SetWriteDeadline(time.Now().Add(d))
	}
}

// refuse answers with the reason's problem+json body.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, st *reqState, r *filters.Reason, detail string) {
	if st.ex.Reason() == nil {
		st.ex.Refuse(r)
	}
	s.writeProblem(ctx, st, detail)
}

func (s *Server) writeProblem(ctx *fasthttp.RequestCtx, st *reqState, detail string) {
	ex := &st.ex
	r := ex.Reason()
	if detail != "" {
		ex.AppendDetailString(detail)
	}
	resp := &ctx.Response
	resp.SetStatusCode(r.Status)
	resp.Header.SetContentType(filters.ProblemContentType)
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		k, v := ex.ResponseHeader(i)
		resp.Header.SetBytesV(k, v)
	}
	if len(ex.RequestID) > 0 {
		resp.Header.SetBytesV(forward.HeaderRequestID, ex.RequestID)
	}
	st.body = ex.AppendProblem(st.body[:0])
	resp.SetBody(st.body)
	if ctx.IsHead() {
		resp.SkipBody = true
	}
	if r.Status == fasthttp.StatusBadRequest {
		// The framing of a request we could not understand cannot be
		// trusted: do not read another request from this connection.
		resp.SetConnectionClose()
	}
}

// handleParseError answers requests fasthttp could not parse (oversized
// headers or body, bad framing, read timeouts) with a problem body.
func (s *Server) handleParseError(l *listener, ctx *fasthttp.RequestCtx, err error) {
	s.parseErrors.Inc()
	st := s.states.Get().(*reqState)
	defer func() {
		st.reset()
		s.states.Put(st)
	}()
	reason := filters.ReasonBadRequest
	var sizeErr *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		reason = filters.ReasonBodyTooLarge
	case errors.As(err, &sizeErr):
		reason = filters.ReasonHeaderTooLarge
	case isTimeout(err):
		reason = filters.ReasonRequestTimeout
	}
	ex := &st.ex
	ex.Refuse(reason)
	ex.Start = ctx.Time()
	ex.PeerIP = peerAddr(ctx)
	ex.ClientIP = ex.PeerIP
	ex.Method = ctx.Request.Header.Method()
	ex.RawTarget = ctx.Request.Header.RequestURI()
	s.setRequestID(ctx, st, false)
	s.writeProblem(ctx, st, "")
	ctx.SetConnectionClose()
	ex.Status = ctx.Response.StatusCode()
	if s.recorder != nil {
		if rt := s.holder.Acquire(); rt != nil {
			ex.Generation = rt.Generation
			s.record(ctx, st, rt, time.Now())
			rt.Release()
		}
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	var t timeout
	return errors.As(err, &t) && t.Timeout()
}

func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	ip := ctx.RemoteIP()
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// setRequestID keeps a trusted proxy's well-formed X-Request-Id, or makes
// one: a per-process random prefix and a sequence number, unique without a
// random read per request.
func (s *Server) setRequestID(ctx *fasthttp.RequestCtx, st *reqState, trusted bool) {
	var presented []byte
	if trusted {
		presented = ctx.Request.Header.Peek(forward.HeaderRequestID)
	}
	st.ex.RequestID = s.ids.Set(st.ex.RequestID, presented)
}
