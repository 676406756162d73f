package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

const failoverConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - {name: public, listen: 127.0.0.1:0}
upstreams:
  - {name: pair, targets: [%[1]s, %[2]s], connect_timeout: 500ms, fail_timeout: %[3]s}
  - {name: lone, targets: [%[2]s], connect_timeout: 500ms}
routes:
  - {name: pair, path: "/api/v1/customers/{id}", upstream: pair}
  - {name: lone, path: /bench, upstream: lone}
`

// TestUnreachableTargetIsLeftOut: of two targets, one drops connects (its
// accept queue is full). Every request is answered by the other; the one
// whose turn first falls on the silent target waits out connect_timeout,
// and after that the target is left out for fail_timeout, so no later
// request waits (without fail_timeout, every second one would). /metrics
// says the target is down. An upstream whose only target is silent is
// still tried on every request: 504, never a refusal without a try.
func TestUnreachableTargetIsLeftOut(t *testing.T) {
	for _, failTimeout := range []string{"10s", "1ns"} {
		t.Run("fail_timeout="+failTimeout, func(t *testing.T) { testUnreachableTarget(t, failTimeout) })
	}
}

func testUnreachableTarget(t *testing.T, failTimeout string) {
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		silent := e2etest.SilentAddr(t)
		p := startProxy(t, onEngine(t, fmt.Sprintf(failoverConfig, up.Addr, silent, failTimeout), engine))
		before := up.Requests()
		slow := 0
		for i := range 8 {
			start := time.Now()
			if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/"+fmt.Sprint(1+i%3), nil, ""); r.Status != 200 {
				t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
			}
			if time.Since(start) > 400*time.Millisecond {
				slow++
			}
		}
		if got := up.Requests() - before; got != 8 {
			t.Fatalf("the live target answered %d of 8", got)
		}
		down := fmt.Sprintf(`tollgate_upstream_target_up{upstream="pair",target=%q} 0`, silent)
		if failTimeout == "1ns" {
			// Left out for no time: each turn of the silent target costs
			// the connect timeout, as without the rule.
			if slow < 3 {
				t.Fatalf("%d of 8 requests waited for the silent target, want about 4", slow)
			}
			return
		}
		if slow != 1 {
			t.Fatalf("%d of 8 requests waited for the silent target's connect timeout, want 1", slow)
		}
		if m := metricsOf(t, p); !strings.Contains(m, down) || !strings.Contains(m, fmt.Sprintf(`tollgate_upstream_target_up{upstream="pair",target=%q} 1`, up.Addr)) {
			t.Fatalf("/metrics lacks %s:\n%s", down, m)
		}
		for range 2 {
			r := e2etest.Do(t, "GET", p.base+"/bench", nil, "")
			e2etest.AssertProblem(t, r, 504, "upstream.timeout")
		}
	})
}

// TestUpstreamClosingIdleConnections: a backend that closes idle
// keep-alive connections sooner than the proxy would (Go's IdleTimeout
// here; Node.js closes after 5 s) never costs a client a 502 on either
// engine: each request, GET or POST, is answered and reached the backend
// exactly once.
func TestUpstreamClosingIdleConnections(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var served atomic.Int64
		srv := &http.Server{IdleTimeout: 100 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			served.Add(1)
			fmt.Fprintf(w, "%s %s", r.Method, body)
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		p := startProxy(t, onEngine(t, fmt.Sprintf(`
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - {name: public, listen: 127.0.0.1:0}
upstreams:
  - {name: short-keepalive, targets: [%s], idle_timeout: 60s}
routes:
  - {name: echo, path: /echo, upstream: short-keepalive}
`, ln.Addr()), engine))
		for i, method := range []string{"GET", "POST", "GET", "POST"} {
			body := ""
			if method == "POST" {
				body = "order"
			}
			r := e2etest.Do(t, method, p.base+"/echo", map[string]string{"Content-Type": "text/plain"}, body)
			if r.Status != 200 || r.Body != method+" "+body {
				t.Fatalf("request %d (%s) after the backend closed its idle connection: %d %s", i, method, r.Status, r.Body)
			}
			time.Sleep(300 * time.Millisecond) // past the backend's idle timeout
		}
		if n := served.Load(); n != 4 {
			t.Fatalf("the backend served %d requests, want each of the 4 once", n)
		}
	})
}

// TestExpectContinue: a client that asks for a go-ahead before sending
// its body (Expect: 100-continue; curl does for bodies over 1 MiB) gets a
// 100 (Continue) at once on both engines, not after its own timeout, and
// the request then goes through whole; the upstream never sees Expect.
func TestExpectContinue(t *testing.T) {
	up := e2etest.StartUpstream(t)
	for _, size := range []int{3, 2 << 20} { // buffered, and streamed past stream_threshold
		t.Run(fmt.Sprintf("body=%d", size), func(t *testing.T) { expectContinue(t, up, size) })
	}
}

func expectContinue(t *testing.T, up *e2etest.Upstream, size int) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := fmt.Sprintf(e2etest.BaseConfig, up.Addr, "    engine: "+engine+"\n    max_body_bytes: 4MiB", "")
		p := startProxy(t, cfg)
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST /echo/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", size)
		br := bufio.NewReader(c)
		start := time.Now()
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("first answer %q (%v), want 100 Continue", line, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("100 Continue after %v", d)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue followed by %q", blank)
		}
		if _, err := c.Write(bytes.Repeat([]byte("a"), size)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		e := e2etest.DecodeEcho(t, e2etest.Response{Status: resp.StatusCode, Body: string(body), Header: resp.Header})
		if resp.StatusCode != 200 || e.Header("Expect") != "" || e.Header("Content-Length") != fmt.Sprint(size) {
			t.Fatalf("final answer %d; upstream saw Expect %q, Content-Length %q", resp.StatusCode, e.Header("Expect"), e.Header("Content-Length"))
		}
	})
}
