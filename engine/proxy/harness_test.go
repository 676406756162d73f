package proxy_test

import (
	"bufio"
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

	"github.com/tollgate-proxy/tollgate/bench/upstream"
	"github.com/tollgate-proxy/tollgate/engine/proxy"
)

// testUpstream is a real demo upstream on a loopback port.
type testUpstream struct {
	*upstream.Server
	addr string
}

func startUpstream(t *testing.T) *testUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := upstream.New(upstream.Options{})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown() })
	return &testUpstream{Server: s, addr: ln.Addr().String()}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// baseConfig is a config with every quickstart-like route; %[1]s is the
// upstream address, %[2]s extra listener settings, %[3]s extra routes.
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
	*proxy.Proxy
	base   string // http://127.0.0.1:port
	addr   string
	admin  string
	path   string
	logBuf *syncBuffer
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tollgate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startProxy(t *testing.T, cfg string) *testProxy {
	t.Helper()
	path := writeConfig(t, cfg)
	buf := &syncBuffer{}
	p, err := proxy.Start(proxy.Options{ConfigPath: path, Log: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	addr := p.Addrs()[0].String()
	return &testProxy{Proxy: p, base: "http://" + addr, addr: addr, admin: "http://" + p.AdminAddr().String(), path: path, logBuf: buf}
}

func (p *testProxy) rewriteConfig(t *testing.T, cfg string) {
	t.Helper()
	if err := os.WriteFile(p.path+".tmp", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p.path+".tmp", p.path); err != nil {
		t.Fatal(err)
	}
}

var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, hdr map[string]string, body string) response {
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
// status line and the whole response text.
func rawRequest(t *testing.T, addr, raw string) (int, string) {
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

func startProxyErr(path string) (*proxy.Proxy, error) {
	p, err := proxy.Start(proxy.Options{ConfigPath: path, Log: slog.New(slog.DiscardHandler)})
	if err == nil {
		_ = p.Shutdown(context.Background())
	}
	return p, err
}
