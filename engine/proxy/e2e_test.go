package proxy_test

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

func quick(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy {
	t.Helper()
	return startProxy(t, fmt.Sprintf(e2etest.BaseConfig, up.Addr, listenerExtra, routesExtra))
}

// onBothEngines runs a test against the default engine and the gnet
// engine: quick gives it a proxy whose listener uses the engine under test.
func onBothEngines(t *testing.T, test func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy)) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			test(t, func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy {
				t.Helper()
				extra := "    engine: " + engine
				if listenerExtra != "" {
					extra += "\n" + listenerExtra
				}
				return quick(t, up, extra, routesExtra)
			})
		})
	}
}

// metricsOf returns the proxy's /metrics page.
func metricsOf(t *testing.T, p *testProxy) string {
	t.Helper()
	return e2etest.Do(t, "GET", p.admin+"/metrics", nil, "").Body
}

func TestProxiesStatusBodyAndHeaders(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
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
		if m := metricsOf(t, p); !strings.Contains(m, `tollgate_http_requests_total{route="get-customer",class="2xx"} 3`) {
			t.Fatalf("responses not counted:\n%s", m)
		}
	})
}

func TestStripsHopByHopAndSetsForwardingHeaders(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", "")
		e := e2etest.DecodeEcho(t, e2etest.Do(t, "GET", p.base+"/echo/a?x=1", map[string]string{
			"Connection":       "keep-alive, X-Secret-Hop",
			"X-Secret-Hop":     "must not pass",
			"Keep-Alive":       "timeout=5",
			"Proxy-Connection": "keep-alive",
			"Te":               "trailers",
			"Upgrade":          "websocket",
			"X-Forwarded-For":  "203.0.113.66",
			"X-Forwarded-Host": "evil.example",
			"Forwarded":        "for=203.0.113.66",
			"X-Request-Id":     "client-chosen",
			"Traceparent":      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"X-Custom":         "kept",
		}, ""))
		for _, h := range []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Connection", "Te", "Upgrade", "Forwarded"} {
			if v := e.Header(h); v != "" {
				t.Errorf("hop-by-hop or untrusted header %s reached the upstream: %q", h, v)
			}
		}
		if got := e.Header("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q: an untrusted client must not inject it", got)
		}
		if got := e.Header("X-Forwarded-Host"); got == "evil.example" {
			t.Errorf("X-Forwarded-Host from an untrusted client passed through")
		}
		if got := e.Header("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto = %q", got)
		}
		if got := e.Header("X-Request-Id"); got == "" || got == "client-chosen" {
			t.Errorf("X-Request-Id = %q: must be generated for untrusted clients", got)
		}
		if got := e.Header("Traceparent"); !strings.HasPrefix(got, "00-4bf92f") {
			t.Errorf("traceparent = %q, want passed through", got)
		}
		if e.Header("X-Custom") != "kept" {
			t.Errorf("end-to-end header dropped")
		}
		if e.URI != "/echo/a?x=1" {
			t.Errorf("upstream target = %q", e.URI)
		}
	})
}

func TestTrustedProxyForwardingHeaders(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "    trusted_proxies: [127.0.0.1/32]", "")
		e := e2etest.DecodeEcho(t, e2etest.Do(t, "GET", p.base+"/echo/b", map[string]string{
			"X-Forwarded-For":   "198.51.100.7",
			"X-Forwarded-Proto": "https",
			"X-Request-Id":      "edge-123",
		}, ""))
		if got := e.Header("X-Forwarded-For"); got != "198.51.100.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q", got)
		}
		if got := e.Header("X-Real-Ip"); got != "198.51.100.7" {
			t.Errorf("X-Real-Ip = %q, want the client behind the trusted proxy", got)
		}
		if got := e.Header("X-Forwarded-Proto"); got != "https" {
			t.Errorf("X-Forwarded-Proto = %q", got)
		}
		if got := e.Header("X-Request-Id"); got != "edge-123" {
			t.Errorf("X-Request-Id = %q, want a trusted proxy's id passed through", got)
		}
	})
}

