package fasthttpengine

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// idleStream relays a streamed upstream body to the client. Before each
// chunk is handed to the writer it pushes the client's write deadline
// forward, so a stream lives as long as it makes progress (Server-Sent
// Events, long downloads) while a client that stops reading is cut off
// after one idle period.
//
// It also finishes the request's audit trail: the completion record is
// written before the first byte goes out, so the stream, which sees the
// last one, writes the KindStreamEnd record with the bytes sent and how
// the stream ended.
type idleStream struct {
	up      *fasthttp.Response
	r       io.Reader
	ctx     *fasthttp.RequestCtx
	idle    time.Duration
	written int64
	want    int64 // declared length, or -1 (chunked, SSE)
	head    bool  // HEAD: no body is sent
	eof     bool
	upErr   error

	p     *pipeline.Pipeline // with audit: set by the handler once the completion record is written
	audit *pipeline.StreamRecord
}

var idleStreamPool = sync.Pool{New: func() any { return new(idleStream) }}

func acquireIdleStream(up *fasthttp.Response, ctx *fasthttp.RequestCtx, idle time.Duration) *idleStream {
	s := idleStreamPool.Get().(*idleStream)
	s.up, s.r, s.ctx, s.idle, s.written = up, up.BodyStream(), ctx, idle, 0
	s.want, s.head, s.eof, s.upErr = int64(up.Header.ContentLength()), ctx.IsHead(), false, nil
	if s.want < 0 {
		s.want = -1
	}
	return s
}

func (s *idleStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.idle > 0 {
		_ = s.ctx.SetWriteDeadline(time.Now().Add(s.idle))
	}
	s.written += int64(n)
	if err == io.EOF {
		s.eof = true
		s.relayTrailers()
	} else if err != nil && s.upErr == nil {
		s.upErr = err
	}
	return n, err
}

// relayTrailers passes the trailer fields that ended a chunked upstream
// body on to the client, whose chunked answer fasthttp ends with the
// response's trailer section once the stream is read: the event loop
// relays chunked bodies verbatim, trailers included. They are read once
// the upstream body ended, so the head had no Trailer field to announce
// them (a SHOULD, RFC 9110 §6.6.2).
func (s *idleStream) relayTrailers() {
	if s.want >= 0 || s.head {
		return
	}
	h := &s.ctx.Response.Header
	for k := range s.up.Header.Trailers() {
		if v := s.up.Header.PeekBytes(k); v != nil {
			_ = h.AddTrailerBytes(k)
			h.SetBytesKV(k, v)
		}
	}
}

// outcome says why the stream stopped short, or nil if it was sent whole.
// fasthttp reads exactly the declared length, so a sized body is whole
// when that many bytes went out, an unsized one when the upstream's end
// was read.
func (s *idleStream) outcome() *filters.Reason {
	switch {
	case s.head:
		return nil
	case s.upErr != nil:
		return filters.ReasonUpstreamBroken
	case s.want >= 0 && s.written < s.want, s.want < 0 && !s.eof:
		return filters.ReasonClientAborted
	}
	return nil
}

// Close releases the upstream connection (fasthttp calls it once the body
// is written or the client went away), writes the stream's end record and
// returns s to its pool.
func (s *idleStream) Close() error {
	err := s.up.CloseBodyStream()
	fasthttp.ReleaseResponse(s.up)
	if s.audit != nil {
		s.p.EndStream(s.audit, s.written, s.outcome(), time.Now())
	}
	s.up, s.r, s.ctx, s.upErr, s.p, s.audit = nil, nil, nil, nil, nil, nil
	idleStreamPool.Put(s)
	return err
}

// relayClosing sends a response of unknown length to an HTTP/1.0 client:
// the head without chunked coding, then the body as it comes, delimited by
// closing the connection (RFC 9112 §6.3). fasthttp would chunk it, so the
// connection is taken over once the handler returns (a rare path: an old
// client on a streamed answer). With keepLength it sends a body the
// upstream cut short: the head as it is, with its length, then what came,
// then the close, by which the client tells it was cut (fasthttp would
// drop the head with the body's error).
func (s *Server) relayClosing(ctx *fasthttp.RequestCtx, st *reqState, stream *idleStream, idle time.Duration, keepLength bool) {
	resp := &ctx.Response
	if !keepLength {
		resp.Header.Del(fasthttp.HeaderTransferEncoding)
		resp.Header.SetContentLength(-2)
	}
	resp.SetConnectionClose()
	st.closing = stream
	stream.idle = 0 // the deadlines are set on the connection below
	ctx.HijackSetNoResponse(true)
	head := resp.Header.AppendBytes(nil)
	ctx.Hijack(func(c net.Conn) {
		defer stream.Close()
		if _, err := write(c, head, idle); err != nil {
			return
		}
		if stream.head {
			return
		}
		buf := make([]byte, 16<<10)
		for {
			n, err := stream.Read(buf)
			if n > 0 {
				if _, werr := write(c, buf[:n], idle); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// write writes b to c within idle (no deadline if idle is 0).
func write(c net.Conn, b []byte, idle time.Duration) (int, error) {
	if idle > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(idle))
	}
	return c.Write(b)
}
