// Package e2etest is the harness the engines' end-to-end tests share: a
// real demo upstream on loopback, the base config they proxy with, an HTTP
// client, raw-socket requests, and the problem+json and echo assertions.
// Both engines are held to the same behaviour through the same helpers.
package e2etest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/bench/upstream"
	"golang.org/x/sys/unix"
)

// Upstream is a real demo upstream on a loopback port.
type Upstream struct {
	*upstream.Server
	Addr string
}

// StartUpstream serves the demo upstream on 127.0.0.1 until the test ends.
func StartUpstream(tb testing.TB) *Upstream {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := upstream.New(upstream.Options{})
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = s.Shutdown() })
	return &Upstream{Server: s, Addr: ln.Addr().String()}
}

// DeadAddr returns a loopback address nothing listens on.
func DeadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// SilentAddr returns a loopback address whose connects time out, as a
// backend that drops packets does: a socket listening with the smallest
// backlog, never accepting, whose queue is filled at once, so the kernel
// drops further SYNs. It is closed when the test ends.
func SilentAddr(tb testing.TB) string {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		tb.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	// A backlog of 0 queues one connection: fill it, and see that the
	// next connect does time out.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				tb.Fatalf("SilentAddr: want a connect that times out, got %v", err)
			}
			break
		}
		tb.Cleanup(func() { _ = c.Close() })
		if i == 8 {
			tb.Fatal("SilentAddr: the listen queue never filled")
		}
	}
	return addr
}

// BaseConfig is a config with every quickstart-like route; %[1]s is the
// upstream address, %[2]s extra listener settings, %[3]s extra routes.
const BaseConfig = `
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

// Client is a keep-alive client for the tests' requests.
var Client = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends one request (a "Host" entry in hdr sets the Host) and reads the
// whole answer.
func Do(tb testing.TB, method, url string, hdr map[string]string, body string) Response {
	tb.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rb)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := Client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// RawRequest writes raw bytes on a fresh connection and returns the
// status and the whole response text.
func RawRequest(tb testing.TB, addr, raw string) (int, string) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatalf("read response to %q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, fmt.Sprintf("%v\n%s", resp.Header, b)
}

// Exchange is what RawExchange saw on one connection.
type Exchange struct {
	// Responses are the answers read, in order.
	Responses []Response
	// Raw is every byte read from the connection, as received.
	Raw string
	// Closed reports that the peer closed the connection after the last
	// answer read (or before all answers arrived).
	Closed bool
	// Elapsed runs from the write to the end of the last answer read.
	Elapsed time.Duration
	// Err is why fewer answers than asked for were read, or that bytes
	// followed the last one; nil otherwise.
	Err error
}

// closeProbe is how long RawExchange waits for the peer to close the
// connection after the answers before it calls the connection kept open.
const closeProbe = 500 * time.Millisecond

// RawExchange writes raw bytes on a fresh connection, reads up to answers
// responses in order, then waits closeProbe to see whether the peer
// closes the connection. An answer that never comes is reported in Err,
// not as a test failure, so callers can record it like any outcome.
func RawExchange(tb testing.TB, addr, raw string, answers int) Exchange {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatal(err)
	}
	var rec strings.Builder
	br := bufio.NewReader(io.TeeReader(c, &rec))
	var x Exchange
	for len(x.Responses) < answers {
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			x.Responses = append(x.Responses, Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)})
		}
		if err != nil {
			x.Err = fmt.Errorf("answer %d: %w", len(x.Responses)+1, err)
			x.Closed = !IsTimeout(err)
			break
		}
	}
	x.Elapsed = time.Since(start)
	if x.Err == nil {
		_ = c.SetReadDeadline(time.Now().Add(closeProbe))
		switch _, err := br.Peek(1); {
		case err == nil:
			x.Err = fmt.Errorf("unexpected bytes after %d answers", answers)
		case !IsTimeout(err):
			x.Closed = true // EOF or reset
		}
	}
	x.Raw = rec.String()
	return x
}

// AssertProblem checks an application/problem+json refusal: status,
// reason code, and a request id matching the X-Request-Id header.
func AssertProblem(tb testing.TB, r Response, status int, reason string) {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("content type = %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
		tb.Fatalf("problem body is not JSON: %v: %s", err, r.Body)
	}
	if p["reason"] != reason || p["status"] != float64(status) {
		tb.Fatalf("problem = %v, want reason %q status %d", p, reason, status)
	}
	if p["request_id"] == nil || p["request_id"] != r.Header.Get("X-Request-Id") {
		tb.Fatalf("problem request_id %v does not match header %q", p["request_id"], r.Header.Get("X-Request-Id"))
	}
}

// Echoed is what the demo upstream's /echo/ endpoint reports receiving.
type Echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	URI     string              `json:"uri"`
	Proto   string              `json:"proto"`
	Headers map[string][]string `json:"headers"`
}

// Header returns the first value of a received header, any case.
func (e Echoed) Header(name string) string {
	for k, v := range e.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// DecodeEcho parses a 200 answer of /echo/.
func DecodeEcho(tb testing.TB, r Response) Echoed {
	tb.Helper()
	if r.Status != 200 {
		tb.Fatalf("echo status %d: %s", r.Status, r.Body)
	}
	var e Echoed
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		tb.Fatalf("echo body: %v: %s", err, r.Body)
	}
	return e
}

// Zeros is an endless reader of zero bytes, for upload bodies.
type Zeros struct{}

func (Zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// IsTimeout reports whether err is a network timeout.
func IsTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
