package proxy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate-proxy/tollgate/engine/insight/insighttest"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

const dashboardConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s]}]
` + dashboardPolicy

// dashboardPolicy is the dashboard configs' keys, roles and routes.
const dashboardPolicy = `filters:
  - id: keys
    name: apikey
    config:
      keys:
        - {id: v, subject: vera, roles: [viewer], sha256: 428d2ac3da6ce4eb5cc58762a03af655a5d836bdecd00b0305afc7b2aa81adfd}
        - {id: e, subject: eddie, roles: [editor], sha256: 5435c4e8c19ef1623c819a90a2b8184da1dbb2dea68aef2984556303003c40ff}
  - id: policy
    name: rbac
    config:
      roles:
        viewer: {allow: [{methods: [GET], paths: ["/api/v1/**"]}]}
        editor: {inherits: [viewer], allow: [{methods: [POST], paths: [/api/v1/orders]}]}
routes:
  - {name: customer, path: "/api/v1/customers/{id}", upstream: demo, filters: [{use: keys}, {use: policy}]}
  - {name: orders, methods: [POST], path: /api/v1/orders, upstream: demo, filters: [{use: keys}, {use: policy}]}
`

// TestDashboardShowsTrafficThroughTheProxy sends real traffic through the
// proxy — several principals, refusals, and a burst of bad API keys from
// one address — then checks the JSON API and, in headless Chromium, the
// dashboard on the admin listener.
func TestDashboardShowsTrafficThroughTheProxy(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := startProxy(t, fmt.Sprintf(dashboardConfig, up.Addr))
	vera := map[string]string{"X-API-Key": "demo-viewer-key"}
	eddie := map[string]string{"X-API-Key": "demo-editor-key", "Content-Type": "application/json"}
	for i := 0; i < 30; i++ {
		e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", vera, "")
	}
	for i := 0; i < 12; i++ {
		e2etest.Do(t, "POST", p.base+"/api/v1/orders", eddie, `{"customer":"1","sku":"tea","qty":1}`)
	}
	for i := 0; i < 5; i++ {
		e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/1", vera, "")
	}
	for i := 0; i < 25; i++ { // credential stuffing
		e2etest.Do(t, "GET", p.base+"/api/v1/customers/2", map[string]string{"X-API-Key": fmt.Sprintf("guess-%d", i)}, "")
	}

	// The JSON API the page is built on.
	var stats struct {
		Totals struct{ Requests int } `json:"totals"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r := e2etest.Do(t, "GET", p.admin+"/api/stats", nil, "")
		if err := json.Unmarshal([]byte(r.Body), &stats); err != nil {
			t.Fatalf("/api/stats: %v: %s", err, r.Body)
		}
		if stats.Totals.Requests == 72 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if stats.Totals.Requests != 72 {
		t.Fatalf("/api/stats counts %d requests, want 72", stats.Totals.Requests)
	}

	bctx := insighttest.Browser(t)
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("cannot read %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(p.admin+"/")); err != nil {
		t.Fatalf("cannot open the dashboard: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelectorAll("#top-endpoints tbody tr").length >= 2 &&
		document.querySelector("#findings tbody tr[data-detector=auth_failures]") !== null`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the dashboard never showed the tables and the burst finding: %v", err)
	}
	if name, n := text("#top-endpoints tbody tr:nth-child(1) td.name"), text("#top-endpoints tbody tr:nth-child(1) td.requests"); name != "/api/v1/customers/{id}" || n != "60" {
		t.Errorf("top endpoint %q with %q requests, want /api/v1/customers/{id} with 60", name, n)
	}
	if name, n := text("#top-endpoints tbody tr:nth-child(2) td.name"), text("#top-endpoints tbody tr:nth-child(2) td.requests"); name != "/api/v1/orders" || n != "12" {
		t.Errorf("second endpoint %q with %q requests, want /api/v1/orders with 12", name, n)
	}
	if s2, s4 := text("#status-2xx"), text("#status-4xx"); s2 != "42" || s4 != "30" {
		t.Errorf("status legend 2xx %q 4xx %q, want 42 and 30", s2, s4)
	}
	if who := text("#findings tbody tr[data-detector=auth_failures] td.who"); who != "127.0.0.1" {
		t.Errorf("burst finding is about %q, want the attacking address 127.0.0.1", who)
	}
	if _, err := chromedp.Run(bctx, chromedp.Sleep(1200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("cannot take a screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("TOLLGATE_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
