package gnetengine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// These tests mirror engine/proxy's end-to-end tests for the default
// engine, so both engines are held to the same behaviour.

func TestProxiesStatusBodyAndHeaders(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")

	r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
	if r.Status != 200 || !strings.Contains(r.Body, `"id"`) {
		t.Fatalf("GET customer: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id on the response")
	}
	r = e2etest.Do(t, "GET", p.base+"/api/v1/customers/nope", nil, "")
	if r.Status != 404 || strings.Contains(r.Header.Get("Content-Type"), "problem") {
		t.Fatalf("upstream's own 404 must pass through: %d %v", r.Status, r.Header)
	}
	r = e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/2", nil, "")
	if r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	r = e2etest.Do(t, "POST", p.base+"/api/v1/orders", map[string]string{"Content-Type": "application/json"}, `{"customer":"1","sku":"tea","qty":2}`)
	if r.Status != 201 {
		t.Fatalf("POST order: %d %s", r.Status, r.Body)
	}
	r = e2etest.Do(t, "HEAD", p.base+"/api/v1/customers/1", nil, "")
	if r.Status != 200 || r.Body != "" {
		t.Fatalf("HEAD: %d %q", r.Status, r.Body)
	}
	// The connection is still usable after HEAD (no body was expected).
	if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
		t.Fatalf("GET after HEAD: %d", r.Status)
	}
	if m := p.metrics(); !strings.Contains(m, `tollgate_http_requests_total{route="get-customer",class="2xx"} 3`) {
		t.Fatalf("responses not counted:\n%s", m)
	}
}

func TestNoRouteIs404AndUpstreamUntouched(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	before := up.Requests()
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/nope", nil, ""), 404, "route.not_found")
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/1/extra", nil, ""), 404, "route.not_found")
	r := e2etest.Do(t, "PUT", p.base+"/api/v1/customers/1", nil, "")
	e2etest.AssertProblem(t, r, 405, "route.method_not_allowed")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") {
		t.Errorf("Allow = %q", allow)
	}
	if n := up.Requests(); n != before {
		t.Fatalf("upstream saw %d requests for unrouted paths", n-before)
	}
	if m := p.metrics(); !strings.Contains(m, `tollgate_http_requests_total{route="(none)",class="4xx"} 3`) {
		t.Fatalf("refusals not counted:\n%s", m)
	}
}

func TestBodyLimit413(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	before := up.Requests()
	r := e2etest.Do(t, "POST", p.base+"/api/v1/orders", map[string]string{"Content-Type": "application/json"}, `{"pad":"`+strings.Repeat("x", 2000)+`"}`)
	e2etest.AssertProblem(t, r, 413, "request.body_too_large")
	// Chunked bodies are counted as they arrive.
	status, text := e2etest.RawRequest(t, p.addr, "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n"+strings.Repeat("x", 0x800)+"\r\n0\r\n\r\n")
	if status != 413 || !strings.Contains(text, "request.body_too_large") {
		t.Fatalf("chunked oversized body: %d\n%s", status, text)
	}
	if up.Requests() != before {
		t.Fatal("oversized body reached the upstream")
	}
}

func TestUpstreamDownIs502(t *testing.T) {
	p := startProxy(t, fmt.Sprintf(e2etest.BaseConfig, e2etest.DeadAddr(t), "", ""))
	start := time.Now()
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""), 502, "upstream.unavailable")
	if time.Since(start) > 3*time.Second {
		t.Fatalf("502 took %v; a dead upstream must fail fast", time.Since(start))
	}
	if m := p.metrics(); !strings.Contains(m, `tollgate_upstream_errors_total{upstream="demo",kind="unavailable"} 1`) {
		t.Fatalf("upstream error not counted:\n%s", m)
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	start := time.Now()
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/slow?delay=3s", nil, ""), 504, "upstream.timeout")
	if d := time.Since(start); d > 2*time.Second || d < 250*time.Millisecond {
		t.Fatalf("504 after %v, want about the route's 300ms timeout", d)
	}
	if m := p.metrics(); !strings.Contains(m, `tollgate_upstream_errors_total{upstream="demo",kind="timeout"} 1`) {
		t.Fatalf("upstream timeout not counted:\n%s", m)
	}
	// The next request on the route still works.
	if r := e2etest.Do(t, "GET", p.base+"/slow?delay=10ms", nil, ""); r.Status != 200 {
		t.Fatalf("after a timeout: %d %s", r.Status, r.Body)
	}
}

func TestLargeDownloadStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB download")
	}
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	const size = 256 << 20
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	resp, err := e2etest.Client.Get(fmt.Sprintf("%s/api/v1/download/%d", p.base, size))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if err != nil || n != size {
		t.Fatalf("downloaded %d bytes (err %v), want %d", n, err, size)
	}
	grow := int64(peak.Load()) - int64(base)
	t.Logf("heap grew by %d KiB while proxying a %d MiB download", grow>>10, size>>20)
	if grow > 64<<20 {
		t.Fatalf("heap grew by %d MiB while proxying a %d MiB download", grow>>20, size>>20)
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var raw strings.Builder
	const n = 20
	for i := 0; i < n; i++ {
		switch i % 4 {
		case 0, 1:
			fmt.Fprintf(&raw, "GET /echo/p%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		case 2:
			fmt.Fprintf(&raw, "GET /nope/p%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		case 3:
			body := fmt.Sprintf(`{"i":%d}`, i)
			fmt.Fprintf(&raw, "POST /echo/p%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)
		}
	}
	// All requests in one write: they arrive together.
	if _, err := io.WriteString(c, raw.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("e2etest.Response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if i%4 == 2 {
			if resp.StatusCode != 404 {
				t.Fatalf("e2etest.Response %d: status %d", i, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf(`"/echo/p%d"`, i)) {
			t.Fatalf("e2etest.Response %d out of order or wrong: %d %s", i, resp.StatusCode, b)
		}
	}
}

func TestRequestBodiesBufferedChunkedAndStreamed(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	type echoBody struct {
		BodyLength int `json:"body_length"`
	}
	post := func(body io.Reader, size int64) echoBody {
		t.Helper()
		req, _ := http.NewRequest("POST", p.base+"/echo/upload", body)
		req.ContentLength = size
		resp, err := e2etest.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e echoBody
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		return e
	}
	if e := post(strings.NewReader("hello"), 5); e.BodyLength != 5 {
		t.Errorf("small body: upstream got %d bytes", e.BodyLength)
	}
	if e := post(io.MultiReader(strings.NewReader("abc"), strings.NewReader("defg")), -1); e.BodyLength != 7 {
		t.Errorf("chunked body: upstream got %d bytes", e.BodyLength)
	}
	const big = 3 << 20
	if e := post(io.LimitReader(e2etest.Zeros{}, big), big); e.BodyLength != big {
		t.Errorf("streamed body: upstream got %d bytes, want %d", e.BodyLength, big)
	}
	// The connections stay usable.
	if e := post(strings.NewReader("again"), 5); e.BodyLength != 5 {
		t.Errorf("after streaming: upstream got %d bytes", e.BodyLength)
	}
}

func TestSmugglingAndMalformedFramingRefused(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "    header_timeout: 1s", "")
	before := up.Requests()
	cases := []struct {
		name, raw string
		status    int
	}{
		{"CL.TE", "POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"TE.CL", "POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400},
		{"duplicate CL", "POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", 400},
		{"obfuscated TE", "POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"TE list", "POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"space before colon", "POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", 400},
		{"obs-fold", "GET /echo/x HTTP/1.1\r\nHost: x\r\n X-Folded: y\r\n\r\n", 400},
		{"no Host in 1.1", "GET /echo/x HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad chunk size", "POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk bare LF", "POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400},
		{"NUL in header", "GET /echo/x HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"bare LF inside", "GET /echo/x HTTP/1.1\nHost: x\r\n\r\n", 400},
		// Never forwarded; answered 408 when header_timeout expires, as
		// the default engine does.
		{"bare LF", "POST /echo/x HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc", 408},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, text := e2etest.RawRequest(t, p.addr, c.raw)
			if status != c.status || !strings.Contains(text, "application/problem+json") {
				t.Fatalf("status %d, want %d with a problem body\n%s", status, c.status, text)
			}
		})
	}
	if n := up.Requests() - before; n != 0 {
		t.Fatalf("upstream saw %d requests from malformed input", n)
	}
	status, text := e2etest.RawRequest(t, p.addr, "GET /echo/x HTTP/1.0\r\n\r\n")
	if status != 200 || strings.Contains(text, `"User-Agent"`) {
		t.Fatalf("HTTP/1.0 without Host: %d\n%s", status, text)
	}
}

func TestSlowClientIsCutOff(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "    header_timeout: 500ms", "")
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	cut := false
	_, _ = io.WriteString(c, "GET /echo/x HTTP/1.1\r\n")
	for i := 0; i < 25; i++ {
		if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
			cut = true
			break
		}
		time.Sleep(200 * time.Millisecond)
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err == nil || !e2etest.IsTimeout(err) {
			cut = true // answered (408) or closed instead of waiting
			break
		}
	}
	if !cut || time.Since(start) > 3*time.Second {
		t.Fatalf("slow client kept its connection for %v", time.Since(start))
	}
	if up.Requests() != 0 {
		t.Fatal("a partial request reached the upstream")
	}
}

func TestGracefulDrain(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "    timeout: 5s")
	slow := make(chan int, 1)
	go func() {
		resp, err := e2etest.Client.Get(p.base + "/slow?delay=200ms")
		if err != nil {
			slow <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	deadline := time.Now().Add(2 * time.Second)
	for p.srv.InFlight() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if p.srv.InFlight() == 0 {
		t.Fatal("the slow request never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if st := <-slow; st != 200 {
		t.Fatalf("in-flight request during drain got %d, want 200", st)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get(p.base + "/api/v1/customers/1"); err == nil {
		t.Fatal("new requests still accepted after shutdown")
	}
}

func TestConcurrentClientsKeepAlive(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "", "")
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				resp, err := e2etest.Client.Get(p.base + "/api/v1/customers/1")
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of 1600 requests failed", n)
	}
	// The last e2etest.Response is written just before its request is counted
	// out, so allow the loop a moment.
	deadline := time.Now().Add(time.Second)
	for p.srv.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := p.srv.InFlight(); n != 0 {
		t.Fatalf("in flight after the load: %d", n)
	}
}
