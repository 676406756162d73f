package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/engine/proxy"
)

// TestEngineAutoServesPlainHTTPOnTheEventLoop pins which engine serves
// which listener, and that the choice is visible: engine: auto (the
// default) puts plain-HTTP listeners on the event loop and TLS listeners on
// the goroutine engine, the startup log names each listener's engine, and
// /metrics has tollgate_listener_info; --engine forces one engine.
func TestEngineAutoServesPlainHTTPOnTheEventLoop(t *testing.T) {
	up := e2etest.StartUpstream(t)
	certFile, keyFile, _ := selfSigned(t)
	cfg := strings.Replace(fmt.Sprintf(e2etest.BaseConfig, up.Addr, "", ""),
		"upstreams:", fmt.Sprintf("  - {name: secure, listen: 127.0.0.1:0, tls: {cert: %q, key: %q}}\nupstreams:", certFile, keyFile), 1)
	for _, c := range []struct {
		force         string
		plain, secure string
	}{
		{"", "gnet", "fasthttp"},
		{"fasthttp", "fasthttp", "fasthttp"},
	} {
		t.Run("force="+c.force, func(t *testing.T) {
			buf := &syncBuffer{}
			p, err := proxy.Start(proxy.Options{ConfigPath: writeConfig(t, cfg), Engine: c.force, Log: slog.New(slog.NewTextHandler(buf, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			m := e2etest.Do(t, "GET", "http://"+p.AdminAddr().String()+"/metrics", nil, "").Body
			for _, want := range []string{
				fmt.Sprintf(`tollgate_listener_info{listener="public",engine=%q,tls="false"} 1`, c.plain),
				fmt.Sprintf(`tollgate_listener_info{listener="secure",engine=%q,tls="true"} 1`, c.secure),
			} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %s:\n%s", want, m)
				}
			}
			for name, e := range map[string]string{"public": c.plain, "secure": c.secure} {
				named := false
				for _, line := range strings.Split(buf.String(), "\n") {
					if strings.Contains(line, "msg=listening listener="+name+" ") && strings.Contains(line, " engine="+e+" ") {
						named = true
					}
				}
				if !named {
					t.Errorf("startup log does not name listener %s's engine %s:\n%s", name, e, buf)
				}
			}
			if r := e2etest.Do(t, "GET", "http://"+p.Addrs()[0].String()+"/api/v1/customers/1", nil, ""); r.Status != 200 {
				t.Fatalf("plain listener: %d", r.Status)
			}
		})
	}
	// An engine that cannot serve a listener is refused at start.
	if _, err := proxy.Start(proxy.Options{ConfigPath: writeConfig(t, cfg), Engine: "gnet", Log: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), "does not terminate TLS") {
		t.Fatalf("--engine gnet with a TLS listener: %v", err)
	}
}

// TestSilentConnectionGets408AtHeaderTimeout: a connection that never
// sends a byte is answered 408 when header_timeout expires, not held until
// idle_timeout, and is accounted for identically on both engines (a
// malformed request, counted on the unmatched route).
func TestSilentConnectionGets408AtHeaderTimeout(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "    header_timeout: 500ms\n    idle_timeout: 60s", "")
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a silent connection after %v: %v", time.Since(start), err)
		}
		resp.Body.Close()
		if took := time.Since(start); resp.StatusCode != 408 || took < 400*time.Millisecond || took > 2*time.Second {
			t.Fatalf("silent connection: %d after %v, want 408 after header_timeout (500ms)", resp.StatusCode, took)
		}
		m := metricsOf(t, p)
		for _, want := range []string{
			"tollgate_http_malformed_requests_total 1\n",
			`tollgate_http_requests_total{route="(none)",class="4xx"} 1` + "\n",
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}
