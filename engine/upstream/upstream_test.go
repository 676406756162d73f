package upstream

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a fasthttp server on loopback that counts its requests.
func serve(t *testing.T, hits *atomic.Int64, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		time.Sleep(delay)
		ctx.SetBodyString("ok")
	}}
	go s.Serve(ln)
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func get(t *testing.T, p *Pool) error {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://upstream/x")
	err := p.Do(req, resp)
	if err == nil {
		_ = resp.Body() // drain the stream, returning the connection
	}
	return err
}

func TestRoundRobinSkipsDeadTargets(t *testing.T) {
	var a, b atomic.Int64
	p, err := New(Options{Name: "u", Targets: []string{serve(t, &a, 0), deadAddr(t), serve(t, &b, 0)}, ConnectTimeout: time.Second, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 30; i++ {
		if err := get(t, p); err != nil {
			t.Fatalf("request %d: %v (a dead target must be skipped)", i, err)
		}
	}
	if a.Load() < 10 || b.Load() < 10 || a.Load()+b.Load() != 30 {
		t.Fatalf("spread a=%d b=%d, want both live targets used", a.Load(), b.Load())
	}
}

func TestAllTargetsDownAndTimeout(t *testing.T) {
	p, _ := New(Options{Name: "u", Targets: []string{deadAddr(t)}, ConnectTimeout: time.Second, Timeout: time.Second})
	err := get(t, p)
	if err == nil || !IsDialError(err) || IsTimeout(err) {
		t.Fatalf("dead target: err %v, want a dial error that is not a timeout", err)
	}
	var hits atomic.Int64
	slow, _ := New(Options{Name: "s", Targets: []string{serve(t, &hits, 500*time.Millisecond)}, ConnectTimeout: time.Second, Timeout: 100 * time.Millisecond})
	start := time.Now()
	err = get(t, slow)
	if err == nil || !IsTimeout(err) || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("slow target: err %v after %v, want a timeout after about 100ms", err, time.Since(start))
	}
}

func TestNoTargets(t *testing.T) {
	if _, err := New(Options{Name: "u"}); err == nil {
		t.Fatal("a pool without targets was built")
	}
}
