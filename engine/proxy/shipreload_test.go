package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// TestReloadMovesShipping: reloads turn audit shipping on, move it to
// another database and turn it off, without a restart. Turned on, the
// copy starts from index 0; moved, the new database gets the whole log
// and verifies while the old one keeps what it had; the dashboard's
// cluster view and /metrics follow; a new max_lag applies at once; a URL
// that cannot be used rejects the reload; turned off, nothing more is
// shipped and requests keep flowing.
func TestReloadMovesShipping(t *testing.T) {
	pgA, pgB := testpg.New(t), testpg.New(t)
	count := func(t *testing.T, url, origin string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM `+pgship.RecordsTable+` WHERE origin = $1`, origin).Scan(&n); err != nil {
			return -1 // no table yet
		}
		return n
	}
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		origin := "tollgate.test/move-" + engine
		keyFile, logDir, vkey := auditSetup(t, t.TempDir(), origin)
		plain := withEngine(fmt.Sprintf(auditConfig, up.Addr, e2etest.DeadAddr(t), logDir, keyFile), engine)
		cfgA := shipConfig(t, up.Addr, logDir, keyFile, engine, pgA.URL(), "")
		p := startProxy(t, plain)
		reload := func(cfg, wantLog string) {
			t.Helper()
			p.logBuf.Reset()
			p.rewriteConfig(t, cfg)
			if err := p.Reload(); err != nil {
				t.Fatal(err)
			}
			if log := p.logBuf.String(); !strings.Contains(log, wantLog) || strings.Contains(log, "take effect on restart") {
				t.Fatalf("reload log, want %q:\n%s", wantLog, log)
			}
		}
		sent := 0
		get := func(want int) e2etest.Response {
			t.Helper()
			r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
			if want != 0 && r.Status != want {
				t.Fatalf("GET: %d, want %d: %s", r.Status, want, r.Body)
			}
			sent++
			return r
		}
		for range 10 {
			get(200)
		}
		if r := e2etest.Do(t, "GET", p.admin+"/api/cluster", nil, ""); r.Status != 404 || strings.Contains(metricsOf(t, p), "tollgate_audit_ship_") {
			t.Fatalf("before shipping: /api/cluster %d, or ship series on /metrics", r.Status)
		}
		reload(cfgA, "audit shipping to PostgreSQL started")
		waitFor(t, "the first 10 records in database A", 10*time.Second, func() bool { return count(t, pgA.URL(), origin) == 10 })

		// A URL pgx cannot use is refused, and shipping stays where it is.
		p.rewriteConfig(t, strings.Replace(cfgA, pgA.URL(), "postgres://127.0.0.1:5432/audit?sslmode=sometimes", 1))
		if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "audit.ship.postgres.url") {
			t.Fatalf("reload with an unusable URL: %v", err)
		}

		reload(shipConfig(t, up.Addr, logDir, keyFile, engine, pgB.URL(), ""), "audit shipping settings applied")
		for range 10 {
			get(200)
		}
		waitFor(t, "all 20 records in database B", 10*time.Second, func() bool { return count(t, pgB.URL(), origin) == 20 })
		// Only max_lag changes: fail-closed from now on.
		reload(shipConfig(t, up.Addr, logDir, keyFile, engine, pgB.URL(), "      max_lag: 5\n"), "audit shipping settings applied")
		if n := count(t, pgA.URL(), origin); n != 10 {
			t.Fatalf("database A holds %d records after the move, want the 10 it had", n)
		}
		waitFor(t, "the cluster view to answer from database B", 10*time.Second, func() bool {
			r := e2etest.Do(t, "GET", p.admin+"/api/cluster?window=15m", nil, "")
			var c clusterAnswer
			if r.Status != 200 || json.Unmarshal([]byte(r.Body), &c) != nil {
				return false
			}
			for _, o := range c.Origins {
				if o.Origin == origin {
					return o.Requests == 20
				}
			}
			return false
		})

		// max_lag 5 now holds: with B down, the sixth record waiting
		// turns requests away.
		if err := pgB.Stop(); err != nil {
			t.Fatal(err)
		}
		var refused e2etest.Response
		waitFor(t, "a refusal once more than 5 records wait", 10*time.Second, func() bool {
			refused = get(0)
			return refused.Status != 200
		})
		e2etest.AssertProblem(t, refused, 503, "audit.unavailable")
		if err := pgB.StartAgain(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "serving again once B is back", 20*time.Second, func() bool { return get(0).Status == 200 })
		waitFor(t, "the shipper to catch up", 10*time.Second, func() bool { return shipMetric(t, p, "tollgate_audit_ship_lag_records") == 0 })
		shipped := sent
		waitFor(t, "the copy's mark in the log directory", 5*time.Second, func() bool {
			marks, err := auditlog.CopyMarks(logDir)
			return err == nil && marks[pgship.CopyName] == uint64(shipped)
		})

		// Off: the shipper goes, with its series and the cluster view;
		// requests keep flowing, and database B keeps what it had.
		reload(plain, "audit shipping to PostgreSQL stopped")
		for range 5 {
			get(200)
		}
		if strings.Contains(metricsOf(t, p), "tollgate_audit_ship_") {
			t.Fatal("ship series on /metrics after shipping stopped")
		}
		if marks, err := auditlog.CopyMarks(logDir); err != nil || len(marks) != 0 {
			t.Fatalf("copy marks %v (%v) after shipping was turned off; offline pruning would wait for them", marks, err)
		}
		// The view's answers are cached for 2 s.
		waitFor(t, "the cluster view to go", 5*time.Second, func() bool {
			return e2etest.Do(t, "GET", p.admin+"/api/cluster", nil, "").Status == 404
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if o := verifyShipped(t, ctx, pgB.URL(), vkey, origin); o.Records != uint64(shipped) {
			t.Errorf("database B holds %d records of %s, want the %d shipped before it stopped", o.Records, origin, shipped)
		}
	})
}
