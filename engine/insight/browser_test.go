package insight

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/insight/insighttest"
)

// TestDashboardInBrowser opens the dashboard in headless Chromium over
// synthetic traffic (several principals, some denied, one burst of 401s)
// and checks what the page shows.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	s := New(Config{}, nil)
	t.Cleanup(func() { _ = s.Close() })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	// Traffic: alice and carol on orders (carol refused), bob on users,
	// and mallory's burst of 25 failed logins from one address.
	now := time.Now()
	var e auditlog.Entry
	send := func(n int, principal, ip, method, route string, status uint16, d auditlog.Decision, lat time.Duration) {
		for i := range n {
			e.Reset()
			e.Start = now.Add(-time.Duration(n-i) * 50 * time.Millisecond).UnixNano()
			e.Duration = int64(lat)
			e.Principal = append(e.Principal, principal...)
			e.ClientIP = netip.MustParseAddr(ip)
			e.Method = append(e.Method, method...)
			e.Route = append(e.Route, route...)
			e.Path = append(e.Path, strings.ReplaceAll(route, "{id}", "42")...)
			e.Status, e.Decision = status, d
			if d == auditlog.DecisionDenied {
				e.Reason, e.Unverified = "authn.invalid_credential", true
			}
			s.Observe(&e)
		}
	}
	traffic := func() {
		send(30, "alice", "198.51.100.10", "GET", "/v1/orders/{id}", 200, auditlog.DecisionAllowed, 2*time.Millisecond)
		send(20, "bob", "198.51.100.11", "POST", "/v1/users", 201, auditlog.DecisionAllowed, 7*time.Millisecond)
		send(10, "carol", "198.51.100.12", "DELETE", "/v1/orders/{id}", 403, auditlog.DecisionDenied, time.Millisecond)
		send(25, "mallory", "203.0.113.66", "POST", "/v1/login", 401, auditlog.DecisionDenied, time.Millisecond)
	}
	traffic()

	// After the server's cleanup is registered, so the browser (and its
	// open event stream) closes first.
	bctx := insighttest.Browser(t)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("cannot %s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("cannot read %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	eval := func(js string) int {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("cannot evaluate %q: %v", js, err)
		}
		return v
	}
	poll := func(what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(timeout))); err != nil {
			t.Fatalf("cannot wait for %s: %v", what, err)
		}
	}

	do("open the dashboard", chromedp.Navigate(srv.URL+"/"))
	poll("the tables and the burst finding", `document.querySelectorAll("#top-endpoints tbody tr").length >= 3 &&
		document.querySelector("#findings tbody tr[data-detector=auth_failures]") !== null`, 30*time.Second)

	endpoint, endpointReqs := text("#top-endpoints tbody tr:nth-child(1) td.name"), text("#top-endpoints tbody tr:nth-child(1) td.requests")
	second, secondReqs := text("#top-endpoints tbody tr:nth-child(2) td.name"), text("#top-endpoints tbody tr:nth-child(2) td.requests")
	if endpoint != "/v1/orders/{id}" || endpointReqs != "40" || second != "/v1/login" || secondReqs != "25" {
		t.Errorf("top endpoints: got %q %q, %q %q; want /v1/orders/{id} 40, /v1/login 25", endpoint, endpointReqs, second, secondReqs)
	}
	if s2xx, s4xx := text("#status-2xx"), text("#status-4xx"); s2xx != "50" || s4xx != "35" {
		t.Errorf("status legend: 2xx %q, 4xx %q; want 50 and 35", s2xx, s4xx)
	}
	bars := eval(`Number(document.getElementById("status-chart").dataset.bars || 0)`)
	// Count the status chart's pixels painted in (about) the 4xx and 2xx
	// colours; narrow bars are anti-aliased, so allow some blending.
	inked := func(r, g, b int) int {
		return eval(fmt.Sprintf(`(() => {
			const c = document.getElementById("status-chart"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && Math.abs(d[i]-%d) < 40 && Math.abs(d[i+1]-%d) < 40 && Math.abs(d[i+2]-%d) < 40) n++;
			return n;
		})()`, r, g, b))
	}
	if in4, in2 := inked(0xd2, 0x99, 0x22), inked(0x3f, 0xb9, 0x50); bars == 0 || in4 == 0 || in2 == 0 {
		t.Errorf("status chart: %d bars drawn, %d pixels in the 4xx colour, %d in the 2xx colour; want some of each", bars, in4, in2)
	}
	who := text("#findings tbody tr[data-detector=auth_failures] td.who")
	msg := text("#findings tbody tr[data-detector=auth_failures] td.what")
	if who != "203.0.113.66" && who != "mallory" {
		t.Errorf("burst finding is about %q, want 203.0.113.66 or mallory", who)
	}
	if !strings.Contains(msg, "20 answers of 401/403") {
		t.Errorf("burst finding message %q lacks the evidence count", msg)
	}

	// The live feed, filtered to 4xx, shows new traffic as it happens.
	do("filter the live feed",
		chromedp.SetValue(chromedp.CSS("#filter-status"), "4xx"),
		chromedp.Click(chromedp.CSS("#filter-apply")),
		chromedp.Sleep(600*time.Millisecond),
	)
	now = time.Now()
	traffic()
	poll("the live feed", `document.querySelectorAll("#feed tbody tr").length >= 35`, 20*time.Second)
	feedText := text("#feed tbody")
	if n := eval(`document.querySelectorAll("#feed tbody tr").length`); n != 35 || strings.Contains(feedText, "alice") || !strings.Contains(feedText, "mallory") {
		t.Errorf("filtered feed: %d rows (want 35, the 4xx ones), alice present=%v", n, strings.Contains(feedText, "alice"))
	}

	// Let one more poll draw the second wave, then keep a screenshot.
	do("wait for a redraw", chromedp.Sleep(1200*time.Millisecond))
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("cannot take a screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if p := os.Getenv("TOLLGATE_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatalf("cannot write screenshot to TOLLGATE_SCREENSHOT: %v", err)
		}
	}
}
