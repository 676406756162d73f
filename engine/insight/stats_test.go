package insight

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// TestBoundedMemory feeds a million distinct principals and client IPs and
// checks that neither the heap nor any internal structure grows with them.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds a million requests")
	}
	cfg := Config{SensitiveRoutes: SensitiveConfig{Routes: []string{"/admin"}}}
	s, c := newTestStats(t, cfg)
	var e auditlog.Entry
	ip := mustAddr("10.0.0.0")
	feed := func(from, n int) {
		var name [24]byte
		for i := from; i < from+n; i++ {
			r := req{at: time.Duration(i) * time.Microsecond, route: "/admin", status: 401}
			r.entry(&e)
			e.Principal = strconv.AppendInt(append(name[:0], "principal-"...), int64(i), 10)
			ip = ip.Next() // fresh, unique addresses
			e.ClientIP = ip
			if i%3 == 0 {
				e.Status, e.Decision = 200, auditlog.DecisionAllowed
			}
			s.Observe(&e)
			if i%4096 == 0 {
				c.t = t0.Add(time.Duration(i) * time.Microsecond)
				s.step(c.t)
			}
		}
		s.step(c.t)
	}
	var before, after runtime.MemStats
	feed(0, 1000) // warm every structure up
	runtime.GC()
	runtime.ReadMemStats(&before)
	feed(1000, 1_000_000)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.folded != 1_001_000 {
		t.Fatalf("folded %d records, want 1001000", s.folded)
	}
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use: %d → %d bytes (%+d); findings raised: %d", before.HeapInuse, after.HeapInuse, growth, s.found.next-1)
	if growth > 4<<20 {
		t.Errorf("heap grew by %d bytes over a million distinct principals; want under 4 MiB", growth)
	}
	// The structures themselves are fixed.
	for i := range s.windows {
		for _, p := range s.windows[i].panes {
			for _, d := range p.dims {
				if cap(d.keys) != s.cfg.Capacity || len(d.items) != s.cfg.Capacity {
					t.Fatalf("summary grew to %d keys", cap(d.keys))
				}
			}
		}
	}
	if n := len(s.det.baseline.keys); n != 1024 {
		t.Errorf("baseline table has %d slots, want 1024", n)
	}
	if n := len(s.det.seen.keys); n != 16384 {
		t.Errorf("seen table has %d slots, want 16384", n)
	}
	if s.det.seen.evict == 0 || s.det.authIP.evict == 0 {
		t.Error("no evictions: the test did not exceed the tables")
	}
	if len(s.found.ring) != s.cfg.MaxFindings {
		t.Errorf("findings ring has %d entries, want %d", len(s.found.ring), s.cfg.MaxFindings)
	}
	snap, _ := s.Stats("1h", 60)
	if len(snap.Top["principals"]) != 10 {
		t.Errorf("top principals: %d entries, want 10", len(snap.Top["principals"]))
	}
}

func TestQueueFull(t *testing.T) {
	set := metrics.NewSet()
	c := &clock{t: t0}
	s := newStats(Config{}, set, c.now)
	var e auditlog.Entry
	req{principal: "p", route: "/a"}.entry(&e)
	for range queueSize + 10 {
		s.Observe(&e)
	}
	if got := s.dropped.Get(); got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
	s.step(c.t)
	if s.folded != queueSize {
		t.Fatalf("folded %d, want %d", s.folded, queueSize)
	}
	s.Observe(&e)
	s.step(c.t)
	if s.folded != queueSize+1 {
		t.Fatalf("folded %d after draining, want %d", s.folded, queueSize+1)
	}
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for _, want := range []string{`tollgate_insight_dropped_total 10`, `tollgate_insight_observed_total 16385`, `tollgate_insight_findings_total{detector="auth_failures"} 0`, `tollgate_insight_queue_length 0`} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, sb.String())
		}
	}
}

