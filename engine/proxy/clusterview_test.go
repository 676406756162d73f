package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/engine/insight/insighttest"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// clusterViewConfig is dashboardConfig's policy with an engine (%[2]s), the audit
// log (%[3]s dir, %[4]s key) and shipping to PostgreSQL (%[5]s).
const clusterViewConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0, engine: %[2]s}]
upstreams: [{name: demo, targets: [%[1]s]}]
audit:
  dir: %[3]s
  signing_key_file: %[4]s
  checkpoint_interval: 50ms
  ship:
    postgres:
      url: %[5]s
` + dashboardPolicy

// clusterAnswer is the part of /api/cluster the tests check.
type clusterAnswer struct {
	Window string        `json:"window"`
	Totals clusterCounts `json:"totals"`
	Top    map[string][]struct {
		Name     string `json:"name"`
		Requests int    `json:"requests"`
		Errors   int    `json:"errors"`
	} `json:"top"`
	Statuses []struct{ Status, Requests int } `json:"statuses"`
	Origins  []struct {
		Origin string `json:"origin"`
		clusterCounts
		LastIndex  int     `json:"last_index"`
		LagSeconds float64 `json:"lag_seconds"`
	} `json:"origins"`
}

type clusterCounts struct {
	Requests int            `json:"requests"`
	Errors   int            `json:"errors"`
	Failures int            `json:"failures"`
	Denied   int            `json:"denied"`
	Limited  int            `json:"limited"`
	Classes  map[string]int `json:"classes"`
}

// TestDashboardClusterView runs one instance on each engine, both shipping
// to one real PostgreSQL, sends known traffic through each, and checks the
// cluster view on both admin listeners: the JSON numbers, the Cluster panel
// in headless Chromium, and, with the database stopped, a 503 problem
// object while the local dashboard keeps answering. An instance that does
// not ship has no cluster view.
func TestDashboardClusterView(t *testing.T) {
	pg := testpg.New(t)
	up := e2etest.StartUpstream(t)
	vera := map[string]string{"X-API-Key": "demo-viewer-key"}
	eddie := map[string]string{"X-API-Key": "demo-editor-key", "Content-Type": "application/json"}
	type call struct {
		n            int
		method, path string
		hdr          map[string]string
		body         string
		status       int
	}
	cases := []struct {
		engine  string
		traffic []call
	}{
		{"fasthttp", []call{
			{5, "GET", "/api/v1/customers/1", vera, "", 200},
			{2, "DELETE", "/api/v1/customers/1", vera, "", 403},
			{1, "GET", "/nope", nil, "", 404},
		}},
		{"gnet", []call{
			{3, "POST", "/api/v1/orders", eddie, `{"customer":"1","sku":"tea","qty":1}`, 201},
			{1, "GET", "/api/v1/customers/2", nil, "", 401},
			{2, "GET", "/api/v1/customers/2", vera, "", 200},
		}},
	}
	proxies := map[string]*testProxy{}
	before := up.Requests()
	for _, tc := range cases {
		origin := "tollgate.test/cluster-" + tc.engine
		keyFile, logDir, _ := auditSetup(t, t.TempDir(), origin)
		p := startProxy(t, fmt.Sprintf(clusterViewConfig, up.Addr, tc.engine, logDir, keyFile, pg.URL()))
		proxies[tc.engine] = p
		for _, c := range tc.traffic {
			for range c.n {
				if r := e2etest.Do(t, c.method, p.base+c.path, c.hdr, c.body); r.Status != c.status {
					t.Fatalf("%s: %s %s: %d, want %d: %s", tc.engine, c.method, c.path, r.Status, c.status, r.Body)
				}
			}
		}
	}
	// The upstream saw the allowed requests only: 5 + 3 + 2.
	if got := up.Requests() - before; got != 10 {
		t.Fatalf("upstream received %d requests, want 10", got)
	}

	clusterOf := func(p *testProxy) (int, string, clusterAnswer) {
		t.Helper()
		r := e2etest.Do(t, "GET", p.admin+"/api/cluster?window=15m", nil, "")
		var c clusterAnswer
		if r.Status == 200 {
			if err := json.Unmarshal([]byte(r.Body), &c); err != nil {
				t.Fatalf("/api/cluster: %v: %s", err, r.Body)
			}
		}
		return r.Status, r.Body, c
	}
	var got clusterAnswer
	waitFor(t, "both instances' 14 requests in the cluster view", 20*time.Second, func() bool {
		code, _, c := clusterOf(proxies["fasthttp"])
		got = c
		return code == 200 && c.Totals.Requests == 14
	})
	classes := func(c2, c4 int) map[string]int {
		return map[string]int{"1xx": 0, "2xx": c2, "3xx": 0, "4xx": c4, "5xx": 0, "other": 0}
	}
	wantTotals := clusterCounts{Requests: 14, Errors: 4, Denied: 3, Classes: classes(10, 4)}
	if !reflect.DeepEqual(got.Totals, wantTotals) {
		t.Errorf("totals: got %+v, want %+v", got.Totals, wantTotals)
	}
	wantOrigins := map[string]clusterCounts{
		"tollgate.test/cluster-fasthttp": {Requests: 8, Errors: 3, Denied: 2, Classes: classes(5, 3)},
		"tollgate.test/cluster-gnet":     {Requests: 6, Errors: 1, Denied: 1, Classes: classes(5, 1)},
	}
	if len(got.Origins) != 2 {
		t.Fatalf("origins: %+v, want 2", got.Origins)
	}
	for _, o := range got.Origins {
		want := wantOrigins[o.Origin]
		if !reflect.DeepEqual(o.clusterCounts, want) || o.LastIndex != want.Requests-1 || o.LagSeconds < 0 || o.LagSeconds > 60 {
			t.Errorf("origin %s: %+v last index %d lag %vs; want %+v, last index %d", o.Origin, o.clusterCounts, o.LastIndex, o.LagSeconds, want, want.Requests-1)
		}
	}
	type top = struct {
		Name     string `json:"name"`
		Requests int    `json:"requests"`
		Errors   int    `json:"errors"`
	}
	wantTop := map[string][]top{
		"endpoints":  {{"/api/v1/customers/{id}", 10, 3}, {"/api/v1/orders", 3, 0}, {"(none)", 1, 1}},
		"principals": {{"vera", 9, 2}, {"eddie", 3, 0}},
	}
	if !reflect.DeepEqual(got.Top, wantTop) {
		t.Errorf("top: got %+v, want %+v", got.Top, wantTop)
	}
	if want := []struct{ Status, Requests int }{{200, 7}, {201, 3}, {401, 1}, {403, 2}, {404, 1}}; !reflect.DeepEqual(got.Statuses, want) {
		t.Errorf("statuses: got %v, want %v", got.Statuses, want)
	}
	// The other instance answers the same cluster.
	if _, _, c := clusterOf(proxies["gnet"]); c.Totals.Requests != 14 || len(c.Origins) != 2 {
		t.Errorf("the gnet instance's cluster view: %+v", c)
	}

	// The Cluster panel in the browser.
	bctx := insighttest.Browser(t)
	if _, err := chromedp.Run(bctx, chromedp.Navigate(proxies["gnet"].admin+"/")); err != nil {
		t.Fatalf("cannot open the dashboard: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("cluster").dataset.state === "ok" &&
		document.querySelectorAll("#cluster-origins tbody tr").length === 2`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("cannot see the cluster panel: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("cannot read %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	for sel, want := range map[string]string{
		"#cluster-instances": "2", "#cluster-requests": "14", "#cluster-denied": "3", "#cluster-limited": "0",
		"#cluster-error-rate":                                   "28.6%",
		"#cluster-origins tbody tr:nth-child(1) td.origin":      "tollgate.test/cluster-fasthttp",
		"#cluster-origins tbody tr:nth-child(1) td.requests":    "8",
		"#cluster-origins tbody tr:nth-child(1) td.c4xx":        "3",
		"#cluster-origins tbody tr:nth-child(2) td.origin":      "tollgate.test/cluster-gnet",
		"#cluster-origins tbody tr:nth-child(2) td.requests":    "6",
		"#cluster-endpoints tbody tr:nth-child(1) td.name":      "/api/v1/customers/{id}",
		"#cluster-endpoints tbody tr:nth-child(1) td.requests":  "10",
		"#cluster-principals tbody tr:nth-child(1) td.name":     "vera",
		"#cluster-principals tbody tr:nth-child(1) td.requests": "9",
		"#cluster-statuses tbody tr:nth-child(4) td.status":     "403",
		"#cluster-statuses tbody tr:nth-child(4) td.requests":   "2",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}

	if p := os.Getenv("TOLLGATE_CLUSTER_SCREENSHOT"); p != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(p, png, 0o644)
		}
		if err != nil {
			t.Fatalf("cannot write TOLLGATE_CLUSTER_SCREENSHOT: %v", err)
		}
	}

	// The database goes away: the cluster view says so, in a problem
	// object and on the page; the local dashboard and health are unaffected.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	var body string
	waitFor(t, "the cluster view to report the database down", 10*time.Second, func() bool {
		var code int
		code, body, _ = clusterOf(proxies["gnet"])
		return code == 503
	})
	var prob struct{ Type, Reason, Detail string }
	if err := json.Unmarshal([]byte(body), &prob); err != nil || prob.Reason != "cluster.unavailable" || prob.Type != "urn:tollgate:problem:cluster.unavailable" || prob.Detail == "" {
		t.Errorf("database down: %s (%v)", body, err)
	}
	for _, p := range proxies {
		if r := e2etest.Do(t, "GET", p.admin+"/api/stats", nil, ""); r.Status != 200 || !strings.Contains(r.Body, `"requests":`) {
			t.Errorf("/api/stats with the database down: %d %s", r.Status, r.Body)
		}
		if r := e2etest.Do(t, "GET", p.admin+"/healthz", nil, ""); r.Status != 200 {
			t.Errorf("/healthz with the database down: %d", r.Status)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("cluster").dataset.state === "error" &&
		document.getElementById("cluster-error").textContent.includes("cannot be read")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the cluster panel does not say the database is down: %v", err)
	}
	if n := text("#kpi-requests"); n != "6" {
		t.Errorf("the local dashboard shows %q requests with the database down, want 6", n)
	}
	if err := pg.StartAgain(); err != nil {
		t.Fatal(err)
	}

	// An instance that does not ship has no cluster view, and its panel
	// stays hidden.
	plain := startProxy(t, fmt.Sprintf(dashboardConfig, up.Addr))
	r := e2etest.Do(t, "GET", plain.admin+"/api/cluster", nil, "")
	if r.Status != 404 || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Body, "cluster.not_configured") {
		t.Errorf("without shipping: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if _, err := chromedp.Run(bctx, chromedp.Navigate(plain.admin+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("cluster").dataset.state === "not-configured" &&
		document.getElementById("cluster").offsetParent === null`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the cluster panel is not hidden without shipping: %v", err)
	}
}

// TestClusterViewClosedAtShutdown: the cluster view's connections and
// the pool's goroutines end with the proxy — the database sees no
// dashboard session left, and no pgxpool goroutine runs.
func TestClusterViewClosedAtShutdown(t *testing.T) {
	pg := testpg.New(t)
	up := e2etest.StartUpstream(t)
	keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/cluster-close")
	p := startProxy(t, fmt.Sprintf(clusterViewConfig, up.Addr, "fasthttp", logDir, keyFile, pg.URL()))
	if r := e2etest.Do(t, "GET", p.admin+"/api/cluster", nil, ""); r.Status != 200 {
		t.Fatalf("/api/cluster: %d %s", r.Status, r.Body)
	}
	sessions := func() int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tollgate-dashboard'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sessions(); n == 0 {
		t.Fatal("no dashboard session while the proxy runs: the check below would prove nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dashboard's sessions to end", 5*time.Second, func() bool { return sessions() == 0 })
	waitFor(t, "the pool's goroutines to end", 3*time.Second, func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "jackc/pgx/v5/pgxpool")
	})
}
