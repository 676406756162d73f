package gnetengine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// The end-to-end tests both engines must pass run in engine/proxy, once per
// engine (onBothEngines). These are the ones that need this engine's
// insides (pipelining, its own drain and in-flight count) or pin a
// difference.

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

func TestBareLFRequestLineRefused(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "    header_timeout: 1s", "")
	before := up.Requests()
	status, text := e2etest.RawRequest(t, p.addr, "GET /echo/x HTTP/1.1\nHost: x\r\n\r\n")
	if status != 400 || !strings.Contains(text, "application/problem+json") {
		t.Fatalf("status %d, want 400 with a problem body\n%s", status, text)
	}
	if n := up.Requests() - before; n != 0 {
		t.Fatalf("upstream saw %d requests", n)
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

// TestIdleLoopsDoNotWake: nothing polls. With a keep-alive connection
// idle (its next deadline is idle_timeout away), no loop sweeps; a
// header_timeout that expires is enforced on time all the same.
func TestIdleLoopsDoNotWake(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := quick(t, up, "    header_timeout: 300ms\n    idle_timeout: 60s", "")
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The connection's header deadline (300ms) passed while its request was
	// served; let whatever sweep was armed for it run, then count.
	time.Sleep(500 * time.Millisecond)
	before := p.srv.sweeps()
	time.Sleep(time.Second)
	if n := p.srv.sweeps() - before; n != 0 {
		t.Fatalf("%d sweeps in a second with every connection idle: the loops poll", n)
	}
	// A new connection that sends nothing still gets its 408 on time.
	c2, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	start := time.Now()
	_ = c2.SetReadDeadline(start.Add(3 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil || resp.StatusCode != 408 || time.Since(start) > time.Second {
		t.Fatalf("silent connection: %v %v after %v", resp, err, time.Since(start))
	}
}
