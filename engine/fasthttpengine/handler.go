package fasthttpengine

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// reqState is the pooled per-request state: the pipeline's request and the
// engine's buffers.
type reqState struct {
	pipeline.Request
	reqBody []byte      // buffered request bodies
	chunk   []byte      // scratch for reading a small upstream body
	closing *idleStream // a body relayed delimited by the close (relayClosing)
	// bodyRead reports that the request's body, if any, was read to its
	// end, so the connection's next read starts the next request.
	bodyRead bool
}

// stream returns the response's streamed body, if any.
func (st *reqState) stream(ctx *fasthttp.RequestCtx) *idleStream {
	if st.closing != nil {
		return st.closing
	}
	is, _ := ctx.Response.BodyStream().(*idleStream)
	return is
}

func (st *reqState) reset() {
	st.Request.Reset()
	st.closing = nil
	st.bodyRead = false
	if cap(st.reqBody) > 1<<20 {
		st.reqBody = nil // do not pin a large upload's buffer in the pool
	}
	st.reqBody = st.reqBody[:0]
}

func (s *Server) handle(l *listener, ctx *fasthttp.RequestCtx) {
	st := s.states.Get().(*reqState)
	defer func() {
		st.reset()
		s.states.Put(st)
	}()
	ex := &st.Ex
	// The framing fasthttp read the request with, before the handler
	// re-frames a chunked body it forwards.
	framing := ctx.Request.Header.ContentLength()
	if l.mtls {
		if cs := ctx.TLSConnectionState(); cs != nil && len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
			ex.PeerCertificate = cs.VerifiedChains[0][0]
		}
	}
	s.serveSafely(l, ctx, st)
	s.end(ctx, st)
	if lc := lineConnOf(ctx.Conn()); lc != nil {
		switch {
		case framing >= 0:
			// Read, or drained by fasthttp: the next request starts after it.
			lc.served(int64(framing))
		case framing == -1 && st.bodyRead:
			// Chunked: where it ends on the wire, the connection followed.
			lc.servedChunked(st.Ex.BytesIn)
		case framing == -1:
			// fasthttp drains what the handler left of a chunked body:
			// where that ends is not followed.
			lc.lost()
		default:
			lc.served(0) // no body
		}
	}
}

// end accounts for the request once its response is built, before
// fasthttp writes it: if the record cannot be written under fail-closed,
// the answer becomes 503, so nothing a client sees answered goes
// unrecorded.
func (s *Server) end(ctx *fasthttp.RequestCtx, st *reqState) {
	st.Ex.Status = ctx.Response.StatusCode()
	if st.Ex.Reason() == nil && st.stream(ctx) == nil {
		if lc := lineConnOf(ctx.Conn()); lc != nil && lc.peerClosed() {
			st.Ex.Refuse(filters.ReasonClientAborted)
			st.Ex.Status = filters.ReasonClientAborted.Status
		}
	}
	if _, err := s.p.End(&st.Request, time.Now(), nil); err != nil {
		ctx.Response.Reset() // closes a streamed upstream body
		if is := st.closing; is != nil {
			ctx.Hijack(nil)
			ctx.HijackSetNoResponse(false)
			_ = is.Close()
		}
		s.writeProblem(ctx, st)
	} else if is := st.stream(ctx); is != nil {
		// A streamed body goes out after the handler returns: its stream
		// writes the end record.
		if e := s.p.BeginStream(&st.Request); e != nil {
			is.p, is.audit = s.p, e
		}
	}
	s.p.Leave(&st.Request)
}

// serveSafely is serve with a recovery boundary around the engine's own
// code (the pipeline guards the filters): a panic answers 500
// proxy.internal_error and is recorded, instead of taking every other
// connection down with the process.
func (s *Server) serveSafely(l *listener, ctx *fasthttp.RequestCtx, st *reqState) {
	defer func() {
		if v := recover(); v != nil {
			s.p.Panicked(&st.Request, "fasthttp engine", v)
			ctx.Response.Reset()
			s.writeProblem(ctx, st)
		}
	}()
	s.serve(l, ctx, st)
}

