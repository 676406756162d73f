package pgship

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// fillSynthetic makes the tables and inserts n rows spread evenly over
// the 30 days before now across three origins, analyzed. The rows are not
// real records (the leaf is a placeholder): only the decoded columns the
// cluster view reads matter here.
func fillSynthetic(tb testing.TB, url string, now time.Time, n int) {
	tb.Helper()
	if err := withConn(tb, url, func(c *pgx.Conn) error {
		ctx := context.Background()
		if err := makeSchema(ctx, c); err != nil {
			return err
		}
		step := int64(30*24*time.Hour) / int64(n)
		if _, err := c.Exec(ctx, `INSERT INTO `+RecordsTable+`
			SELECT 'tollgate.test/node' || (i % 3), i / 3, '\x00'::bytea, 'completion',
				$1::bigint - i * $2::bigint, to_timestamp(($1::bigint - i * $2::bigint) / 1e9), 1000, 'r' || i, true,
				'user-' || (i % 50), NULL, 'jwt', 'GET', '/v1/r' || (i % 20), '/p', 200 + (i % 4) * 100,
				'allowed', ''
			FROM generate_series(0, $3::bigint - 1) i`, now.UnixNano(), step, n); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `ANALYZE `+RecordsTable)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
}

// TestClusterQueriesUseIndexes checks the plans PostgreSQL makes for the
// cluster view over a 300k-row table: the window queries read the start_ns
// index, the newest-record query probes the primary key once per origin,
// and none scans the whole table.
func TestClusterQueriesUseIndexes(t *testing.T) {
	pg := testpg.New(t)
	now := time.Now()
	fillSynthetic(t, pg.URL(), now, 300_000)
	lo, hi := now.Add(-15*time.Minute).UnixNano(), now.UnixNano()
	f := func(name, sql string, args ...any) {
		t.Helper()
		var plan []string
		if err := withConn(t, pg.URL(), func(c *pgx.Conn) error {
			rows, err := c.Query(context.Background(), "EXPLAIN "+sql, args...)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := strings.Join(plan, "\n")
		if strings.Contains(p, "Seq Scan on "+RecordsTable) || !strings.Contains(p, "Index") {
			t.Errorf("%s scans the table:\n%s", name, p)
		}
	}
	f("per origin", originsSQL, lo, hi)
	f("newest record", lastSQL)
	f("top endpoints", endpointsSQL, lo, hi, 10)
	f("top principals", principalsSQL, lo, hi, 10)
	f("status codes", statusesSQL, lo, hi)
}
