package proxy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// TestReloadMovesShipping: a reload that points audit shipping at another
// database moves the copy there without a restart (the new database gets
// the whole log, from index 0, and verifies; the old one keeps what it
// had), the dashboard's cluster view follows, a new max_lag applies at
// once, and a URL that cannot be used rejects the reload.
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
		cfgA := shipConfig(t, up.Addr, logDir, keyFile, engine, pgA.URL(), "")
		p := startProxy(t, cfgA)
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
		waitFor(t, "10 records in database A", 10*time.Second, func() bool { return count(t, pgA.URL(), origin) == 10 })

		// A URL pgx cannot use is refused, and shipping stays where it is.
		p.rewriteConfig(t, strings.Replace(cfgA, pgA.URL(), "postgres://127.0.0.1:5432/audit?sslmode=sometimes", 1))
		if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "audit.ship.postgres.url") {
			t.Fatalf("reload with an unusable URL: %v", err)
		}

		p.rewriteConfig(t, shipConfig(t, up.Addr, logDir, keyFile, engine, pgB.URL(), "      max_lag: 5\n"))
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
		if log := p.logBuf.String(); !strings.Contains(log, "audit shipping settings applied") || strings.Contains(log, "take effect on restart") {
			t.Fatalf("reload log:\n%s", log)
		}
		for range 10 {
			get(200)
		}
		waitFor(t, "all 20 records in database B", 10*time.Second, func() bool { return count(t, pgB.URL(), origin) == 20 })
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := pgship.Verify(ctx, pgB.URL(), []string{vkey})
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range res.Problems {
			if pr.Origin == origin {
				t.Errorf("verify database B: %s", pr)
			}
		}
		found := false
		for _, o := range res.Origins {
			if o.Origin == origin {
				found = true
				if o.Records != uint64(sent) {
					t.Errorf("database B holds %d records, want all %d", o.Records, sent)
				}
			}
		}
		if !found {
			t.Errorf("database B has no records of %s", origin)
		}
	})
}
