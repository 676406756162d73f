package gnetengine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/bench/upstream"
	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/filters"
)

// testUpstream is a real demo upstream on a loopback port.
type testUpstream struct {
	*upstream.Server
	addr string
}

func startUpstream(tb testing.TB) *testUpstream {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := upstream.New(upstream.Options{})
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = s.Shutdown() })
	return &testUpstream{Server: s, addr: ln.Addr().String()}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// baseConfig mirrors the end-to-end tests' config; %[1]s is the upstream
// address, %[2]s extra listener settings, %[3]s extra routes.
const baseConfig = `
log:
  level: warn
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
    write_timeout: 5s
    stream_threshold: 64KiB
%[2]s
upstreams:
  - name: demo
    targets: [%[1]s]
    timeout: 5s
routes:
  - name: get-customer
    methods: [GET]
    path: /api/v1/customers/{id}
    upstream: demo
  - name: delete-customer
    methods: [DELETE]
    path: /api/v1/customers/{id}
    upstream: demo
  - name: list-customers
    methods: [GET]
    path: /api/v1/customers
    upstream: demo
  - name: create-order
    methods: [POST]
    path: /api/v1/orders
    upstream: demo
    max_body_bytes: 1KiB
  - name: events
    methods: [GET]
    path: /api/v1/events
    upstream: demo
  - name: download
    methods: [GET]
    path: /api/v1/download/{size}
    upstream: demo
  - name: slow
    methods: [GET]
    path: /slow
    upstream: demo
    timeout: 300ms
  - name: echo
    path: /echo/*
    upstream: demo
%[3]s
`

type testProxy struct {
	srv    *Server
	rt     *engine.Runtime
	holder *engine.Holder
	base   string
	addr   string
}

// startProxy compiles cfg and serves it with the gnet engine.
func startProxy(tb testing.TB, cfg string) *testProxy {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tollgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := engine.Compile(c, filters.Registry{}, 1, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h := &engine.Holder{}
	h.Swap(rt)
	srv, err := New(Options{Holder: h, Listeners: c.Listeners, Log: slog.New(slog.DiscardHandler), Metrics: metrics.NewSet(), EventLoops: 2})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		h.Close()
	})
	addr := srv.Addrs()[0].String()
	return &testProxy{srv: srv, rt: rt, holder: h, base: "http://" + addr, addr: addr}
}

func quick(tb testing.TB, up *testUpstream, listenerExtra, routesExtra string) *testProxy {
	tb.Helper()
	return startProxy(tb, fmt.Sprintf(baseConfig, up.addr, listenerExtra, routesExtra))
}

func (p *testProxy) metrics() string {
	var b bytes.Buffer
	p.rt.Metrics.WritePrometheus(&b)
	return b.String()
}

var client = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, method, url string, hdr map[string]string, body string) response {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rb)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// rawRequest writes raw bytes on a fresh connection and returns the
// status and the whole response text.
func rawRequest(t testing.TB, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, fmt.Sprintf("%v\n%s", resp.Header, b)
}
