package proxy_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// shipConfig is auditConfig shipping to PostgreSQL at url, with extra
// settings for the postgres block.
func shipConfig(t *testing.T, upAddr, logDir, keyFile, engine, url, extra string) string {
	t.Helper()
	cfg := withEngine(fmt.Sprintf(auditConfig, upAddr, e2etest.DeadAddr(t), logDir, keyFile), engine)
	return strings.Replace(cfg, "  checkpoint_interval: 50ms\n",
		"  checkpoint_interval: 50ms\n  ship:\n    postgres:\n      url: "+url+"\n"+extra, 1)
}

// verifyShipped checks the database at url against the signed checkpoints
// of vkey's origin (pgship.Verify), reports each problem found with it,
// and returns what it holds of that origin (zero when nothing).
func verifyShipped(t *testing.T, ctx context.Context, url, vkey, origin string) pgship.OriginResult {
	t.Helper()
	res, err := pgship.Verify(ctx, url, []string{vkey})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Problems {
		if pr.Origin == origin {
			t.Errorf("verify %s: %s", origin, pr)
		}
	}
	for _, o := range res.Origins {
		if o.Origin == origin {
			return o
		}
	}
	return pgship.OriginResult{}
}

// shipMetric reads one unlabelled series from the proxy's /metrics.
func shipMetric(t *testing.T, p *testProxy, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(metricsOf(t, p))
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestAuditShippingSurvivesDatabaseRestart drives load through a real
// proxy on each engine while PostgreSQL is stopped by its PID and started
// again: requests keep flowing while it is down, and afterwards every
// record of each instance is in the database exactly once per (origin,
// index), the copy verifies against the signed checkpoints, and one query
// answers across both instances.
func TestAuditShippingSurvivesDatabaseRestart(t *testing.T) {
	pg := testpg.New(t)
	var vkeys []string
	origins := map[string]int{}
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		origin := "tollgate.test/ship-" + engine
		keyFile, logDir, vkey := auditSetup(t, t.TempDir(), origin)
		vkeys = append(vkeys, vkey)
		p := startProxy(t, shipConfig(t, up.Addr, logDir, keyFile, engine, pg.URL(), ""))

		// Load runs throughout (bounded at 4 × 5000 requests): the
		// database is stopped and started again under it.
		const workers = 4
		var (
			mu               sync.Mutex
			ids              = map[string]int{}
			allowed, answers atomic.Int64
			stopLoad         atomic.Bool
			wg               sync.WaitGroup
		)
		before := up.Requests()
		for w := range workers {
			wg.Go(func() {
				for i := 0; i < 5000 && !stopLoad.Load(); i++ {
					path, want := "/api/v1/customers/"+strconv.Itoa(1+(w+i)%3), 200
					if i%5 == 4 {
						path, want = "/nope", 404
					}
					r := e2etest.Do(t, "GET", p.base+path, nil, "")
					if r.Status != want {
						t.Errorf("GET %s: %d, want %d: %s", path, r.Status, want, r.Body)
						return
					}
					mu.Lock()
					ids[r.Header.Get("X-Request-Id")]++
					mu.Unlock()
					if want == 200 {
						allowed.Add(1)
					}
					answers.Add(1)
				}
			})
		}
		waitFor(t, "100 answers, some of them shipped", 20*time.Second, func() bool {
			return answers.Load() >= 100 && shipMetric(t, p, "tollgate_audit_ship_records_total") > 0
		})
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
		down := answers.Load()
		waitFor(t, "the shipper to notice the outage", 10*time.Second, func() bool {
			return shipMetric(t, p, "tollgate_audit_ship_failures_total") > 0 && shipMetric(t, p, "tollgate_audit_ship_lag_records") > 0
		})
		waitFor(t, "150 answers while the database is down", 20*time.Second, func() bool { return answers.Load() >= down+150 })
		if r := e2etest.Do(t, "GET", p.admin+"/readyz", nil, ""); r.Status != 200 {
			t.Fatalf("readyz %d while shipping is fail-open: %s", r.Status, r.Body)
		}
		if err := pg.StartAgain(); err != nil {
			t.Fatal(err)
		}
		back := answers.Load()
		waitFor(t, "150 answers after the database is back", 20*time.Second, func() bool { return answers.Load() >= back+150 })
		stopLoad.Store(true)
		wg.Wait()
		if t.Failed() {
			return
		}
		want := int(answers.Load())
		if len(ids) != want {
			t.Fatalf("%d distinct request ids, want %d", len(ids), want)
		}
		if got := up.Requests() - before; got != uint64(allowed.Load()) {
			t.Fatalf("upstream received %d requests, want %d", got, allowed.Load())
		}
		waitFor(t, "the shipper to catch up", 20*time.Second, func() bool {
			return shipMetric(t, p, "tollgate_audit_ship_lag_records") == 0
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}

		r, err := auditlog.OpenReader(logDir)
		if err != nil {
			t.Fatal(err)
		}
		size, err := r.Size()
		r.Close()
		if err != nil || size != uint64(want) {
			t.Fatalf("local log holds %d records (%v), want %d", size, err, want)
		}
		c, err := pgx.Connect(ctx, pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n, distinct, hi int64
		if err := c.QueryRow(ctx, `SELECT count(*), count(DISTINCT idx), max(idx) FROM `+pgship.RecordsTable+` WHERE origin = $1`, origin).Scan(&n, &distinct, &hi); err != nil {
			t.Fatal(err)
		}
		if n != int64(want) || distinct != n || hi != n-1 {
			t.Fatalf("database holds %d rows (%d distinct, last index %d) of %s; want exactly %d", n, distinct, hi, origin, want)
		}
		rows, err := c.Query(ctx, `SELECT request_id, count(*) FROM `+pgship.RecordsTable+` WHERE origin = $1 GROUP BY request_id`, origin)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			ID string
			N  int64
		}])
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.N != 1 || ids[g.ID] != 1 {
				t.Errorf("request id %q: %d rows in the database, %d answers to the client", g.ID, g.N, ids[g.ID])
			}
		}
		origins[origin] = want
		t.Logf("%d requests, %d answered while the database was down", want, back-down)
		if o := verifyShipped(t, ctx, pg.URL(), vkey, origin); o.Records != uint64(want) || o.Latest.Size != uint64(want) {
			t.Errorf("verify: %+v, want %d records under the last checkpoint", o, want)
		}
	})
	// Both instances in one database: verified and queried together.
	res, err := pgship.Verify(context.Background(), pg.URL(), vkeys)
	if err != nil || len(res.Problems) > 0 || len(res.Origins) != len(origins) {
		t.Fatalf("verify across instances: %v %v %+v", err, res.Problems, res.Origins)
	}
	seen := map[string]int{}
	if err := pgship.Query(context.Background(), pg.URL(), "", &auditlog.Filter{Status: 404}, func(o string, _ uint64, rec *auditlog.Record) error {
		seen[o]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for o := range origins {
		if seen[o] == 0 {
			t.Errorf("query across instances: no 404 of %s", o)
		}
	}
}

// TestAuditShippingFailClosed: with max_lag set, a proxy whose copy falls
// more than that behind reports not ready and refuses requests with 503
// audit.unavailable (the upstream sees none of them), and serves again
// once PostgreSQL is back and the shipper has caught up.
func TestAuditShippingFailClosed(t *testing.T) {
	pg := testpg.New(t)
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/closed-"+engine)
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
		p := startProxy(t, shipConfig(t, up.Addr, logDir, keyFile, engine, pg.URL(), "      max_lag: 5\n"))
		before := up.Requests()
		served := 0
		var refused e2etest.Response
		waitFor(t, "a refusal once the lag passes 5 records", 10*time.Second, func() bool {
			r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
			if r.Status == 200 {
				served++
				return false
			}
			refused = r
			return true
		})
		e2etest.AssertProblem(t, refused, 503, "audit.unavailable")
		if served < 5 {
			t.Errorf("only %d requests served before the lag bound", served)
		}
		if got := up.Requests() - before; got != uint64(served) {
			t.Fatalf("upstream received %d requests, %d were served", got, served)
		}
		if r := e2etest.Do(t, "GET", p.admin+"/readyz", nil, ""); r.Status != 503 || !strings.Contains(r.Body, "audit shipping behind") {
			t.Fatalf("readyz while behind: %d %s", r.Status, r.Body)
		}
		if err := pg.StartAgain(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "serving again once shipping caught up", 20*time.Second, func() bool {
			return e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "").Status == 200
		})
		if r := e2etest.Do(t, "GET", p.admin+"/readyz", nil, ""); r.Status != 200 {
			t.Fatalf("readyz after catching up: %d %s", r.Status, r.Body)
		}
		// A reload of the same file changes no audit setting.
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.logBuf.String(), "audit settings changed") {
			t.Errorf("a reload of the same config warns that audit settings changed:\n%s", p.logBuf)
		}
	})
}