// TestTrustRequestIDWithoutTrustingTheClient: trust_request_id keeps a
// client's well-formed X-Request-Id (answered and forwarded, so logs on
// both sides correlate) while its X-Forwarded-For is still not believed;
// a malformed id is replaced.
func TestTrustRequestIDWithoutTrustingTheClient(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "    trust_request_id: true", "")
		r := e2etest.Do(t, "GET", p.base+"/echo/id", map[string]string{"X-Request-Id": "client-7f3a", "X-Forwarded-For": "203.0.113.66"}, "")
		e := e2etest.DecodeEcho(t, r)
		if got := e.Header("X-Request-Id"); got != "client-7f3a" || r.Header.Get("X-Request-Id") != "client-7f3a" {
			t.Errorf("X-Request-Id upstream %q, answered %q; want the client's", got, r.Header.Get("X-Request-Id"))
		}
		if got := e.Header("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q: the client is still not trusted", got)
		}
		r = e2etest.Do(t, "GET", p.base+"/echo/id", map[string]string{"X-Request-Id": `bad"id`}, "")
		if got := r.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, `"`) {
			t.Errorf("a malformed id was kept: %q", got)
		}
	})
}

func TestNoRouteIs404AndUpstreamUntouched(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
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
		if m := metricsOf(t, p); !strings.Contains(m, `tollgate_http_requests_total{route="(none)",class="4xx"} 3`) {
			t.Fatalf("refusals not counted:\n%s", m)
		}
	})
}

func TestPathTricksAre400(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", "")
		before := up.Requests()
		tricks := []string{
			"/api/v1/customers/%2e%2e/%2e%2e/admin/stats",
			"/api/v1/customers/1%2Fdelete",
			"/api/v1/customers/1%2fdelete",
			"/api/v1/customers/..%2f..%2fadmin",
			"/api/v1/customers/.%2E/admin",
			"/api/v1/customers/1%00",
			"/api/v1/customers/%zz",
			"/api/v1/customers/%4",
			"/api/v1/customers/..;/admin/stats",
			"/api/v1/customers/1%5c..%5cadmin",
			"/api/v1/customers/1\\..\\admin",
		}
		for _, tr := range tricks {
			status, text := e2etest.RawRequest(t, p.addr, "GET "+tr+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if status != 400 {
				t.Errorf("%s: status %d, want 400\n%s", tr, status, text)
				continue
			}
			if !strings.Contains(text, "request.bad_path") {
				t.Errorf("%s: no request.bad_path reason in %s", tr, text)
			}
		}
		if n := up.Requests(); n != before {
			t.Fatalf("upstream contacted %d times by path tricks", n-before)
		}
		// Dot segments that resolve inside the tree are normalized, and the
		// upstream receives the normalized target.
		status, text := e2etest.RawRequest(t, p.addr, "GET /echo/a/./b/../c//d?q=%2e HTTP/1.1\r\nHost: x\r\n\r\n")
		if status != 200 || !strings.Contains(text, `"/echo/a/c/d?q=%2e"`) {
			t.Fatalf("normalized target not forwarded: %d %s", status, text)
		}
	})
}

func TestBodyLimit413(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
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
	})
}

func TestUpstreamDownIs502(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			p := startProxy(t, fmt.Sprintf(e2etest.BaseConfig, e2etest.DeadAddr(t), "    engine: "+engine, ""))
			start := time.Now()
			e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""), 502, "upstream.unavailable")
			if time.Since(start) > 3*time.Second {
				t.Fatalf("502 took %v; a dead upstream must fail fast", time.Since(start))
			}
			if m := metricsOf(t, p); !strings.Contains(m, `tollgate_upstream_errors_total{upstream="demo",kind="unavailable"} 1`) {
				t.Fatalf("upstream error not counted:\n%s", m)
			}
		})
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", "")
		start := time.Now()
		e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/slow?delay=3s", nil, ""), 504, "upstream.timeout")
		if d := time.Since(start); d > 2*time.Second || d < 250*time.Millisecond {
			t.Fatalf("504 after %v, want about the route's 300ms timeout", d)
		}
		if m := metricsOf(t, p); !strings.Contains(m, `tollgate_upstream_errors_total{upstream="demo",kind="timeout"} 1`) {
			t.Fatalf("upstream timeout not counted:\n%s", m)
		}
		// The next request on the route still works.
		if r := e2etest.Do(t, "GET", p.base+"/slow?delay=10ms", nil, ""); r.Status != 200 {
			t.Fatalf("after a timeout: %d %s", r.Status, r.Body)
		}
	})
}