func TestFeedCollect(t *testing.T) {
	var f feed
	var e auditlog.Entry
	s, _ := newTestStats(t, Config{})
	push := func(r req) {
		r.entry(&e)
		s.Observe(&e)
		f.push(s.q.next())
		s.q.release()
	}
	for i := range 10 {
		st := uint16(200)
		if i%2 == 1 {
			st = 403
		}
		push(req{principal: "p" + strconv.Itoa(i%3), route: "/r", status: st})
	}
	flt := func(q string) feedFilter {
		t.Helper()
		vals, _ := parseQuery(q)
		ff, err := parseFilter(vals)
		if err != nil {
			t.Fatalf("filter %q: %v", q, err)
		}
		return ff
	}
	g := func(q string, max int, wantN int, wantSkipped uint64) {
		t.Helper()
		var from uint64
		ff := flt(q)
		got, skipped := f.collect(make([]record, 0, max), &from, &ff)
		if len(got) != wantN || skipped != wantSkipped || from != 10 {
			t.Errorf("%q cap %d: got %d events, %d skipped, from %d; want %d, %d, 10", q, max, len(got), skipped, from, wantN, wantSkipped)
		}
	}
	g("", 50, 10, 0)
	g("", 4, 4, 6)
	g("status=403", 50, 5, 0)
	g("status=4xx", 2, 2, 3)
	g("principal=p1", 50, 3, 0)
	g("principal=p1&status=403", 50, 2, 0) // p1 at i = 1, 4, 7: 403 at 1 and 7
	g("route=/other", 50, 0, 0)
	g("decision=denied", 50, 0, 0)
	// Overwritten events count as skipped.
	for range feedRing {
		push(req{principal: "x", route: "/r"})
	}
	var from uint64
	ff := flt("")
	got, skipped := f.collect(make([]record, 0, 5), &from, &ff)
	if len(got) != 5 || skipped != 10+feedRing-5 {
		t.Errorf("after wrap: got %d events, %d skipped; want 5, %d", len(got), skipped, 10+feedRing-5)
	}
	for _, bad := range []string{"status=abc", "status=6xx", "status=99", "decision=maybe"} {
		vals, _ := parseQuery(bad)
		if _, err := parseFilter(vals); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

func TestHTTP(t *testing.T) {
	cfg := Config{AuthFailures: AuthFailureConfig{Threshold: 3}}
	s := New(cfg, nil)
	t.Cleanup(func() { _ = s.Close() })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	get := func(path string, wantStatus int) []byte {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
		if resp.StatusCode != wantStatus {
			t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, sb.String())
		}
		return []byte(sb.String())
	}
	for _, p := range []string{"/", "/dashboard"} {
		if b := get(p, 200); !strings.Contains(string(b), `id="top-endpoints"`) {
			t.Errorf("GET %s: no dashboard", p)
		}
	}
	get("/assets/app.js", 200)
	get("/nope", 404)
	get("/api/stats?window=7m", 400)
	get("/api/stats?series=0", 400)
	get("/api/findings?after=x", 400)
	get("/api/events?status=x", 400)

	// Open the live feed, then send traffic.
	resp, err := http.Get(srv.URL + "/api/events?principal=mallory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	var e auditlog.Entry
	now := time.Now()
	for i := range 5 {
		r := req{principal: "mallory", ip: "192.0.2.9", route: "/login", status: 401, decision: auditlog.DecisionDenied}
		r.entry(&e)
		e.Start = now.UnixNano() + int64(i)
		s.Observe(&e)
		req{principal: "alice", route: "/orders"}.entry(&e)
		e.Start = now.UnixNano()
		s.Observe(&e)
	}
	sc := bufio.NewScanner(resp.Body)
	var access, finding int
	deadline := time.Now().Add(10 * time.Second)
	for (access < 5 || finding < 1) && time.Now().Before(deadline) && sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var ev struct {
			Principal string `json:"principal"`
			Detector  string `json:"detector"`
			Who       string `json:"who"`
		}
		if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil {
			t.Fatalf("bad event %q: %v", line, err)
		}
		switch {
		case ev.Detector != "":
			finding++
		case ev.Principal == "mallory":
			access++
		default:
			t.Errorf("filtered feed sent %q", line)
		}
	}
	if access != 5 || finding < 1 {
		t.Fatalf("got %d access events and %d findings; want 5 and at least 1", access, finding)
	}

	var snap Snapshot
	if err := json.Unmarshal(get("/api/stats?window=15m&series=10", 200), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Window != "15m" || len(snap.Series.Requests) != 10 || snap.Totals.Requests != 10 || snap.Totals.Classes["4xx"] != 5 {
		t.Errorf("stats: window %s, %d series points, totals %+v", snap.Window, len(snap.Series.Requests), snap.Totals)
	}
	if got := snap.Top["principals"]; len(got) != 2 || got[0].Requests != 5 {
		t.Errorf("top principals: %+v", got)
	}
	var fs struct{ Findings []Finding }
	if err := json.Unmarshal(get("/api/findings", 200), &fs); err != nil {
		t.Fatal(err)
	}
	// Three failures from the IP and three for the principal: two findings.
	if len(fs.Findings) != 2 || fs.Findings[0].Detector != DetectorAuthFailures {
		t.Errorf("findings: %+v", fs.Findings)
	}
	if err := json.Unmarshal(get("/api/findings?after=1", 200), &fs); err != nil || len(fs.Findings) != 1 || fs.Findings[0].ID != 2 {
		t.Errorf("findings after 1: %+v (%v)", fs.Findings, err)
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(c Config, want string) {
		t.Helper()
		err := c.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("unexpected error: %v", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("got %v, want an error containing %q", err, want)
		}
	}
	f(Config{}, "")
	f(Config{Windows: []durationT{5e9}}, "windows[0]: 5s is outside")
	f(Config{Windows: []durationT{60e9, 60e9, 60e9, 60e9, 60e9}}, "at most 4")
	f(Config{TopK: 20, Capacity: 10}, "below top_k")
	f(Config{TopK: -1}, "top_k: -1")
	f(Config{PrincipalBaseline: BaselineConfig{Alpha: 2}}, "alpha: 2 is outside")
	f(Config{ErrorRise: ErrorRiseConfig{Factor: 0.5}}, "factor: 0.5 is below 1")
	f(Config{AuthFailures: AuthFailureConfig{Window: 1e6}}, "auth_failures.window: 1ms is below 1s")
	f(Config{SensitiveRoutes: SensitiveConfig{Routes: []string{""}}}, "routes[0]: empty")
}
