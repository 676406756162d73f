package gnetengine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/fasthttpengine"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// The benchmarks drive a real listener on loopback with a keep-alive
// fasthttp client, and put the gnet engine beside the default engine and
// beside going to the upstream directly, in one run: compare ns/op.

var sink int

const benchConfig = `
log: {level: error}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%s]}]
routes:
  - {name: bench, methods: [GET], path: /bench, upstream: demo}
`

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
		n := 0
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("status %d err %v", resp.StatusCode(), err)
				return
			}
			n += len(resp.Body())
		}
		sink += n
	})
}

func benchRuntime(b testing.TB, upAddr string) (*engine.Holder, []config.Listener) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, benchConfig, upAddr), 0o600); err != nil {
		b.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	rt, err := engine.Compile(c, filters.Registry{}, 1, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := &engine.Holder{}
	h.Swap(rt)
	b.Cleanup(h.Close)
	return h, c.Listeners
}

func benchPipeline(b testing.TB, h *engine.Holder) *pipeline.Pipeline {
	p, err := pipeline.New(pipeline.Options{Holder: h, Metrics: metrics.NewSet()})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// auditPipeline is benchPipeline with an audit log in durability mode
// (process, disk or async) in a temporary directory, signed with a key
// made here.
func auditPipeline(tb testing.TB, h *engine.Holder, durability string) *pipeline.Pipeline {
	tb.Helper()
	_, p := auditRecorder(tb, h, &config.Audit{Durability: durability})
	return p
}

// auditRecorder opens the audit log c describes in a temporary directory,
// signed with a key made here (c's Dir and SigningKeyFile are set), and a
// pipeline that records through it.
func auditRecorder(tb testing.TB, h *engine.Holder, c *config.Audit) (*engine.Recorder, *pipeline.Pipeline) {
	tb.Helper()
	dir := tb.TempDir()
	skey, _, err := auditlog.GenerateKey("tollgate.test/audit")
	if err != nil {
		tb.Fatal(err)
	}
	keyFile := filepath.Join(dir, "audit.key")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		tb.Fatal(err)
	}
	c.Dir, c.SigningKeyFile = filepath.Join(dir, "log"), keyFile
	set := metrics.NewSet()
	rec, err := engine.NewRecorder(c, nil, slog.New(slog.DiscardHandler), set)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rec.Close() })
	p, err := pipeline.New(pipeline.Options{Holder: h, Recorder: rec, Metrics: set})
	if err != nil {
		tb.Fatal(err)
	}
	return rec, p
}

// startGnet serves p's listeners ls with the gnet engine until the test ends.
func startGnet(tb testing.TB, p *pipeline.Pipeline, ls []config.Listener) *Server {
	tb.Helper()
	s, err := New(Options{Pipeline: p, Listeners: ls, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

func BenchmarkProxyDirect(b *testing.B) {
	up := e2etest.StartUpstream(b)
	benchTarget(b, up.Addr)
}

func BenchmarkProxyGnet(b *testing.B) {
	up := e2etest.StartUpstream(b)
	h, ls := benchRuntime(b, up.Addr)
	s, err := New(Options{Pipeline: benchPipeline(b, h), Listeners: ls, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	benchTarget(b, s.Addrs()[0].String())
}

// BenchmarkProxyGnetAudit is BenchmarkProxyGnet with the audit log in
// process mode: the record, the hand-off to the sequencer and back, and
// the held end of the response (audit.go). Compare with
// BenchmarkProxyGnet in the same run.
func BenchmarkProxyGnetAudit(b *testing.B) {
	up := e2etest.StartUpstream(b)
	h, ls := benchRuntime(b, up.Addr)
	s := startGnet(b, auditPipeline(b, h, "process"), ls)
	benchTarget(b, s.Addrs()[0].String())
}

func BenchmarkProxyFasthttp(b *testing.B) {
	up := e2etest.StartUpstream(b)
	h, ls := benchRuntime(b, up.Addr)
	s, err := fasthttpengine.New(fasthttpengine.Options{Pipeline: benchPipeline(b, h), Listeners: ls, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	benchTarget(b, s.Addrs()[0].String())
}