func TestServerSentEventsStreamEventByEvent(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", "")
		resp, err := e2etest.Client.Get(p.base + "/api/v1/events?n=3&interval=400ms")
		if err != nil {
			t.Fatalf("%v\nproxy log:\n%s", err, p.logBuf)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content type %q", ct)
		}
		start := time.Now()
		br := bufio.NewReader(resp.Body)
		var arrivals []time.Duration
		for len(arrivals) < 3 {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d events: %v", len(arrivals), err)
			}
			if strings.HasPrefix(line, "data:") {
				arrivals = append(arrivals, time.Since(start))
			}
		}
		// Buffering the stream would deliver all three events at once, at
		// the end; streaming delivers them about one interval apart.
		if gap := arrivals[2] - arrivals[0]; gap < 500*time.Millisecond {
			t.Fatalf("events arrived together (%v): the stream was buffered", arrivals)
		}
	})
}

func TestLargeDownloadStreamsWithBoundedMemory(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
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
		if grow := int64(peak.Load()) - int64(base); grow > 64<<20 {
			t.Fatalf("heap grew by %d MiB while proxying a %d MiB download", grow>>20, size>>20)
		}
	})
}

// TestGracefulDrain: requests in flight when shutdown begins finish, and
// new ones are refused, on both engines alike.
func TestGracefulDrain(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", "    timeout: 5s")
		done := make(chan e2etest.Response, 1)
		go func() {
			done <- e2etest.Do(t, "GET", p.base+"/echo/slowish?x", nil, "")
		}()
		// A slow request in flight while shutdown begins.
		slow := make(chan int, 1)
		go func() {
			resp, err := e2etest.Client.Get(p.base + "/slow?delay=200ms")
			if err != nil {
				slow <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			slow <- resp.StatusCode
		}()
		<-done
		time.Sleep(50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if st := <-slow; st != 200 {
			t.Fatalf("in-flight request during drain got %d, want 200", st)
		}
		if _, err := (&http.Client{Timeout: time.Second}).Get(p.base + "/api/v1/customers/1"); err == nil {
			t.Fatal("new requests still accepted after shutdown")
		}
	})
}

// TestReloadUnderTrafficLosesNothing reloads good and bad configs under
// traffic, on both engines: no request fails, and the last good config
// serves.
func TestReloadUnderTrafficLosesNothing(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) { reloadUnderTraffic(t, "    engine: "+engine) })
	}
}

func reloadUnderTraffic(t *testing.T, listenerExtra string) {
	up := e2etest.StartUpstream(t)
	cfg := fmt.Sprintf(e2etest.BaseConfig, up.Addr, listenerExtra, "")
	p := startProxy(t, cfg)
	var failures, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := e2etest.Client.Get(p.base + "/api/v1/customers/1")
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	extra := `  - name: added
    methods: [GET]
    path: /added/{id}
    upstream: demo`
	for i := 0; i < 5; i++ {
		time.Sleep(40 * time.Millisecond)
		p.rewriteConfig(t, fmt.Sprintf(e2etest.BaseConfig, up.Addr, listenerExtra, extra))
		if err := p.Reload(); err != nil {
			t.Fatalf("good reload %d: %v", i, err)
		}
		time.Sleep(40 * time.Millisecond)
		p.rewriteConfig(t, "listeners: [oops\n")
		if err := p.Reload(); err == nil {
			t.Fatal("bad config was accepted")
		}
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed across reloads", failures.Load(), total.Load())
	}
	if total.Load() < 20 {
		t.Fatalf("only %d requests ran during the reloads", total.Load())
	}
	// The last good config (with the added route) is still serving.
	if r := e2etest.Do(t, "GET", p.base+"/added/1", nil, ""); r.Status == 404 && strings.Contains(r.Body, "route.not_found") {
		t.Fatal("the last good config is not in effect")
	}
	if g := p.Generation(); g != 6 {
		t.Fatalf("generation = %d, want 6 (1 + 5 good reloads)", g)
	}
}

