package fasthttpengine

import (
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// idleStream relays a streamed upstream body to the client. Before each
// chunk is handed to the writer it pushes the client's write deadline
// forward, so a stream lives as long as it makes progress (Server-Sent
// Events, long downloads) while a client that stops reading is cut off
// after one idle period.
type idleStream struct {
	up      *fasthttp.Response
	r       io.Reader
	ctx     *fasthttp.RequestCtx
	idle    time.Duration
	written int64
}

var idleStreamPool = sync.Pool{New: func() any { return new(idleStream) }}

func acquireIdleStream(up *fasthttp.Response, ctx *fasthttp.RequestCtx, idle time.Duration) *idleStream {
	s := idleStreamPool.Get().(*idleStream)
	s.up, s.r, s.ctx, s.idle, s.written = up, up.BodyStream(), ctx, idle, 0
	return s
}

func (s *idleStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.idle > 0 {
		_ = s.ctx.SetWriteDeadline(time.Now().Add(s.idle))
	}
	s.written += int64(n)
	return n, err
}

// Close releases the upstream connection (fasthttp calls it once the body
// is written or the client went away) and returns s to its pool.
func (s *idleStream) Close() error {
	err := s.up.CloseBodyStream()
	fasthttp.ReleaseResponse(s.up)
	s.up, s.r, s.ctx = nil, nil, nil
	idleStreamPool.Put(s)
	return err
}
