package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/filters"
)

// closing is a filter kind that counts its Close calls.
type closing struct{ closed *atomic.Int32 }

func (closing) Name() string                             { return "closing" }
func (closing) Handle(*filters.Exchange) filters.Verdict { return filters.Continue }
func (c closing) Close() error                           { c.closed.Add(1); return nil }

// loadText loads a config from text, as `tollgate run` loads a file.
func loadText(t *testing.T, text string) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func compileText(t *testing.T, reg filters.Registry, text string) (*engine.Runtime, error) {
	t.Helper()
	return engine.Compile(loadText(t, text), reg, 1, nil, nil)
}

// reload compiles text as generation gen after prev, as a SIGHUP does.
func reload(t *testing.T, text string, prev *engine.Runtime, gen uint64) *engine.Runtime {
	t.Helper()
	rt, err := engine.Compile(loadText(t, text), filters.Registry{}, gen, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// metricsPage is the runtime's part of /metrics.
func metricsPage(rt *engine.Runtime) string {
	var b strings.Builder
	rt.WritePrometheus(&b)
	return b.String()
}

const sharedConfig = `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
filters:
  - {id: shared-one, name: closing}
routes:
  - {name: a, path: /a, upstream: demo, filters: [{use: shared-one}, {name: closing}]}
  - {name: b, path: /b, upstream: demo, filters: [{use: shared-one}]}
`

func TestSharedFilterIsBuiltOnceAndClosedOnce(t *testing.T) {
	var built, closed atomic.Int32
	reg := filters.Registry{{Name: "closing", New: func(filters.Spec) (filters.Filter, error) {
		built.Add(1)
		return closing{closed: &closed}, nil
	}}}
	rt, err := compileText(t, reg, sharedConfig)
	if err != nil {
		t.Fatal(err)
	}
	if built.Load() != 2 {
		t.Fatalf("built %d filters, want 2 (one shared, one route-owned)", built.Load())
	}
	a, b := rt.Routes[0].Chain.Filters(), rt.Routes[1].Chain.Filters()
	if len(a) != 2 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("routes do not share the instance: %v %v", a, b)
	}
	var h engine.Holder
	h.Swap(rt)
	h.Close()
	if closed.Load() != 2 {
		t.Fatalf("closed %d times, want 2 (shared once, owned once)", closed.Load())
	}
}

func TestCompileReportsEveryFilterError(t *testing.T) {
	reg := filters.Registry{{Name: "closing", New: func(s filters.Spec) (filters.Filter, error) {
		return nil, s.Errorf("bad settings")
	}}}
	_, err := compileText(t, reg, sharedConfig)
	if err == nil {
		t.Fatal("compiled with failing filters")
	}
	msg := err.Error()
	for _, want := range []string{`c.yaml:4:5: filter "closing": bad settings`, `c.yaml:6:70: filter "closing": bad settings`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestRuntimeClosesAfterLastRequest(t *testing.T) {
	var closed atomic.Int32
	reg := filters.Registry{{Name: "closing", New: func(filters.Spec) (filters.Filter, error) {
		return closing{closed: &closed}, nil
	}}}
	rt1, err := compileText(t, reg, sharedConfig)
	if err != nil {
		t.Fatal(err)
	}
	rt2, err := compileText(t, reg, sharedConfig)
	if err != nil {
		t.Fatal(err)
	}
	var h engine.Holder
	h.Swap(rt1)
	inflight := h.Acquire() // a request still running on generation 1
	h.Swap(rt2)
	if closed.Load() != 0 {
		t.Fatal("generation 1 closed while a request was using it")
	}
	inflight.Release()
	if closed.Load() != 2 {
		t.Fatalf("generation 1 not closed after its last request: %d", closed.Load())
	}
	h.Close()
	if closed.Load() != 4 {
		t.Fatalf("generation 2 not closed: %d", closed.Load())
	}
}

// TestRouteCountersSurviveReloads: a reload, even of an unchanged file,
// keeps every still-configured route's counters and histogram (Prometheus
// would read a drop as a restart, and the counts since the last scrape
// would be lost); a removed route's series go.
func TestRouteCountersSurviveReloads(t *testing.T) {
	const two = `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
routes:
  - {name: a, path: /a, upstream: demo}
  - {name: b, path: /b, upstream: demo}
`
	var h engine.Holder
	rt1 := reload(t, two, nil, 1)
	h.Swap(rt1)
	rt1.Routes[0].CountResponse(200, time.Millisecond)
	rt1.Routes[1].CountResponse(503, time.Millisecond)
	rt1.Routes[1].UpstreamErrors.Inc()

	rt2 := reload(t, two, rt1, 2) // SIGHUP, file unchanged
	h.Swap(rt2)
	rt2.Routes[0].CountResponse(200, time.Millisecond)
	m := metricsPage(rt2)
	for _, want := range []string{
		`tollgate_http_requests_total{route="a",class="2xx"} 2`,
		`tollgate_http_requests_total{route="b",class="5xx"} 1`,
		`tollgate_http_request_duration_seconds_count{route="a"} 2`,
		`tollgate_upstream_errors_total{upstream="demo",kind="unavailable"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("after a reload /metrics lacks %s:\n%s", want, m)
		}
	}

	rt3 := reload(t, strings.Replace(two, "  - {name: b, path: /b, upstream: demo}\n", "", 1), rt2, 3)
	h.Swap(rt3)
	m = metricsPage(rt3)
	if strings.Contains(m, `route="b"`) || !strings.Contains(m, `tollgate_http_requests_total{route="a",class="2xx"} 2`) {
		t.Errorf("after removing route b:\n%s", m)
	}
	h.Close()
}

// TestRouteHistogramKinds: metrics.histograms chooses the latency buckets
// /metrics shows: le bounds by default (and for prometheus), which any
// Prometheus can histogram_quantile, or VictoriaMetrics' vmrange ones. The
// first generation's kind stays: a reload that switches it keeps each
// route's histogram, counts and all, until the restart.
func TestRouteHistogramKinds(t *testing.T) {
	const routes = `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
routes:
  - {name: a, path: /a, upstream: demo}
`
	le := []string{
		`tollgate_http_request_duration_seconds_bucket{route="a",le="0.0005"} 0`,
		`tollgate_http_request_duration_seconds_bucket{route="a",le="0.001"} 1`,
		`tollgate_http_request_duration_seconds_bucket{route="a",le="0.025"} 1`,
		`tollgate_http_request_duration_seconds_bucket{route="a",le="0.05"} 2`,
		`tollgate_http_request_duration_seconds_bucket{route="a",le="10"} 2`,
		`tollgate_http_request_duration_seconds_bucket{route="a",le="+Inf"} 3`,
		`tollgate_http_request_duration_seconds_count{route="a"} 3`,
	}
	vmrange := []string{
		`tollgate_http_request_duration_seconds_bucket{route="a",vmrange="`,
		`tollgate_http_request_duration_seconds_count{route="a"} 3`,
	}
	for _, tc := range []struct {
		setting, other string
		want           []string
		unwanted       string
	}{
		{"", "metrics: {histograms: vmrange}\n", le, "vmrange="},
		{"metrics: {histograms: prometheus}\n", "metrics: {histograms: vmrange}\n", le, "vmrange="},
		{"metrics: {histograms: vmrange}\n", "metrics: {histograms: prometheus}\n", vmrange, "le="},
	} {
		rt1, err := compileText(t, filters.Registry{}, routes+tc.setting)
		if err != nil {
			t.Fatal(err)
		}
		var h engine.Holder
		h.Swap(rt1)
		rt1.Routes[0].CountResponse(200, 800*time.Microsecond)
		rt1.Routes[0].CountResponse(200, 30*time.Millisecond)

		// A reload to the other kind keeps the first one.
		rt2 := reload(t, routes+tc.other, rt1, 2)
		h.Swap(rt2)
		rt2.Routes[0].CountResponse(504, 31*time.Second)
		m := metricsPage(rt2)
		for _, want := range tc.want {
			if !strings.Contains(m, want) {
				t.Errorf("%q: /metrics lacks %s:\n%s", tc.setting, want, m)
			}
		}
		if strings.Contains(m, tc.unwanted) {
			t.Errorf("%q: /metrics has %s buckets:\n%s", tc.setting, tc.unwanted, m)
		}
		h.Close()
	}
}

// waiting is a filter kind that may wait (filters.Blocker).
type waiting struct{}

func (waiting) Name() string                             { return "waiting" }
func (waiting) Handle(*filters.Exchange) filters.Verdict { return filters.Continue }
func (waiting) MayBlock() bool                           { return true }

// TestNotFoundChainMustNotWait: the not_found chain runs before a route is
// known, where an event loop cannot hand it to another goroutine, so a
// filter that may wait is a config error.
func TestNotFoundChainMustNotWait(t *testing.T) {
	reg := filters.Registry{{Name: "waiting", New: func(filters.Spec) (filters.Filter, error) { return waiting{}, nil }}}
	const cfg = `listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [127.0.0.1:9]}]
not_found: {filters: [{name: waiting}]}
routes: [{name: a, path: /a, upstream: demo}]
`
	if _, err := compileText(t, reg, cfg); err == nil || !strings.Contains(err.Error(), "not_found.filters: a filter that may wait") {
		t.Fatalf("compile: %v", err)
	}
}