// serve runs one request through the pipeline and forwards it.
func (s *Server) serve(l *listener, ctx *fasthttp.RequestCtx, st *reqState) {
	r := &st.Request
	if lc := lineConnOf(ctx.Conn()); lc != nil && lc.badLine() {
		// fasthttp read the head, but its request line is not one the
		// event loop would read: refused the same way, at once.
		s.p.Malformed(r, &l.info, peerAddr(ctx), ctx.Time(), filters.ReasonBadRequest)
		s.writeProblem(ctx, st)
		ctx.SetConnectionClose()
		return
	}
	if !s.p.Begin(r, &l.info, &ctx.Request.Header, peerAddr(ctx), ctx.Time()) {
		s.writeProblem(ctx, st)
		return
	}
	// Identity and policy first: the body is read only for a request
	// they allow.
	if !s.p.FilterHead(r) {
		s.writeProblem(ctx, st)
		return
	}
	if v := s.readBody(l, ctx, st); v != nil {
		st.Ex.Refuse(v)
		s.writeProblem(ctx, st)
		return
	}
	dropTrailers(&ctx.Request.Header)
	if !s.p.FilterBody(r) {
		s.writeProblem(ctx, st)
		return
	}
	if _, ok := s.p.Admit(r, nil); !ok {
		s.writeProblem(ctx, st)
		return
	}
	s.p.PrepareUpstream(r)
	// fasthttp's client sends the parsed URI, not the header's target.
	ctx.Request.SetRequestURIBytes(r.Target())
	// The client's scheme is not the upstream's: fasthttp refuses to send
	// an https URI over a plain connection and vice versa.
	if r.Route.Upstream.TLS() {
		ctx.Request.URI().SetSchemeBytes(strHTTPS)
	} else {
		ctx.Request.URI().SetSchemeBytes(strHTTP)
	}
	s.forward(l, ctx, st)
}

// dropTrailers removes the trailer fields of a chunked request body, as
// the event loop does. Why: fasthttp keeps them in a section of their own
// that the upstream request's rewrite does not see, and moves them among
// the headers when the Trailer field is deleted (as a hop-by-hop field):
// a field remove_headers strips (a client credential, X-Original-URL)
// reached the upstream when sent as a trailer. The body is forwarded
// with its length, so trailers could not be forwarded as trailers
// anyway (RFC 9110 §6.5.1: a recipient must not merge them into the
// header section unknowingly). Header fields of the same name are kept.
func dropTrailers(h *fasthttp.RequestHeader) {
	var keys [][]byte
	for k := range h.Trailers() {
		keys = append(keys, bytes.Clone(k))
	}
	if len(keys) == 0 {
		return
	}
	for _, k := range keys {
		var keep [][]byte
		for hk, v := range h.All() {
			if bytes.EqualFold(hk, k) {
				keep = append(keep, bytes.Clone(v))
			}
		}
		h.DelBytes(k)
		for _, v := range keep {
			h.AddBytesKV(k, v)
		}
	}
	h.Del(fasthttp.HeaderTrailer)
}

// readBody buffers the request body when it is small enough (so filters
// and the audit log can see it) and enforces the route's body limit.
// Larger bodies with a declared length stay streamed to the upstream.
func (s *Server) readBody(l *listener, ctx *fasthttp.RequestCtx, st *reqState) *filters.Reason {
	req := &ctx.Request
	limit := st.Limit
	cl := st.Ex.ContentLength
	if !req.IsBodyStream() {
		body := req.Body()
		st.SetBody(body, int64(len(body)))
		st.bodyRead = true
		return nil
	}
	if cl >= 0 && cl > int64(l.cfg.StreamThreshold) {
		st.SetBody(nil, cl)
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
			st.bodyRead = true
			break
		}
		if err != nil {
			st.reqBody = buf
			if isTimeout(err) {
				return filters.ReasonRequestTimeout
			}
			return filters.ReasonBadRequest
		}
	}
	st.reqBody = buf
	if int64(len(buf)) > limit {
		return filters.ReasonBodyTooLarge
	}
	req.SetBodyRaw(buf)
	st.SetBody(buf, int64(len(buf)))
	return nil
}

