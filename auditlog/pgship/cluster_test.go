package pgship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// req is one kind of request written n times to a test log.
type req struct {
	n         int
	ago       time.Duration // start, before now
	kind      auditlog.Kind
	principal string
	route     string
	status    uint16
	decision  auditlog.Decision
}

func (tl *testLog) appendReqs(t *testing.T, now time.Time, reqs ...req) {
	t.Helper()
	var e auditlog.Entry
	for _, r := range reqs {
		for range r.n {
			e.Reset()
			e.Kind = r.kind
			e.Start = now.Add(-r.ago).UnixNano() + int64(tl.n)
			e.Duration = 1000
			e.RequestID = fmt.Appendf(e.RequestID, "%s-%d", tl.origin, tl.n)
			e.Method = append(e.Method, "GET"...)
			e.Route = append(e.Route, r.route...)
			e.Path = append(e.Path, "/p"...)
			e.ClientIP = netip.MustParseAddr("192.0.2.1")
			e.Principal = append(e.Principal, r.principal...)
			e.Status, e.Decision = r.status, r.decision
			_, err := tl.log.Append(&e)
			for errors.Is(err, auditlog.ErrQueueFull) {
				runtime.Gosched()
				_, err = tl.log.Append(&e)
			}
			if err != nil {
				t.Fatal(err)
			}
			tl.n++
		}
	}
}