// TestRetentionWaitsForShipping: with retention set to keep one segment
// and PostgreSQL down, the log keeps every segment the database lacks
// (and says how many on /metrics) instead of deleting records nobody has
// copied; once the database is back, the copy is complete, retention
// deletes what it holds, and the database verifies with no gap.
func TestRetentionWaitsForShipping(t *testing.T) {
	pg := testpg.New(t)
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		origin := "tollgate.test/hold-" + engine
		keyFile, logDir, vkey := auditSetup(t, t.TempDir(), origin)
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
		cfg := shipConfig(t, up.Addr, logDir, keyFile, engine, pg.URL(), "")
		cfg = strings.Replace(cfg, "  checkpoint_interval: 50ms\n", "  checkpoint_interval: 50ms\n  segment_max_age: 100ms\n  retain_segments: 1\n", 1)
		p := startProxy(t, cfg)
		sent := 0
		get := func() {
			if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""); r.Status != 200 {
				t.Fatalf("GET: %d %s", r.Status, r.Body)
			}
			sent++
		}
		// A request every 10ms (at most 1000): segments seal every 100ms,
		// each checkpoint would delete all but the newest.
		waitFor(t, "retention to hold three segments for the database", 10*time.Second, func() bool {
			get()
			time.Sleep(10 * time.Millisecond)
			return shipMetric(t, p, "tollgate_audit_retention_held_segments") >= 3
		})
		if n := shipMetric(t, p, "tollgate_audit_ship_records_total"); n != 0 {
			t.Fatalf("%v records shipped while the database was down", n)
		}
		if err := pg.StartAgain(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the copy to catch up and retention to delete", 20*time.Second, func() bool {
			get()
			time.Sleep(10 * time.Millisecond)
			return shipMetric(t, p, "tollgate_audit_ship_lag_records") == 0 &&
				shipMetric(t, p, "tollgate_audit_retention_held_segments") == 0
		})
		if n := shipMetric(t, p, "tollgate_audit_ship_lost_records_total"); n != 0 {
			t.Fatalf("%v records deleted before they were shipped", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		// The log directory says how far the copy got, for offline pruning.
		if marks, err := auditlog.CopyMarks(logDir); err != nil || marks[pgship.CopyName] != uint64(sent) {
			t.Fatalf("copy marks %v (%v), want %s at %d", marks, err, pgship.CopyName, sent)
		}
		local, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey})
		if err != nil {
			t.Fatal(err)
		}
		if local.Pruned == 0 || local.Records != uint64(sent) {
			t.Fatalf("local log: %d records, first %d retained; want %d records and some deleted once shipped", local.Records, local.Pruned, sent)
		}
		if o := verifyShipped(t, ctx, pg.URL(), vkey, origin); o.Records != uint64(sent) {
			t.Errorf("database holds %d records of %s, want all %d", o.Records, origin, sent)
		}
		t.Logf("%d requests; the local log kept records from %d", sent, local.Pruned)
	})
}
