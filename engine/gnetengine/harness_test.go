package gnetengine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

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
	return startProxyWith(tb, cfg, filters.Registry{})
}

// startProxyWith is startProxy with the filters of reg.
func startProxyWith(tb testing.TB, cfg string, reg filters.Registry) *testProxy {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tollgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := engine.Compile(c, reg, 1, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h := &engine.Holder{}
	h.Swap(rt)
	pipe, err := pipeline.New(pipeline.Options{Holder: h, Log: slog.New(slog.DiscardHandler), Metrics: metrics.NewSet()})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := New(Options{Pipeline: pipe, Listeners: c.Listeners, Log: slog.New(slog.DiscardHandler), EventLoops: 2})
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

func quick(tb testing.TB, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy {
	tb.Helper()
	return startProxy(tb, fmt.Sprintf(e2etest.BaseConfig, up.Addr, listenerExtra, routesExtra))
}

func (p *testProxy) metrics() string {
	var b bytes.Buffer
	p.rt.Metrics.WritePrometheus(&b)
	return b.String()
}
