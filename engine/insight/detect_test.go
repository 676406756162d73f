package insight

import (
	"reflect"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// intervals feeds one batch of requests per 10s interval and closes each
// interval; it returns every finding raised.
func intervals(t *testing.T, cfg Config, batches ...[]req) []Finding {
	t.Helper()
	s, c := newTestStats(t, cfg)
	s.step(c.t) // starts the intervals at t0
	for i, b := range batches {
		base := time.Duration(i) * 10 * time.Second
		for j := range b {
			b[j].at += base
		}
		c.t = t0.Add(base + 10*time.Second)
		s.feedAll(c, b...)
	}
	return s.Findings(0, 1000)
}

func principalReqs(p string, n int) []req {
	return repeat(n, 10*time.Millisecond, req{at: time.Second, principal: p, route: "/a"})
}

func TestPrincipalBaseline(t *testing.T) {
	cfg := Config{PrincipalBaseline: BaselineConfig{MinSamples: 3, MinRequests: 50, Factor: 5, Deviations: 4}, ErrorRise: ErrorRiseConfig{Disable: true}}
	steady := func(n int) [][]req {
		var b [][]req
		for range n {
			b = append(b, cat(principalReqs("p", 10), principalReqs("q", 3)))
		}
		return b
	}
	f := func(name string, want int, batches ...[]req) []Finding {
		t.Helper()
		got := intervals(t, cfg, batches...)
		if len(got) != want {
			t.Errorf("%s: got %d findings %+v, want %d", name, len(got), got, want)
		}
		return got
	}
	f("just below min_requests", 0, append(steady(4), principalReqs("p", 49))...)
	fs := f("at min_requests and factor", 1, append(steady(4), principalReqs("p", 50))...)
	if len(fs) == 1 {
		fd := fs[0]
		want := map[string]float64{"requests": 50, "mean": 10, "deviation": 0, "interval_seconds": 10, "samples": 4}
		if fd.Detector != DetectorPrincipalBaseline || fd.Who != "p" || fd.Subject != "principal" || !reflect.DeepEqual(fd.Evidence, want) {
			t.Errorf("finding: got %+v, want principal p with evidence %v", fd, want)
		}
		if wantT := t0.Add(50 * time.Second); !fd.Time.Equal(wantT) {
			t.Errorf("finding time: got %s, want %s", fd.Time, wantT)
		}
	}
	f("too few samples", 0, append(steady(2), principalReqs("p", 50))...)
	// q averages 3: 50 requests are above min_requests and 5×3, and flagged.
	f("other principal", 1, append(steady(4), principalReqs("q", 50))...)
	// Staying high raises one finding, not one per interval.
	f("sustained", 1, append(steady(4), principalReqs("p", 60), principalReqs("p", 300))...)
	// A principal with a noisy history must also clear mean + deviations ×
	// deviation: after 2, 60, 2, 60 the mean is 21.024 and the deviation
	// 19.024, so with 8 deviations the bar is 173.216 (factor 5 asks 105.12).
	noisy := func() [][]req {
		return [][]req{principalReqs("p", 2), principalReqs("p", 60), principalReqs("p", 2), principalReqs("p", 60)}
	}
	cfg.PrincipalBaseline.Deviations = 8
	f("noisy below deviations", 0, append(noisy(), principalReqs("p", 173))...)
	f("noisy above deviations", 1, append(noisy(), principalReqs("p", 174))...)
	cfg.PrincipalBaseline.Deviations = 4
	cfg.PrincipalBaseline.Disable = true
	f("disabled", 0, append(steady(4), principalReqs("p", 500))...)
}

func authReqs(n int, ip, principal string, status uint16) []req {
	return repeat(n, time.Second, req{at: time.Second, ip: ip, principal: principal, route: "/login", status: status, decision: auditlog.DecisionDenied})
}

func TestAuthFailures(t *testing.T) {
	cfg := Config{AuthFailures: AuthFailureConfig{Threshold: 5, Window: 60e9}}
	run := func(rs ...req) []Finding {
		t.Helper()
		s, c := newTestStats(t, cfg)
		c.t = t0.Add(10 * time.Minute)
		s.feedAll(c, rs...)
		return s.Findings(0, 100)
	}
	f := func(name string, want []string, rs ...req) []Finding {
		t.Helper()
		got := run(rs...)
		var subj []string
		for _, fd := range got {
			if fd.Detector != DetectorAuthFailures {
				t.Errorf("%s: unexpected detector %q", name, fd.Detector)
			}
			subj = append(subj, fd.Subject+":"+fd.Who)
		}
		if !reflect.DeepEqual(subj, want) {
			t.Errorf("%s: got findings %v, want %v", name, subj, want)
		}
		return got
	}
	f("below threshold", nil, authReqs(4, "192.0.2.1", "", 401)...)
	fs := f("at threshold", []string{"ip:192.0.2.1"}, authReqs(5, "192.0.2.1", "", 401)...)
	if len(fs) == 1 {
		want := map[string]float64{"failures": 5, "seconds": 4, "window_seconds": 60, "threshold": 5, "principal_changes": 0}
		if !reflect.DeepEqual(fs[0].Evidence, want) || fs[0].Route != "/login" {
			t.Errorf("evidence: got %v route %q, want %v route /login", fs[0].Evidence, fs[0].Route, want)
		}
	}
	f("once per window", []string{"ip:192.0.2.1"}, authReqs(30, "192.0.2.1", "", 403)...)
	f("success does not count", nil, authReqs(10, "192.0.2.1", "", 200)...)
	f("404 does not count", nil, authReqs(10, "192.0.2.1", "", 404)...)
	// Failures spread beyond the window never add up to the threshold.
	f("outside window", nil, repeat(10, 16*time.Second, req{ip: "192.0.2.1", status: 401})...)
	// Against one principal from five addresses: enumeration of one account.
	var spread []req
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"} {
		spread = append(spread, req{at: time.Duration(i) * time.Second, ip: ip, principal: "victim", status: 401})
	}
	f("against principal", []string{"principal:victim"}, spread...)
	// From one address across many principals: credential stuffing.
	var stuffing []req
	for i, p := range []string{"a", "b", "c", "d", "e"} {
		stuffing = append(stuffing, req{at: time.Duration(i) * time.Second, ip: "198.51.100.7", principal: p, status: 401})
	}
	fs = f("stuffing", []string{"ip:198.51.100.7"}, stuffing...)
	if len(fs) == 1 && fs[0].Evidence["principal_changes"] != 5 {
		t.Errorf("stuffing: principal_changes %v, want 5", fs[0].Evidence["principal_changes"])
	}
}

