package auditcli

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "seg-*.alog"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPruneCLI: prune refuses while a writer holds the log, then deletes
// the oldest sealed segments; verify and prove still work afterwards.
func TestPruneCLI(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "audit")
	prefix := filepath.Join(tmp, "dev")
	if _, se, code := run(t, "keygen", "--origin", "audit.test/prune", "--out", prefix); code != 0 {
		t.Fatalf("keygen: %d %s", code, se)
	}
	skey, _ := os.ReadFile(prefix + ".key")
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: strings.TrimSpace(string(skey)),
		SegmentMaxAge: 20 * time.Millisecond, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	for batch := 0; batch < 4; batch++ {
		for i := 0; i < 30; i++ {
			e := auditlog.Entry{Start: start.Add(time.Duration(n) * time.Second).UnixNano(),
				RequestID: []byte("req"), ClientIP: netip.MustParseAddr("192.0.2.7"),
				Method: []byte("GET"), Route: []byte("/v1/items"), Path: []byte("/v1/items"), Status: 200}
			if _, err := l.Append(&e); err != nil {
				t.Fatal(err)
			}
			n++
		}
		time.Sleep(30 * time.Millisecond) // the next append starts a new segment
	}
	if _, se, code := run(t, "prune", "--dir", dir, "--keep-segments", "2"); code != exitFailed || !strings.Contains(se, "another writer") {
		t.Fatalf("prune with a writer: %d %q", code, se)
	}
	if _, se, code := run(t, "compact", "--dir", dir); code != exitFailed || !strings.Contains(se, "another writer") {
		t.Fatalf("compact with a writer: %d %q", code, se)
	}
	l.Close()
	// The writer compacted every segment it sealed: nothing left to do.
	if out, se, code := run(t, "compact", "--dir", dir); code != 0 || !strings.Contains(out, "compacted 0 sealed segments") {
		t.Fatalf("compact: %d %q %q", code, out, se)
	}
	before := segmentFiles(t, dir)
	if len(before) < 4 {
		t.Fatalf("%d segments, want at least 4", len(before))
	}
	if _, _, code := run(t, "prune", "--dir", dir); code != exitUsage {
		t.Fatalf("prune without a limit: %d", code)
	}
	// A copy (audit shipping) that lacks records from inside the second
	// segment holds back all but the first.
	second, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(before[1]), "seg-"), ".alog"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := auditlog.MarkCopied(dir, "pgship", second+1); err != nil {
		t.Fatal(err)
	}
	out, se, code := run(t, "prune", "--dir", dir, "--keep-segments", "2")
	wantHeld := fmt.Sprintf("kept %d more segments: the copy pgship lacks the records from index %d", len(before)-3, second+1)
	if code != 0 || !strings.Contains(out, "pruned 1 segments") || !strings.Contains(out, wantHeld) {
		t.Fatalf("prune with a copy behind: %d %q %q", code, out, se)
	}
	if after := segmentFiles(t, dir); len(after) != len(before)-1 {
		t.Fatalf("segments after prune with a copy behind: %v (before %v)", after, before)
	}
	out, se, code = run(t, "prune", "--dir", dir, "--keep-segments", "2", "--ignore-copies")
	if code != 0 || !strings.Contains(out, "pruned "+strconv.Itoa(len(before)-3)+" segments") || strings.Contains(out, "kept") {
		t.Fatalf("prune --ignore-copies: %d %q %q", code, out, se)
	}
	if after := segmentFiles(t, dir); len(after) != 2 || after[1] != before[len(before)-1] {
		t.Fatalf("segments after prune: %v (before %v)", after, before)
	}
	pub := prefix + ".pub"
	out, se, code = run(t, "verify", "--dir", dir, "--pub", pub, "-q")
	if code != 0 || !strings.Contains(out, "records before index") {
		t.Fatalf("verify: %d %q %q", code, out, se)
	}
	if _, se, code := run(t, "prove", "--dir", dir, "--index", "0"); code != exitFailed || !strings.Contains(se, "pruned") {
		t.Fatalf("prove pruned: %d %q", code, se)
	}
	proof := filepath.Join(tmp, "p")
	if _, se, code := run(t, "prove", "--dir", dir, "--index", strconv.Itoa(n-1), "-o", proof); code != 0 {
		t.Fatalf("prove: %d %q", code, se)
	}
	if _, se, code := run(t, "verify-proof", "--pub", pub, proof); code != 0 {
		t.Fatalf("verify-proof: %d %q", code, se)
	}
	r, err := auditlog.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := r.First()
	r.Close()
	out, _, code = run(t, "tail", "--dir", dir, "-n", "1000", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || first == 0 || len(lines) != n-int(first) || !strings.HasPrefix(lines[0], `{"index":`+strconv.FormatUint(first, 10)+",") {
		t.Fatalf("tail after prune (first retained %d): %d, %d lines, first %q", first, code, len(lines), lines[0])
	}
}