func TestAdminEndpoints(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", "")
		e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
		e2etest.Do(t, "GET", p.base+"/nope", nil, "")
		m := e2etest.Do(t, "GET", p.admin+"/metrics", nil, "")
		for _, want := range []string{
			`tollgate_http_requests_total{route="get-customer",class="2xx"} 1`,
			`tollgate_http_requests_total{route="(none)",class="4xx"} 1`,
			`tollgate_http_request_duration_seconds_bucket{route="get-customer"`,
			`tollgate_http_requests_in_flight`,
			`tollgate_config_reloads_total{result="success"} 0`,
		} {
			if !strings.Contains(m.Body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		if r := e2etest.Do(t, "GET", p.admin+"/healthz", nil, ""); r.Status != 200 {
			t.Errorf("healthz %d", r.Status)
		}
		if r := e2etest.Do(t, "GET", p.admin+"/readyz", nil, ""); r.Status != 200 {
			t.Errorf("readyz %d", r.Status)
		}
	})
}

func TestRequestBodiesBufferedChunkedAndStreamed(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
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
		// Small with a length: buffered.
		if e := post(strings.NewReader("hello"), 5); e.BodyLength != 5 {
			t.Errorf("small body: upstream got %d bytes", e.BodyLength)
		}
		// Chunked (no length): buffered up to the limit, re-framed.
		if e := post(io.MultiReader(strings.NewReader("abc"), strings.NewReader("defg")), -1); e.BodyLength != 7 {
			t.Errorf("chunked body: upstream got %d bytes", e.BodyLength)
		}
		// Above the stream threshold (64KiB here): streamed through.
		const big = 3 << 20
		if e := post(io.LimitReader(e2etest.Zeros{}, big), big); e.BodyLength != big {
			t.Errorf("streamed body: upstream got %d bytes, want %d", e.BodyLength, big)
		}
		// The connections stay usable.
		if e := post(strings.NewReader("again"), 5); e.BodyLength != 5 {
			t.Errorf("after streaming: upstream got %d bytes", e.BodyLength)
		}
	})
}

func TestSmugglingAndMalformedFramingRefused(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
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
			// Bare LF line ends are refused at once (RFC 9112 §2.2 lets a
			// server accept them; a proxy that did would read a head its
			// upstream may read differently).
			{"bare LF", "POST /echo/x HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc", 400},
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
		// HTTP/1.0 without Host is legal and is forwarded.
		status, text := e2etest.RawRequest(t, p.addr, "GET /echo/x HTTP/1.0\r\n\r\n")
		if status != 200 || strings.Contains(text, `"User-Agent"`) {
			t.Fatalf("HTTP/1.0 without Host: %d\n%s", status, text)
		}
	})
}

func TestOversizedHeadersAre431(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "    max_header_bytes: 4KiB", "")
		status, text := e2etest.RawRequest(t, p.addr, "GET /echo/x HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\n\r\n")
		if status != 431 || !strings.Contains(text, "request.header_too_large") {
			t.Fatalf("status %d\n%s", status, text)
		}
	})
}

func TestSlowClientIsCutOff(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "    header_timeout: 500ms", "")
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		// Slowloris: a header line every 200ms, never finishing the request.
		cut := false
		for i := 0; i < 25; i++ {
			if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
				cut = true
				break
			}
			if i == 0 {
				_, _ = io.WriteString(c, "")
			}
			time.Sleep(200 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil && !e2etest.IsTimeout(err) {
				cut = true
				break
			} else if err == nil {
				cut = true // the proxy answered (408) instead of waiting
				break
			}
		}
		if !cut || time.Since(start) > 3*time.Second {
			t.Fatalf("slow client kept its connection for %v", time.Since(start))
		}
		if up.Requests() != 0 {
			t.Fatal("a partial request reached the upstream")
		}
	})
}

func TestLoadSheddingAboveMaxInFlight(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		slow := "  - {name: slower, host: slow.test, methods: [GET], path: /slow, upstream: demo, timeout: 10s}"
		cfg := strings.Replace(fmt.Sprintf(e2etest.BaseConfig, up.Addr, "", slow), "log:\n", "limits: {max_in_flight: 2}\nlog:\n", 1)
		p := startProxy(t, cfg)
		// Two slow requests hold the cap; a third one meanwhile is shed.
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := e2etest.Do(t, "GET", p.base+"/slow?delay=1500ms", map[string]string{"Host": "slow.test"}, ""); r.Status != 200 {
					t.Errorf("held request: %d %s", r.Status, r.Body)
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		shed := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
		wg.Wait()
		e2etest.AssertProblem(t, shed, 503, "proxy.overloaded")
		if shed.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After = %q", shed.Header.Get("Retry-After"))
		}
		// Below the cap, requests flow again.
		if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
			t.Fatalf("after the surge: %d", r.Status)
		}
	})
}