// forward sends the request upstream and relays the answer. The upstream's
// response is read into its own pooled Response: small bodies are copied
// into the client response, large and open-ended ones are streamed from it.
func (s *Server) forward(l *listener, ctx *fasthttp.RequestCtx, st *reqState) {
	ex := &st.Ex
	route := st.Route
	up := fasthttp.AcquireResponse()
	err := route.Upstream.Do(&ctx.Request, up)
	if err != nil {
		fasthttp.ReleaseResponse(up)
		s.p.UpstreamError(&st.Request, err)
		s.writeProblem(ctx, st)
		return
	}
	if !s.p.CheckParsedResponse(&st.Request, &up.Header) {
		fasthttp.ReleaseResponse(up)
		s.writeProblem(ctx, st)
		return
	}
	resp := &ctx.Response
	streaming, buffered := false, false
	var cutShort io.Reader
	if up.IsBodyStream() {
		cl := up.Header.ContentLength()
		streaming = cl < 0 || cl > int(l.cfg.StreamThreshold)
		if !streaming {
			// Small: read it whole now, so the write is one buffered
			// response bounded by the write timeout.
			buffered = true
			if err := st.readBody(resp, up.BodyStream(), cl); err != nil {
				// The upstream cut it short. The head announced the
				// length, so the client gets the head, what came, and
				// the close, as on the event loop: relayed as a stream,
				// whose end record says the upstream broke it.
				streaming, cutShort = true, io.MultiReader(bytes.NewReader(bytes.Clone(resp.Body())), failAfter{err})
				resp.ResetBody()
			}
		}
	}
	up.Header.CopyTo(&resp.Header)
	if !s.p.PrepareResponse(&st.Request, &resp.Header) {
		fasthttp.ReleaseResponse(up)
		s.writeProblem(ctx, st)
		return
	}

	if streaming {
		// Large or open-ended (chunked, SSE): stream it, re-arming the
		// client write deadline for every chunk. The stream owns up.
		stream := acquireIdleStream(up, ctx, l.cfg.WriteTimeout.D())
		if cutShort != nil {
			stream.r = cutShort
			s.relayClosing(ctx, st, stream, l.cfg.WriteTimeout.D(), true)
			return
		}
		if up.Header.ContentLength() < 0 && st.HTTP10 {
			// An HTTP/1.0 client cannot read chunked coding (RFC 9112
			// §7.1), and fasthttp chunks every body of unknown length.
			s.relayClosing(ctx, st, stream, l.cfg.WriteTimeout.D(), false)
			return
		}
		// The head goes out before the body is read, as on the event
		// loop: a client learns the answer's status even when the
		// upstream then fails, and an event stream's head is not held
		// back until its first event.
		resp.ImmediateHeaderFlush = true
		resp.SetBodyStream(stream, up.Header.ContentLength())
		return
	}
	if buffered {
		ex.BytesOut = int64(len(resp.Body()))
		if ctx.IsHead() {
			resp.ResetBody()
		}
	} else {
		body := up.Body()
		ex.BytesOut = int64(len(body))
		if !ctx.IsHead() {
			resp.SetBody(body)
		}
	}
	fasthttp.ReleaseResponse(up)
	s.armWriteDeadline(l, ctx)
}

