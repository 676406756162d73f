package pgship

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// testLog is a real audit log written by the test.
type testLog struct {
	origin, skey, vkey, dir string
	log                     *auditlog.Log
	n                       int
}

func newTestLog(t testing.TB, origin string) *testLog {
	t.Helper()
	skey, vkey, err := auditlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{origin: origin, skey: skey, vkey: vkey, dir: t.TempDir()}
	tl.open(t)
	t.Cleanup(func() { tl.close(t) })
	return tl
}

func (tl *testLog) open(t testing.TB) {
	t.Helper()
	l, err := auditlog.Open(auditlog.Options{Dir: tl.dir, SigningKey: tl.skey, QueueSize: 1024,
		SegmentMaxBytes: 64 << 10, CheckpointEvery: 100, CheckpointInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tl.log = l
}

func (tl *testLog) close(t testing.TB) {
	t.Helper()
	if tl.log != nil {
		if err := tl.log.Close(); err != nil {
			t.Error(err)
		}
		tl.log = nil
	}
}

// append writes n records; every fifth is denied and anonymous.
func (tl *testLog) append(t testing.TB, n int) {
	t.Helper()
	var e auditlog.Entry
	for range n {
		i := tl.n
		e.Reset()
		e.Start = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano() + int64(i)*1e6
		e.Duration = int64(1000 + i)
		e.RequestID = fmt.Appendf(e.RequestID, "%s-%d", tl.origin[len(tl.origin)-1:], i)
		e.Method = append(e.Method, "GET"...)
		e.Route = append(e.Route, "/v1/orders/{id}"...)
		e.Path = fmt.Appendf(e.Path, "/v1/orders/%d", i)
		e.ClientIP = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		e.Status, e.Decision = 200, auditlog.DecisionAllowed
		if i%5 == 4 {
			e.Status, e.Decision, e.Reason = 401, auditlog.DecisionDenied, "authn.required"
		} else {
			e.Principal = fmt.Appendf(e.Principal, "user-%d", i%7)
			e.AuthMethod = "jwt"
		}
		_, err := tl.log.Append(&e)
		for errors.Is(err, auditlog.ErrQueueFull) { // async mode: wait for room
			runtime.Gosched()
			_, err = tl.log.Append(&e)
		}
		if err != nil {
			t.Fatal(err)
		}
		tl.n++
	}
}

func startShipper(t *testing.T, url string, tl *testLog) *Shipper {
	t.Helper()
	s, err := New(Options{URL: url, Dir: tl.dir, Origin: tl.origin, BatchRecords: 64, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitShipped waits (bounded) until the database holds n records and a
// checkpoint of size n for origin.
func waitShipped(t *testing.T, url, origin string, n int) {
	t.Helper()
	waitShippedTo(t, url, origin, n, n)
}

// waitShippedTo waits (bounded) until the database holds n records and a
// checkpoint of size cp for origin.
func waitShippedTo(t *testing.T, url, origin string, n, cpSize int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var recs, cp int64
		err := withConn(t, url, func(c *pgx.Conn) error {
			if err := c.QueryRow(context.Background(), `SELECT count(*) FROM `+RecordsTable+` WHERE origin=$1`, origin).Scan(&recs); err != nil {
				return err
			}
			return c.QueryRow(context.Background(), `SELECT coalesce(max(size),-1) FROM `+CheckpointsTable+` WHERE origin=$1`, origin).Scan(&cp)
		})
		if err == nil && recs == int64(n) && cp == int64(cpSize) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("origin %s: database holds %d records, checkpoint %d; want %d and %d (err %v)", origin, recs, cp, n, cpSize, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func withConn(t testing.TB, url string, fn func(c *pgx.Conn) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return fn(c)
}

func mustExec(t testing.TB, url, sql string, args ...any) {
	t.Helper()
	if err := withConn(t, url, func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), sql, args...)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// dbURL returns the URL of a new database on the server.
func dbURL(t testing.TB, pg *testpg.Server, name, template string) string {
	t.Helper()
	sql := "CREATE DATABASE " + name
	if template != "" {
		sql += " TEMPLATE " + template
	}
	mustExec(t, pg.URL(), sql)
	return strings.Replace(pg.URL(), "/postgres?", "/"+name+"?", 1)
}

// assertExactlyOnce checks that the database holds indices [0, n) of
// origin, each once.
func assertExactlyOnce(t *testing.T, url, origin string, n int) {
	t.Helper()
	var count, distinct, lo, hi int64
	if err := withConn(t, url, func(c *pgx.Conn) error {
		return c.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT idx), coalesce(min(idx),-1), coalesce(max(idx),-1) FROM `+RecordsTable+` WHERE origin=$1`, origin).
			Scan(&count, &distinct, &lo, &hi)
	}); err != nil {
		t.Fatal(err)
	}
	if count != int64(n) || distinct != int64(n) || lo != 0 || hi != int64(n-1) {
		t.Fatalf("origin %s: %d rows, %d distinct, indices %d..%d; want exactly [0, %d)", origin, count, distinct, lo, hi, n)
	}
}

func verifyOK(t *testing.T, url string, vkeys ...string) VerifyResult {
	t.Helper()
	res, err := Verify(context.Background(), url, vkeys)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Errorf("verify: %s", p)
	}
	return res
}

// newBenchLog is a closed log of n records.
func newBenchLog(b *testing.B, origin string, n int) *testLog {
	b.Helper()
	tl := newTestLog(b, origin)
	tl.append(b, n)
	tl.close(b)
	return tl
}
