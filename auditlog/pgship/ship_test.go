package pgship

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// TestShipAcrossDatabaseRestart stops PostgreSQL (by PID) while records
// keep arriving, starts it again, and checks every record arrives exactly
// once and the copy verifies.
func TestShipAcrossDatabaseRestart(t *testing.T) {
	pg := testpg.New(t)
	tl := newTestLog(t, "audit.test/a")
	s := startShipper(t, pg.URL(), tl)
	tl.append(t, 300)
	waitShipped(t, pg.URL(), tl.origin, 300)

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	tl.append(t, 500) // the log keeps taking records while the database is down
	deadline := time.Now().Add(10 * time.Second)
	for s.Lag() < 500 || s.failures.Get() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lag %d, failures %d while the database is down; want 500 and some", s.Lag(), s.failures.Get())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := pg.StartAgain(); err != nil {
		t.Fatal(err)
	}
	tl.append(t, 200)
	waitShipped(t, pg.URL(), tl.origin, 1000)
	if s.Lag() != 0 && s.Shipped() != 1000 {
		t.Fatalf("after catching up: lag %d, shipped %d", s.Lag(), s.Shipped())
	}
	assertExactlyOnce(t, pg.URL(), tl.origin, 1000)
	res := verifyOK(t, pg.URL(), tl.vkey)
	if len(res.Origins) != 1 || res.Origins[0].Records != 1000 || res.Origins[0].Latest.Size != 1000 {
		t.Fatalf("verify: %+v", res.Origins)
	}
}

// TestShipResumesFromDatabase restarts the shipper, and also takes rows
// away from the database behind its back: a new shipper resumes from the
// last index PostgreSQL holds, with no duplicate and no gap.
func TestShipResumesFromDatabase(t *testing.T) {
	pg := testpg.New(t)
	tl := newTestLog(t, "audit.test/b")
	s := startShipper(t, pg.URL(), tl)
	tl.append(t, 400)
	waitShipped(t, pg.URL(), tl.origin, 400)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// While no shipper runs: more records, and the database loses its
	// newest 150 rows and the checkpoints past them (a restore from an
	// older backup).
	tl.append(t, 100)
	mustExec(t, pg.URL(), `DELETE FROM `+RecordsTable+` WHERE idx >= 250`)
	mustExec(t, pg.URL(), `DELETE FROM `+CheckpointsTable+` WHERE size > 250`)

	s2 := startShipper(t, pg.URL(), tl)
	waitShipped(t, pg.URL(), tl.origin, 500)
	assertExactlyOnce(t, pg.URL(), tl.origin, 500)
	if got := s2.records.Get(); got != 250 {
		t.Fatalf("the second shipper sent %d records; want the 250 the database lacked", got)
	}
	verifyOK(t, pg.URL(), tl.vkey)

	// A third shipper with nothing to do sends nothing.
	_ = s2.Close()
	s3 := startShipper(t, pg.URL(), tl)
	time.Sleep(100 * time.Millisecond)
	if got := s3.records.Get(); got != 0 {
		t.Fatalf("an idle restart sent %d records", got)
	}
}

// TestShipDuplicateBatch replays a batch the database already holds (as
// after a commit whose answer was lost): ON CONFLICT keeps one copy.
func TestShipDuplicateBatch(t *testing.T) {
	pg := testpg.New(t)
	tl := newTestLog(t, "audit.test/c")
	s := startShipper(t, pg.URL(), tl)
	tl.append(t, 100)
	waitShipped(t, pg.URL(), tl.origin, 100)
	_ = s.Close()
	s2, err := New(Options{URL: pg.URL(), Dir: tl.dir, Origin: tl.origin})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.connect(); err != nil {
		t.Fatal(err)
	}
	s2.fol.Seek(40) // pretend the database said 40
	s2.shippedNext.Store(40)
	if _, err := s2.fol.Size(); err != nil {
		t.Fatal(err)
	}
	if err := s2.ship(true); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, pg.URL(), tl.origin, 100)
	s2.dropConn()
}

