package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// The proxy benchmarks drive a real listener on loopback with a
// keep-alive fasthttp client and compare Tollgate with the standard
// library's httputil.ReverseProxy and with going to the upstream
// directly, in one run. Compare ns/op across them; -cpuprofile on
// BenchmarkProxyTollgate shows where the proxy spends its time.

func benchTarget(b *testing.B, addr string) {
	b.Helper()
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 512, ReadTimeout: 5 * time.Second}
	url := []byte("http://" + addr + "/bench")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURIBytes(url)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("status %d err %v", resp.StatusCode(), err)
				return
			}
		}
	})
}

func BenchmarkProxyDirect(b *testing.B) {
	up := e2etest.StartUpstream(&testing.T{})
	benchTarget(b, up.Addr)
}

func BenchmarkProxyTollgate(b *testing.B) {
	t := &testing.T{}
	up := e2etest.StartUpstream(t)
	p := startProxy(t, fmt.Sprintf(`
log: {level: error}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%s]}]
routes:
  - {name: bench, methods: [GET], path: /bench, upstream: demo}
`, up.Addr))
	benchTarget(b, p.addr)
}

func BenchmarkProxyHTTPUtil(b *testing.B) {
	up := e2etest.StartUpstream(&testing.T{})
	target, _ := url.Parse("http://" + up.Addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	defer srv.Close()
	benchTarget(b, ln.Addr().String())
}
