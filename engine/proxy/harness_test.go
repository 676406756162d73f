package proxy_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/proxy"
	"github.com/tollgate-proxy/tollgate/filters"
)

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
	return startProxyWith(t, cfg, nil)
}

// startProxyWith is startProxy with a filter registry (nil: the built-in
// filters).
func startProxyWith(t *testing.T, cfg string, reg filters.Registry) *testProxy {
	t.Helper()
	path := writeConfig(t, cfg)
	buf := &syncBuffer{}
	p, err := proxy.Start(proxy.Options{ConfigPath: path, Registry: reg, Log: slog.New(slog.NewTextHandler(buf, nil))})
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

func startProxyErr(path string) (*proxy.Proxy, error) {
	p, err := proxy.Start(proxy.Options{ConfigPath: path, Log: slog.New(slog.DiscardHandler)})
	if err == nil {
		_ = p.Shutdown(context.Background())
	}
	return p, err
}

// onEngine puts cfg's listener (written "{name: public, listen:
// 127.0.0.1:0}") on engine.
func onEngine(t *testing.T, cfg, engine string) string {
	t.Helper()
	out := strings.Replace(cfg, "{name: public, listen: 127.0.0.1:0}", "{name: public, listen: 127.0.0.1:0, engine: "+engine+"}", 1)
	if out == cfg {
		t.Fatal("the config has no listener to put an engine on")
	}
	return out
}