func TestSensitiveRoute(t *testing.T) {
	cfg := Config{SensitiveRoutes: SensitiveConfig{Routes: []string{"/admin/{x}"}}}
	s, c := newTestStats(t, cfg)
	c.t = t0.Add(time.Minute)
	s.feedAll(c,
		req{at: 1 * time.Second, principal: "alice", route: "/orders"},
		req{at: 2 * time.Second, principal: "alice", route: "/admin/{x}"},
		req{at: 3 * time.Second, principal: "alice", route: "/admin/{x}"},
		req{at: 4 * time.Second, principal: "bob", route: "/admin/{x}", status: 403, decision: auditlog.DecisionDenied},
		req{at: 5 * time.Second, route: "/admin/{x}", status: 401},                    // anonymous: no principal to follow
		req{at: 6 * time.Second, principal: "carol", path: "/admin/{x}", status: 404}, // no route matched
	)
	got := s.Findings(0, 10)
	var who []string
	for _, fd := range got {
		who = append(who, fd.Who+"@"+fd.Route)
	}
	if want := []string{"alice@/admin/{x}", "bob@/admin/{x}"}; !reflect.DeepEqual(who, want) {
		t.Fatalf("got %v, want %v", who, want)
	}
	if got[1].Evidence["status"] != 403 || got[1].Detector != DetectorSensitiveRoute {
		t.Errorf("bob's finding: got %+v", got[1])
	}

	// While learning, pairs are remembered without findings.
	cfg.SensitiveRoutes.Learn = 60e9
	s, c = newTestStats(t, cfg)
	c.t = t0.Add(2 * time.Minute)
	s.feedAll(c,
		req{at: 30 * time.Second, principal: "alice", route: "/admin/{x}"},
		req{at: 90 * time.Second, principal: "alice", route: "/admin/{x}"},
		req{at: 91 * time.Second, principal: "bob", route: "/admin/{x}"},
	)
	if got := s.Findings(0, 10); len(got) != 1 || got[0].Who != "bob" {
		t.Fatalf("learning: got %+v, want one finding for bob", got)
	}
}

