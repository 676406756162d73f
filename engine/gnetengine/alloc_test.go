//go:build !race

package gnetengine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/fasthttpengine"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/concurrency"
)

// TestSteadyStateRequestAllocatesNothing sends keep-alive requests through
// a real listener and upstream and counts every allocation in the process
// (client, proxy and upstream). The raw client and the demo upstream
// allocate nothing per request, so what is counted is the proxy's request
// path: client read, parse, route, chain, upstream write and read, relay.
func TestSteadyStateRequestAllocations(t *testing.T) {
	t.Run("gnet", func(t *testing.T) {
		up := e2etest.StartUpstream(t)
		assertAllocs(t, quick(t, up, "", "").addr, "/api/v1/customers/1", 0)
	})
	// A filter that may wait (a concurrency limit with a queue) and finds
	// a free slot decides on the loop: nothing leaves it, nothing is
	// allocated.
	t.Run("gnet, a filter that may wait", func(t *testing.T) {
		up := e2etest.StartUpstream(t)
		routes := `  - name: guarded
    methods: [GET]
    path: /bench
    upstream: demo
    filters: [{name: concurrency, config: {max_concurrent: 64, max_queue: 8, queue_timeout: 1s}}]
`
		reg := filters.Registry{{Name: "concurrency", New: concurrency.New}}
		p := startProxyWith(t, fmt.Sprintf(e2etest.BaseConfig, up.Addr, "", routes), reg)
		// A request run off the loop costs at least its goroutine and
		// closure: zero allocations means none left it.
		assertAllocs(t, p.addr, "/bench", 0)
	})
	// With the audit log in process mode, sequential requests: each
	// record is its own group, and the turn that queues it schedules the
	// round's commit through gnet's Execute (audit.go, commitRound), which
	// allocates twice: the task's closure (eventloop_unix.go, Execute) and
	// the lock-free queue's node (pkg/queue, Enqueue). Under load one
	// Execute serves every record of a round. The loop's own path (record,
	// hand-off, held end, drain) adds nothing.
	t.Run("gnet, audit process", func(t *testing.T) {
		up := e2etest.StartUpstream(t)
		h, ls := benchRuntime(t, up.Addr)
		s := startGnet(t, auditPipeline(t, h, "process"), ls)
		assertAllocs(t, s.Addrs()[0].String(), "/bench", 2)
	})
	// The goroutine engine, through the same pipeline: it lives in
	// another package, but this harness starts it beside the event loop.
	// Its four allocations are fasthttp's client's, which builds a body
	// stream and three closures for every response when responses are
	// streamed (fasthttp client.go, transport.RoundTrip), as they must be
	// for downloads and Server-Sent Events; the pipeline and the engine add
	// none. The gate keeps it from growing.
	t.Run("fasthttp", func(t *testing.T) {
		up := e2etest.StartUpstream(t)
		h, ls := benchRuntime(t, up.Addr)
		s, err := fasthttpengine.New(fasthttpengine.Options{Pipeline: benchPipeline(t, h), Listeners: ls, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Shutdown(context.Background())
		assertAllocs(t, s.Addrs()[0].String(), "/bench", 4)
	})
}

// assertAllocs sends keep-alive GETs for path to addr and fails when a
// request costs more than want allocations.
func assertAllocs(t *testing.T, addr, path string, want float64) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n")
	buf := make([]byte, 64<<10)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		// The demo upstream answers with Content-Length; read until the
		// whole e2etest.Response is in.
		got := 0
		for {
			n, err := c.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
			if responseComplete(buf[:got]) {
				return
			}
		}
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < 200; i++ { // warm pools and connections
		roundTrip()
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
		t.Fatalf("unexpected e2etest.Response %q", buf[:64])
	}
	n := testing.AllocsPerRun(500, roundTrip)
	t.Logf("allocations per proxied request: %v", n)
	if n > want {
		t.Fatalf("steady-state request path allocates %v times per request, want at most %v", n, want)
	}
}

// responseComplete reports whether b holds a whole e2etest.Response with a
// Content-Length body.
func responseComplete(b []byte) bool {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	var v []byte
	for rest := b[:end]; len(rest) > 0; {
		line := rest
		if i := bytes.Index(rest, []byte("\r\n")); i >= 0 {
			line, rest = rest[:i], rest[i+2:]
		} else {
			rest = nil
		}
		const name = "content-length:"
		if len(line) > len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
			v = bytes.TrimSpace(line[len(name):])
		}
	}
	if v == nil {
		return true
	}
	cl := 0
	for _, d := range v {
		cl = cl*10 + int(d-'0')
	}
	return len(b)-end-4 >= cl
}
