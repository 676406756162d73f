package proxy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

// boom is a filter that panics on every request; boomResponse lets the
// request through and panics on its response.
type boom struct{}

func (boom) Name() string                             { return "boom" }
func (boom) Handle(*filters.Exchange) filters.Verdict { panic("boom") }

type boomResponse struct{}

func (boomResponse) Name() string                             { return "boom-response" }
func (boomResponse) Handle(*filters.Exchange) filters.Verdict { return filters.Continue }
func (boomResponse) HandleResponse(*filters.Exchange)         { panic("boom in a response") }

// TestPanickingFilterAnswers500AndTheProxyLivesOn holds both engines to
// the same recovery: a filter that panics on the request or on the
// response gives 500 proxy.internal_error, an audit record saying so, a
// count in tollgate_http_panics_total and a log line, and the process
// goes on serving every other request.
func TestPanickingFilterAnswers500AndTheProxyLivesOn(t *testing.T) {
	reg := append(all.Registry(),
		filters.Registration{Name: "boom", New: func(filters.Spec) (filters.Filter, error) { return boom{}, nil }},
		filters.Registration{Name: "boom-response", New: func(filters.Spec) (filters.Filter, error) { return boomResponse{}, nil }},
	)
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			up := e2etest.StartUpstream(t)
			keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/audit")
			cfg := withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine) +
				"  - {name: broken, methods: [GET], path: /broken, upstream: demo, filters: [{name: boom}]}\n" +
				"  - {name: broken-response, methods: [GET], path: /broken-response, upstream: demo, filters: [{name: boom-response}]}\n"
			p := startProxyWith(t, cfg, reg)
			for _, path := range []string{"/broken", "/broken-response", "/broken"} {
				e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+path, nil, ""), 500, "proxy.internal_error")
				if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
					t.Fatalf("after a panic in %s the proxy answered %d", path, r.Status)
				}
			}
			if m := metricsOf(t, p); !strings.Contains(m, "tollgate_http_panics_total 3\n") {
				t.Errorf("panics not counted:\n%s", m)
			}
			if !strings.Contains(p.logBuf.String(), "recovered from a panic") {
				t.Errorf("the panic was not logged:\n%s", p.logBuf)
			}
			failed := map[string]int{}
			shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
				if string(rec.Reason) == "proxy.internal_error" && rec.Status == 500 {
					failed[string(rec.Route)]++
				}
				return nil
			})
			if failed["/broken"] != 2 || failed["/broken-response"] != 1 {
				t.Fatalf("audit records of the 500s by route: %v, want /broken 2, /broken-response 1", failed)
			}
		})
	}
}