func routeReqs(total, errs int) []req {
	b := repeat(total, 10*time.Millisecond, req{at: time.Second, route: "/pay"})
	for i := range errs {
		b[i].status, b[i].decision = 503, auditlog.DecisionUpstreamError
	}
	return b
}

func TestErrorRise(t *testing.T) {
	cfg := Config{ErrorRise: ErrorRiseConfig{MinErrors: 10, MinRatio: 0.1, Factor: 4}, PrincipalBaseline: BaselineConfig{Disable: true}}
	f := func(name string, want int, batches ...[]req) []Finding {
		t.Helper()
		got := intervals(t, cfg, batches...)
		if len(got) != want {
			t.Errorf("%s: got %d findings %+v, want %d", name, len(got), got, want)
		}
		return got
	}
	quiet := [][]req{routeReqs(100, 0), routeReqs(100, 0), routeReqs(100, 0)}
	f("below min errors", 0, append(quiet, routeReqs(100, 9))...)
	f("below min ratio", 0, append(quiet, routeReqs(101, 10))...)
	fs := f("at threshold", 1, append(quiet, routeReqs(100, 10))...)
	if len(fs) == 1 {
		want := map[string]float64{"errors_5xx": 10, "requests": 100, "ratio": 0.1, "baseline_ratio": 0, "interval_seconds": 10}
		if fs[0].Who != "/pay" || fs[0].Subject != "route" || !reflect.DeepEqual(fs[0].Evidence, want) {
			t.Errorf("finding: got %+v, want /pay with %v", fs[0], want)
		}
	}
	f("sustained", 1, append(quiet, routeReqs(100, 50), routeReqs(100, 60))...)
	// A route that usually fails 5% needs 4× that: 20%.
	usual := [][]req{routeReqs(200, 10), routeReqs(200, 10), routeReqs(200, 10)}
	f("below factor", 0, append(usual, routeReqs(200, 39))...)
	f("at factor", 1, append(usual, routeReqs(200, 40))...)
}

func TestTable(t *testing.T) {
	tb := newTable(8, func(s *seenState) float64 { return float64(s.last) })
	for k := uint64(1); k <= 8; k++ {
		v, fresh := tb.get(k << 3) // every key has home slot 0
		if !fresh {
			t.Fatalf("key %d: not fresh", k)
		}
		v.last = int64(k)
	}
	if v, fresh := tb.get(3 << 3); fresh || v.last != 3 {
		t.Fatalf("key 3: got fresh=%v last=%d", fresh, v.last)
	}
	// A ninth key evicts the lowest score: key 1.
	if _, fresh := tb.get(9 << 3); !fresh || tb.evict != 1 {
		t.Fatalf("key 9: fresh=%v evictions=%d", fresh, tb.evict)
	}
	if _, fresh := tb.get(1 << 3); !fresh {
		t.Fatal("key 1 was not evicted")
	}
}
