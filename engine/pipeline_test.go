package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
)

// pass is a no-op filter for pipeline benchmarks.
type pass struct{}

func (pass) Name() string                             { return "pass" }
func (pass) Handle(*filters.Exchange) filters.Verdict { return filters.Continue }

var testRegistry = filters.Registry{
	{Name: "pass", New: func(filters.Spec) (filters.Filter, error) { return pass{}, nil }},
}

// compileRoutes compiles a config with n API-like routes, each with four
// no-op filters.
func compileRoutes(tb testing.TB, n int) *engine.Runtime {
	tb.Helper()
	var b strings.Builder
	b.WriteString("listeners: [{name: public, listen: 127.0.0.1:0}]\nupstreams: [{name: demo, targets: [127.0.0.1:9]}]\nroutes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: r%d-get, methods: [GET], path: \"/api/v1/res%d/{id}/items/{item}\", upstream: demo, filters: [{name: pass}, {name: pass}, {name: pass}, {name: pass}]}\n", i, i)
		fmt.Fprintf(&b, "  - {name: r%d-post, methods: [POST], path: /api/v1/res%d, upstream: demo}\n", i, i)
	}
	p := filepath.Join(tb.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := engine.Compile(cfg, testRegistry, 1, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}

// pipeline is what an engine does per request before forwarding:
// normalize, route, run the chain.
func pipeline(rt *engine.Runtime, ex *filters.Exchange, pathBuf []byte) ([]byte, bool) {
	var err error
	pathBuf, err = router.Normalize(pathBuf[:0], ex.RawTarget)
	if err != nil {
		return pathBuf, false
	}
	ex.Path = pathBuf
	id, res := rt.Router.Lookup(ex.Host, ex.Method, ex.Path, &ex.Params)
	if res != router.Found {
		return pathBuf, false
	}
	r := rt.Routes[id]
	ex.Route = &r.Info
	ok := r.Chain.Run(ex).IsContinue()
	r.Chain.Finish(ex)
	return pathBuf, ok
}

func TestPipelineRoutesAndRunsChain(t *testing.T) {
	rt := compileRoutes(t, 25)
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	ex.Method, ex.Host, ex.RawTarget = []byte("GET"), []byte("api.example"), []byte("/api/v1/res17/42/items/./7")
	_, ok := pipeline(rt, ex, nil)
	if !ok || ex.Route.Name != "r17-get" || string(ex.Params.Get("item")) != "7" || string(ex.Params.Get("id")) != "42" {
		t.Fatalf("ok=%v route=%v params id=%q item=%q", ok, ex.Route, ex.Params.Get("id"), ex.Params.Get("item"))
	}
}
