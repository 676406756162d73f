package proxy_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/engine/proxy"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

// boom is a filter that panics on every request.
type boom struct{}

func (boom) Name() string                             { return "boom" }
func (boom) Handle(*filters.Exchange) filters.Verdict { panic("boom") }

func TestPanickingFilterAnswers500AndTheProxyLivesOn(t *testing.T) {
	up := e2etest.StartUpstream(t)
	reg := append(all.Registry(), filters.Registration{Name: "boom", New: func(filters.Spec) (filters.Filter, error) { return boom{}, nil }})
	cfg := fmt.Sprintf(e2etest.BaseConfig, up.Addr, "", `  - name: broken
    path: /broken
    upstream: demo
    filters: [{name: boom}]`)
	buf := &syncBuffer{}
	p, err := proxy.Start(proxy.Options{ConfigPath: writeConfig(t, cfg), Registry: reg, Log: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(t.Context())
	base := "http://" + p.Addrs()[0].String()
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", base+"/broken", nil, ""), 500, "proxy.internal_error")
	if r := e2etest.Do(t, "GET", base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
		t.Fatalf("after a panic the proxy answered %d", r.Status)
	}
	if !strings.Contains(buf.String(), "recovered from a panic") {
		t.Fatalf("the panic was not logged:\n%s", buf)
	}
}

func TestPanickingFilterOnTheGnetEngine(t *testing.T) {
	up := e2etest.StartUpstream(t)
	reg := append(all.Registry(), filters.Registration{Name: "boom", New: func(filters.Spec) (filters.Filter, error) { return boom{}, nil }})
	cfg := strings.Replace(fmt.Sprintf(e2etest.BaseConfig, up.Addr, "    engine: gnet", `  - name: broken
    path: /broken
    upstream: demo
    filters: [{name: boom}]`), "    write_timeout: 5s\n", "", 1)
	p, err := proxy.Start(proxy.Options{ConfigPath: writeConfig(t, cfg), Registry: reg, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(t.Context())
	base := "http://" + p.Addrs()[0].String()
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", base+"/broken", nil, ""), 500, "proxy.internal_error")
	if r := e2etest.Do(t, "GET", base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
		t.Fatalf("after a panic the gnet engine answered %d", r.Status)
	}
}