// readBody reads an upstream body of the declared length n into resp's
// body, through st's scratch buffer. Why not up.Body(): on a read error
// fasthttp puts the error's text in the body, which would then go to the
// client as the upstream's answer ("unexpected EOF" with a 200).
func (st *reqState) readBody(resp *fasthttp.Response, r io.Reader, n int) error {
	if st.chunk == nil {
		st.chunk = make([]byte, 16<<10)
	}
	resp.ResetBody()
	for left := n; left > 0; {
		m, err := r.Read(st.chunk[:min(left, len(st.chunk))])
		resp.AppendBody(st.chunk[:m])
		left -= m
		if err != nil && (left > 0 || err != io.EOF) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// failAfter is a reader that fails with err: the end of a body the
// upstream cut short.
type failAfter struct{ err error }

func (f failAfter) Read([]byte) (int, error) { return 0, f.err }

func (s *Server) armWriteDeadline(l *listener, ctx *fasthttp.RequestCtx) {
	if d := l.cfg.WriteTimeout.D(); d > 0 {
		_ = ctx.SetWriteDeadline(time.Now().Add(d))
	}
}

// writeProblem answers the request's refusal with its problem+json body.
func (s *Server) writeProblem(ctx *fasthttp.RequestCtx, st *reqState) {
	resp := &ctx.Response
	body := s.p.WriteProblem(&st.Request, &resp.Header)
	resp.SetBody(body)
	if ctx.IsHead() {
		resp.SkipBody = true
	}
}

// handleParseError answers requests fasthttp could not parse (oversized
// headers or body, bad framing, read timeouts) with a problem body, and
// accounts for them as the pipeline accounts for every request.
func (s *Server) handleParseError(l *listener, ctx *fasthttp.RequestCtx, err error) {
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
	// fasthttp sets the request's time once its head is read: a head it
	// could not read has none yet.
	start := ctx.Time()
	if start.IsZero() {
		start = time.Now()
	}
	lc := lineConnOf(ctx.Conn())
	if head := lc.head(); head != nil && reason == filters.ReasonRequestTimeout && s.bodyTimedOut(l, ctx, st, head, start) {
		return
	}
	// fasthttp answers a missing method or target with defaults ("GET",
	// "/") and keeps no raw bytes: the method and target recorded come
	// from the connection's copy of the request line, as on the event
	// loop, or are left out rather than invented.
	s.p.Malformed(&st.Request, &l.info, peerAddr(ctx), start, reason)
	if lc != nil {
		// A head that did not arrive in time is recorded with its line
		// too, when the line itself did arrive, as on the event loop; a
		// line longer than the copy is read from the ring.
		if m, t := lc.attempted(); m != nil {
			st.Attempted(m, t)
		} else if m, t := lc.longLine(); m != nil {
			st.Attempted(m, t)
		}
	}
	s.writeProblem(ctx, st)
	ctx.SetConnectionClose()
	s.end(ctx, st)
}

// bodyTimedOut answers a request whose head fasthttp read but whose body
// did not arrive in time within the bytes fasthttp reads ahead of the
// handler (up to 8 KiB). The event loop reads a body only once the head
// part of the chain allowed the request; so here the head, parsed again
// from the connection's copy, goes through Begin and that part of the
// chain, and the 408 is recorded with its route and principal (or the
// head's own refusal is answered, as the event loop would have at once).
// It reports false when the copy does not parse.
func (s *Server) bodyTimedOut(l *listener, ctx *fasthttp.RequestCtx, st *reqState, head []byte, start time.Time) bool {
	h := &ctx.Request.Header
	h.Reset()
	if err := h.Read(bufio.NewReader(bytes.NewReader(head))); err != nil {
		h.Reset()
		return false
	}
	r := &st.Request
	if s.p.Begin(r, &l.info, h, peerAddr(ctx), start) && s.p.FilterHead(r) {
		st.Ex.Refuse(filters.ReasonRequestTimeout)
	}
	s.writeProblem(ctx, st)
	ctx.SetConnectionClose()
	s.end(ctx, st)
	return true
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
