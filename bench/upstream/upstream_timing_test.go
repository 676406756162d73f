package upstream

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

var sink int

// BenchmarkBenchEndpoint measures GET /bench end to end over an in-memory
// listener: the upstream's own cost per request in the load harness.
func BenchmarkBenchEndpoint(b *testing.B) {
	ln := fasthttputil.NewInmemoryListener()
	s := New(Options{})
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Shutdown() })
	c := &fasthttp.HostClient{Addr: "bench", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://bench/bench")
		n := 0
		for pb.Next() {
			if err := c.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			n += len(resp.Body())
		}
		sink += n
	})
}

// BenchmarkCount measures the per-path counter on a known path.
func BenchmarkCount(b *testing.B) {
	s := New(Options{})
	p := []byte("/bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.count(p)
		}
	})
	sink += int(s.Requests())
}
