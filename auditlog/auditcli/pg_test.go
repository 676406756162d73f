package auditcli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// shippedLog writes n records to a new log named origin, ships it to url
// and returns its directory and verifier key file.
func shippedLog(t *testing.T, url, origin string, n int) (dir, pub string) {
	t.Helper()
	tmp := t.TempDir()
	dir, prefix := filepath.Join(tmp, "audit"), filepath.Join(tmp, "k")
	if _, se, code := run(t, "keygen", "--origin", origin, "--out", prefix); code != 0 {
		t.Fatalf("keygen: %s", se)
	}
	skey, _ := os.ReadFile(prefix + ".key")
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: strings.TrimSpace(string(skey)), CheckpointEvery: 16})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		e := auditlog.Entry{
			Start: start.Add(time.Duration(i)*time.Second + time.Duration(len(origin))*time.Millisecond).UnixNano(), Duration: 1500,
			RequestID: fmt.Appendf(nil, "%s-%d", origin[len(origin)-1:], i), Principal: fmt.Appendf(nil, "user-%d", i%3),
			AuthMethod: "jwt", ClientIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
			Method: []byte("GET"), Route: []byte("/v1/items/{id}"), Path: fmt.Appendf(nil, "/v1/items/%d", i), Status: 200,
		}
		if i%4 == 0 {
			e.Status, e.Decision, e.Reason = 403, auditlog.DecisionDenied, "rbac.forbidden"
		}
		if i%9 == 0 {
			e.Path, e.Ext = []byte("/v1/items"), auditlog.AppendExt(nil, auditlog.ExtRawTarget, []byte("/v1/items/%2e%2e"))
		}
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := pgship.New(pgship.Options{URL: url, Dir: dir, Origin: origin, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	deadline := time.Now().Add(30 * time.Second)
	for s.Shipped() < uint64(n) || s.Lag() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: shipped %d of %d", origin, s.Shipped(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, prefix + ".pub"
}

// TestPostgres ships three logs to one database and checks that query
// --pg answers as the local query does for each, across all of them, and
// that verify --pg passes, then fails naming a deleted row.
func TestPostgres(t *testing.T) {
	pg := testpg.New(t)
	url := pg.URL()
	origins := []string{"audit.test/node-1", "audit.test/node-2", "audit.test/node-3"}
	dirs, pubs := map[string]string{}, []string{}
	for i, o := range origins {
		d, p := shippedLog(t, url, o, 30+10*i)
		dirs[o], pubs = d, append(pubs, p)
	}

	for _, filter := range [][]string{nil, {"--decision", "denied"}, {"--principal", "user-1"}, {"--path-prefix", "/v1/items/%2e"}, {"--status", "200", "--limit", "3"}} {
		all, se, code := run(t, append([]string{"query", "--pg", url, "--json"}, filter...)...)
		if code != 0 {
			t.Fatalf("query --pg %v: %d %s", filter, code, se)
		}
		for _, o := range origins {
			local, _, _ := run(t, append([]string{"query", "--dir", dirs[o], "--json"}, filter...)...)
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(local), "\n") {
				if l != "" {
					want = append(want, `{"origin":"`+o+`",`+l[1:])
				}
			}
			got, _, _ := run(t, append([]string{"query", "--pg", url, "--origin", o, "--json"}, filter...)...)
			if strings.Join(want, "\n") != strings.TrimSpace(got) {
				t.Errorf("query --pg --origin %s %v:\n%s\nlocal:\n%s", o, filter, got, strings.Join(want, "\n"))
			}
			if filter == nil && (len(want) == 0 || strings.Count(all, `"origin":"`+o+`"`) != len(want)) {
				t.Errorf("query --pg across origins has %d records of %s, want %d", strings.Count(all, `"origin":"`+o+`"`), o, len(want))
			}
		}
	}
	table, _, _ := run(t, "query", "--pg", url, "--limit", "2")
	if !strings.HasPrefix(table, "ORIGIN  ") || !strings.Contains(table, "INDEX  TIME") || strings.Count(table, "\n") != 3 {
		t.Errorf("table:\n%s", table)
	}

	args := []string{"verify", "--pg", url}
	for _, p := range pubs {
		args = append(args, "--key", p)
	}
	out, se, code := run(t, args...)
	if code != 0 || !strings.Contains(out, "OK: 3 origins verified") {
		t.Fatalf("verify --pg: %d\n%s%s", code, out, se)
	}
	if _, se, code := run(t, args[:len(args)-2]...); code != 1 || !strings.Contains(se, `origin "audit.test/node-3": no verifier key`) {
		t.Errorf("verify --pg without one key: %d %s", code, se)
	}

	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `DELETE FROM `+pgship.RecordsTable+` WHERE origin = 'audit.test/node-2' AND idx = 17`); err != nil {
		t.Fatal(err)
	}
	_, se, code = run(t, args...)
	if code != 1 || !strings.Contains(se, `FAIL: origin "audit.test/node-2" index 17: record 17 is missing`) {
		t.Fatalf("verify --pg after a DELETE: %d\n%s", code, se)
	}
}
