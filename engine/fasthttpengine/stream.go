package fasthttpengine

import (
	"io"
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
	} else if err != nil && s.upErr == nil {
		s.upErr = err
	}
	return n, err
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