// TestShipperOptions lists every bad option at once.
func TestShipperOptions(t *testing.T) {
	_, err := New(Options{URL: "://", BatchRecords: -1})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"URL", "directory", "origin", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestShipAfterRetention: records retention deleted before they were
// shipped are counted as lost, the rest ship, and Verify reports the gap
// by origin and index rather than passing.
func TestShipAfterRetention(t *testing.T) {
	pg := testpg.New(t)
	skey, vkey, err := auditlog.GenerateKey("audit.test/pruned")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: skey, Durability: auditlog.DurabilityAsync,
		SegmentMaxBytes: 1 << 20, RetainSegments: 1, CheckpointEvery: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{origin: "audit.test/pruned", dir: dir, log: l}
	tl.append(t, 40000)
	tl.close(t)
	r, err := auditlog.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := r.First()
	r.Close()
	if first == 0 {
		t.Fatal("retention deleted nothing: the test needs a pruned log")
	}
	s := startShipper(t, pg.URL(), tl)
	waitShippedTo(t, pg.URL(), tl.origin, 40000-int(first), 40000)
	if got := s.lost.Get(); got != first {
		t.Fatalf("lost %d records, want %d", got, first)
	}
	res, err := Verify(context.Background(), pg.URL(), []string{vkey})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`origin "audit.test/pruned" index 0: records 0 to %d are missing`, first-1)
	if len(res.Problems) == 0 || res.Problems[0].String() != want {
		t.Fatalf("problems %v, want first %q", res.Problems, want)
	}
}

// TestSchemaMadeByManyAtOnce starts several instances' first connections to
// an empty database at the same moment, as a cluster's first start does:
// PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against itself, so
// without serialization one of them fails with a duplicate pg_type row.
func TestSchemaMadeByManyAtOnce(t *testing.T) {
	pg := testpg.New(t)
	for round := range 3 {
		url := dbURL(t, pg, fmt.Sprintf("schema%d", round), "")
		errs := make(chan error, 8)
		start := make(chan struct{})
		for range cap(errs) {
			go func() {
				<-start
				errs <- withConn(t, url, func(c *pgx.Conn) error {
					return makeSchema(context.Background(), c)
				})
			}()
		}
		close(start)
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// TestShipManyCheckpointsInOneBatch ships a closed log in one batch that
// holds many checkpoints: every one of them lands, and each verifies.
func TestShipManyCheckpointsInOneBatch(t *testing.T) {
	pg := testpg.New(t)
	tl := newTestLog(t, "audit.test/cps")
	tl.append(t, 1000)
	tl.close(t)
	var inLog int
	if _, err := auditlog.ReadCheckpoints(tl.dir, 0, 1<<20, func(auditlog.Checkpoint) bool { inLog++; return true }); err != nil {
		t.Fatal(err)
	}
	if inLog < 5 {
		t.Fatalf("the log holds %d checkpoints; the test needs several in one batch", inLog)
	}
	s, err := New(Options{URL: pg.URL(), Dir: tl.dir, Origin: tl.origin})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	waitShipped(t, pg.URL(), tl.origin, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.checkpoints.Get(); got != uint64(inLog) {
		t.Fatalf("shipped %d checkpoints; the log holds %d", got, inLog)
	}
	res := verifyOK(t, pg.URL(), tl.vkey)
	if len(res.Origins) != 1 || res.Origins[0].Checkpoints != inLog || res.Origins[0].Latest.Size != 1000 {
		t.Fatalf("verify: %+v; want %d checkpoints up to 1000", res.Origins, inLog)
	}
}

// TestReconfigure: a URL pgx cannot use changes nothing; a usable one
// replaces the URL and asks the running loop to reconnect, and max_lag
// applies to Behind at once.
func TestReconfigure(t *testing.T) {
	s, err := New(Options{URL: "postgres://127.0.0.1:1/a", Dir: t.TempDir(), Origin: "tollgate.test/reconf"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.lag.Store(8)
	if s.Behind() {
		t.Fatal("behind without max_lag")
	}
	if err := s.Reconfigure("postgres://127.0.0.1:1/b?sslmode=sometimes", 7); err == nil {
		t.Fatal("an unusable URL was taken")
	}
	if s.currentURL() != "postgres://127.0.0.1:1/a" || s.Behind() || len(s.reconf) != 0 {
		t.Fatalf("a refused reconfiguration changed the shipper: %q, behind %v", s.currentURL(), s.Behind())
	}
	if err := s.Reconfigure("postgres://127.0.0.1:1/b", 7); err != nil {
		t.Fatal(err)
	}
	if s.currentURL() != "postgres://127.0.0.1:1/b" || !s.Behind() || len(s.reconf) != 1 {
		t.Fatalf("after reconfiguring: %q, behind %v, reconnect asked %d", s.currentURL(), s.Behind(), len(s.reconf))
	}
	if err := s.Reconfigure("postgres://127.0.0.1:1/b", 0); err != nil || s.Behind() || len(s.reconf) != 1 {
		t.Fatalf("max_lag 0 again: %v, behind %v, reconnect asked %d", err, s.Behind(), len(s.reconf))
	}
}