// TestClusterStats ships the logs of three instances and checks every
// number of the cluster view against the traffic written: per origin,
// cluster-wide top lists and status codes; records before the window, a
// strict-mode decision record and another window.
func TestClusterStats(t *testing.T) {
	pg := testpg.New(t)
	now := time.Now()
	a, b, c := newTestLog(t, "tollgate.test/node1"), newTestLog(t, "tollgate.test/node2"), newTestLog(t, "tollgate.test/node3")
	a.appendReqs(t, now,
		req{n: 3, ago: 2 * time.Hour, principal: "alice", route: "/v1/orders/{id}", status: 200}, // before the window
		req{n: 6, ago: 5 * time.Minute, principal: "alice", route: "/v1/orders/{id}", status: 200},
		req{n: 2, ago: 4 * time.Minute, principal: "bob", route: "/v1/orders/{id}", status: 403, decision: auditlog.DecisionDenied},
	)
	b.appendReqs(t, now,
		req{n: 3, ago: 3 * time.Minute, principal: "carol", route: "/v1/orders/{id}", status: 429, decision: auditlog.DecisionLimited},
		req{n: 2, ago: 2 * time.Minute, principal: "alice", route: "/v1/users", status: 502, decision: auditlog.DecisionUpstreamError},
		req{n: 1, ago: time.Minute, status: 404, decision: auditlog.DecisionNotFound},
	)
	c.appendReqs(t, now,
		req{n: 1, ago: 90 * time.Second, kind: auditlog.KindDecision, principal: "bob", route: "/v1/users", status: 0}, // not a request
		req{n: 4, ago: 90 * time.Second, principal: "bob", route: "/v1/users", status: 201},
	)
	cl, err := NewCluster(ClusterOptions{URL: pg.URL(), Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Before any shipper made the tables: an empty view.
	if st, err := cl.Stats(ctx, now, 15*time.Minute); err != nil || st.Totals.Requests != 0 || len(st.Origins) != 0 || st.Top["endpoints"] == nil {
		t.Fatalf("empty database: %+v, %v", st, err)
	}
	for _, tl := range []*testLog{a, b, c} {
		startShipper(t, pg.URL(), tl)
	}
	for _, tl := range []*testLog{a, b, c} {
		waitShippedTo(t, pg.URL(), tl.origin, tl.n, tl.n)
	}

	st, err := cl.Stats(ctx, now, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	classes := func(c1, c2, c3, c4, c5 int64) map[string]int64 {
		return map[string]int64{"1xx": c1, "2xx": c2, "3xx": c3, "4xx": c4, "5xx": c5, "other": 0}
	}
	type o = OriginStats
	type cc = ClusterCounts
	wantOrigins := []o{
		{Origin: a.origin, LastIndex: 10, ClusterCounts: cc{Requests: 8, Errors: 2, Denied: 2, ErrorRate: 0.25, Classes: classes(0, 6, 0, 2, 0)}},
		{Origin: b.origin, LastIndex: 5, ClusterCounts: cc{Requests: 6, Errors: 6, Failures: 2, Limited: 3, ErrorRate: 1, FailureRate: 2.0 / 6, Classes: classes(0, 0, 0, 4, 2)}},
		{Origin: c.origin, LastIndex: 4, ClusterCounts: cc{Requests: 4, Classes: classes(0, 4, 0, 0, 0)}},
	}
	lastAgo := map[string]time.Duration{a.origin: 4 * time.Minute, b.origin: time.Minute, c.origin: 90 * time.Second}
	for i := range st.Origins {
		g := &st.Origins[i]
		if lag := time.Duration(g.LagSeconds * float64(time.Second)); lag < lastAgo[g.Origin]-time.Millisecond || lag > lastAgo[g.Origin]+time.Millisecond {
			t.Errorf("%s: lag %v, want %v (its newest record's age)", g.Origin, lag, lastAgo[g.Origin])
		}
		if d := now.Sub(g.LastTime); d < lastAgo[g.Origin]-time.Millisecond || d > lastAgo[g.Origin]+time.Millisecond {
			t.Errorf("%s: last record at %v, want %v ago", g.Origin, g.LastTime, lastAgo[g.Origin])
		}
		g.LagSeconds, g.LastTime = 0, time.Time{}
	}
	if !reflect.DeepEqual(st.Origins, wantOrigins) {
		t.Errorf("origins:\n got %+v\nwant %+v", st.Origins, wantOrigins)
	}
	wantTotals := cc{Requests: 18, Errors: 8, Failures: 2, Denied: 2, Limited: 3, ErrorRate: 8.0 / 18, FailureRate: 2.0 / 18, Classes: classes(0, 10, 0, 6, 2)}
	if !reflect.DeepEqual(st.Totals, wantTotals) {
		t.Errorf("totals:\n got %+v\nwant %+v", st.Totals, wantTotals)
	}
	wantTop := map[string][]ClusterTop{
		"endpoints":  {{"/v1/orders/{id}", 11, 5}, {"/v1/users", 6, 2}},
		"principals": {{"alice", 8, 2}, {"bob", 6, 2}},
	}
	if !reflect.DeepEqual(st.Top, wantTop) {
		t.Errorf("top:\n got %+v\nwant %+v", st.Top, wantTop)
	}
	wantStatuses := []StatusCount{{200, 6}, {201, 4}, {403, 2}, {404, 1}, {429, 3}, {502, 2}}
	if !reflect.DeepEqual(st.Statuses, wantStatuses) {
		t.Errorf("statuses: got %v, want %v", st.Statuses, wantStatuses)
	}
	if st.Window != "15m" || !st.Since.Equal(now.Add(-15*time.Minute)) {
		t.Errorf("window %q since %v", st.Window, st.Since)
	}

	// A 3h window takes in node1's older records; "(none)" stands for
	// the request no route matched once the list is long enough.
	cl3, err := NewCluster(ClusterOptions{URL: pg.URL(), Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer cl3.Close()
	st, err = cl3.Stats(ctx, now, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.Totals.Requests != 21 || st.Origins[0].Requests != 11 || len(st.Top["endpoints"]) != 3 || st.Top["endpoints"][2].Name != "(none)" {
		t.Errorf("3h window: %d requests, node1 %d, endpoints %+v; want 21, 11 and (none) last", st.Totals.Requests, st.Origins[0].Requests, st.Top["endpoints"])
	}
	if js, err := json.Marshal(st); err != nil || !strings.Contains(string(js), `"window":"3h"`) {
		t.Errorf("JSON %s (%v)", js, err)
	}
}

// TestClusterStatsDatabaseDown: a stopped database is an error, named, in
// bounded time; started again, the same Cluster answers.
func TestClusterStatsDatabaseDown(t *testing.T) {
	pg := testpg.New(t)
	tl := newTestLog(t, "tollgate.test/down")
	tl.appendReqs(t, time.Now(), req{n: 2, ago: time.Second, route: "/r", status: 200})
	startShipper(t, pg.URL(), tl)
	waitShipped(t, pg.URL(), tl.origin, 2)
	cl, err := NewCluster(ClusterOptions{URL: pg.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stats := func() (*ClusterStats, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return cl.Stats(ctx, time.Now(), time.Minute)
	}
	if st, err := stats(); err != nil || st.Totals.Requests != 2 {
		t.Fatalf("up: %+v, %v", st, err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := stats(); err == nil || !strings.Contains(err.Error(), "cannot") {
		t.Fatalf("database down: err %v, want a named error", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the error took %v", d)
	}
	if err := pg.StartAgain(); err != nil {
		t.Fatal(err)
	}
	if st, err := stats(); err != nil || st.Totals.Requests != 2 {
		t.Fatalf("up again: %+v, %v", st, err)
	}
}
