package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// testClock is a settable clock for segment ages.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *testClock) add(d time.Duration)  { c.ns.Add(int64(d)) }
func newTestClock(t time.Time) *testClock { c := &testClock{}; c.ns.Store(t.UnixNano()); return c }

const segTestPer = 600 // records per segment: segments start off tile boundaries

// segmentedOptions makes a segment every segTestPer records (by age, on a
// test clock) and a checkpoint every 100 records, and only then: the test
// clock jumps an hour between batches, and a checkpoint signed by time
// whenever the log's ticker fired after a jump would land off the
// multiples of 100 the tests look for.
func segmentedOptions(t *testing.T, dir string, clk *testClock) Options {
	o := testOptions(t, dir)
	o.SegmentMaxAge = time.Hour
	o.CheckpointEvery = 100
	o.CheckpointInterval = 1000 * time.Hour
	o.now = clk.now
	return o
}

// writeSegments appends batches of segTestPer records from index from,
// advancing the clock an hour after each batch.
func writeSegments(t *testing.T, o Options, clk *testClock, from, batches int) {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < batches; b++ {
		appendN(t, l, from+b*segTestPer, segTestPer)
		clk.add(time.Hour)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func segFirsts(t *testing.T, dir string) []uint64 {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, s := range segs {
		out = append(out, s.first)
	}
	return out
}

func proveAndCheck(t *testing.T, dir, vkey string, index uint64) {
	t.Helper()
	p, err := Prove(dir, index)
	if err != nil {
		t.Fatalf("prove %d: %v", index, err)
	}
	res, err := VerifyProof(vkey, p)
	if err != nil || res.Index != index {
		t.Fatalf("verify proof %d: %v (index %d)", index, err, res.Index)
	}
}

// TestRetentionPrune: prune the two oldest of five segments offline, then
// verify, prove, scan, catch tampering and gaps, and reopen.
func TestRetentionPrune(t *testing.T) {
	_, vkey := testKeys(t)
	clk := newTestClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	o := segmentedOptions(t, dir, clk)
	writeSegments(t, o, clk, 0, 5)
	if got := segFirsts(t, dir); len(got) != 5 || got[2] != 1200 {
		t.Fatalf("segments %v, want 5 starting every %d", got, segTestPer)
	}
	unpruned := t.TempDir()
	copyDir(t, dir, unpruned)
	seg0, _ := os.ReadFile(filepath.Join(dir, segName(0)))

	// Segment k was sealed at hour k+1 and the clock is at hour 5: nothing
	// is 10 hours old; segments 0 and 1 are at least 2h59m old.
	res, err := Prune(PruneOptions{Dir: dir, OlderThan: 10 * time.Hour, Now: clk.now})
	if err != nil || res.Segments != 0 {
		t.Fatalf("prune by age 10h: %+v %v", res, err)
	}
	res, err = Prune(PruneOptions{Dir: dir, OlderThan: 3*time.Hour - time.Minute, Now: clk.now})
	if err != nil || res.Segments != 2 || res.FirstRetained != 1200 {
		t.Fatalf("prune by age: %+v %v", res, err)
	}
	if got := segFirsts(t, dir); len(got) != 3 || got[0] != 1200 {
		t.Fatalf("segments after prune %v", got)
	}

	vr, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil {
		t.Fatalf("verify after prune: %v", err)
	}
	if vr.Pruned != 1200 || vr.Records != 3000 || vr.Segments != 3 || vr.PrunedCheckpoints == 0 {
		t.Fatalf("verify result %+v", vr)
	}
	// Proofs: inside the boundary tile, past it, and the last record.
	for _, i := range []uint64{1200, 1201, 1279, 1280, 2047, 2999} {
		proveAndCheck(t, dir, vkey, i)
	}
	for _, i := range []uint64{0, 1023, 1199} {
		if _, err := Prove(dir, i); !errors.Is(err, ErrPruned) {
			t.Fatalf("prove pruned %d: %v, want ErrPruned", i, err)
		}
	}
	checkPrunedExport(t, dir, 1200)

	// Scan starts at the first retained record.
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	var first, count uint64
	err = r.Scan(&Filter{}, func(idx uint64, _ *Record) error {
		if count == 0 {
			first = idx
		}
		count++
		return nil
	})
	size, _ := r.Size()
	if err != nil || first != 1200 || count != 1800 || r.First() != 1200 || size != 3000 {
		t.Fatalf("scan: first %d count %d First %d size %d err %v", first, count, r.First(), size, err)
	}
	if _, _, err := r.Record(5); !errors.Is(err, ErrPruned) {
		t.Fatalf("record 5: %v", err)
	}
	r.Close()

	// Checkpoints an auditor saved earlier: the latest (3000), one that a
	// second prune puts deep inside the pruned prefix (1300) and one in
	// its boundary tile (2900).
	trusted, _ := os.ReadFile(filepath.Join(dir, checkpointFile))
	cpAt := map[uint64][]byte{}
	b, _ := os.ReadFile(filepath.Join(dir, checkpointsLog))
	frames, _, _ := parseCheckpointFrames(b)
	for _, fr := range frames {
		if cp, err := parseCheckpointUnverified(fr); err == nil {
			cpAt[cp.Size] = fr
		}
	}
	if cpAt[1300] == nil || cpAt[2900] == nil {
		t.Fatalf("no checkpoints at 1300 and 2900")
	}

	t.Run("tampered retained record", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		seg := filepath.Join(d, segName(1200))
		set, _ := newSegmentSet(d, []segInfo{{path: seg, first: 1200}}, false)
		refs, err := set.blocksOf(0)
		set.close()
		if err != nil || len(refs) == 0 {
			t.Fatal(err)
		}
		ref := refs[len(refs)-1] // the segment's last block: its size may change
		c, _ := newBlockCodec()
		defer c.close()
		f, _ := os.OpenFile(seg, os.O_RDWR, 0)
		blk := make([]byte, ref.h.size())
		f.ReadAt(blk, ref.off)
		raw, err := c.decodeBlock(&ref.h, blk)
		if err != nil {
			t.Fatal(err)
		}
		raw = append([]byte(nil), raw...)
		i := strings.Index(string(raw), "/v1/orders/")
		raw[i+1] = 'V'
		nb := c.appendBlock(nil, raw, ref.h.first, int(ref.h.count), ref.h.minTs, ref.h.maxTs)
		f.WriteAt(nb, ref.off)
		f.Truncate(ref.off + int64(len(nb)))
		f.Close()
		verifyErrContains(t, "tamper", VerifyOptions{Dir: d, VerifierKey: vkey}, "do not match the checkpoint")
	})
	t.Run("tampered boundary hash", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		ps, err := loadPruned(d)
		if err != nil {
			t.Fatal(err)
		}
		ps.boundary = append([]byte(nil), ps.boundary...)
		ps.boundary[5] ^= 1
		os.WriteFile(filepath.Join(d, prunedFile), ps.marshal(), 0o644)
		verifyErrContains(t, "boundary", VerifyOptions{Dir: d, VerifierKey: vkey}, "do not match the checkpoint")
	})
	t.Run("missing middle segment", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		os.Remove(filepath.Join(d, segName(1800)))
		verifyErrContains(t, "middle", VerifyOptions{Dir: d, VerifierKey: vkey}, "a segment is missing")
	})
	t.Run("missing prefix without a retention record", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, unpruned, d)
		os.Remove(filepath.Join(d, segName(0)))
		verifyErrContains(t, "prefix", VerifyOptions{Dir: d, VerifierKey: vkey}, "records before it are missing")
		if _, err := Open(testOptions(t, d)); !errors.Is(err, ErrNeedsRepair) {
			t.Fatalf("open with a missing first segment: %v", err)
		}
	})
	t.Run("no checkpoint past the pruned prefix", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		var keep []byte
		for _, fr := range frames {
			if cp, _ := parseCheckpointUnverified(fr); cp.Size < 1200 {
				keep = appendCheckpointFrame(keep, fr)
			}
		}
		os.WriteFile(filepath.Join(d, checkpointsLog), keep, 0o644)
		os.Remove(filepath.Join(d, checkpointFile))
		verifyErrContains(t, "uncovered", VerifyOptions{Dir: d, VerifierKey: vkey}, "no checkpoint covers")
	})
	t.Run("stale segment left by a crash", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		os.WriteFile(filepath.Join(d, segName(0)), seg0, 0o644)
		if _, err := Verify(VerifyOptions{Dir: d, VerifierKey: vkey}); err != nil {
			t.Fatalf("verify with a stale segment: %v", err)
		}
		l, err := Open(segmentedOptions(t, d, clk))
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if _, err := os.Stat(filepath.Join(d, segName(0))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stale segment not removed at open: %v", err)
		}
	})

	// Reopen after pruning: appends continue at 3000 (appendN checks).
	writeSegments(t, o, clk, 3000, 2)
	vr, err = Verify(VerifyOptions{Dir: dir, VerifierKey: vkey, Trusted: trusted})
	if err != nil || vr.Records != 4200 || vr.Pruned != 1200 {
		t.Fatalf("verify after reopen: %+v %v", vr, err)
	}
	proveAndCheck(t, dir, vkey, 1200)
	proveAndCheck(t, dir, vkey, 4199)

	// Prune again (segments 1200, 1800, 2400 of 1200…3600): the boundary
	// hashes of [2816, 3000) now come from the records.
	res, err = Prune(PruneOptions{Dir: dir, KeepSegments: 2})
	if err != nil || res.FirstRetained != 3000 || res.Segments != 3 {
		t.Fatalf("second prune: %+v %v", res, err)
	}
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
		t.Fatalf("verify after second prune: %v", err)
	}
	proveAndCheck(t, dir, vkey, 3000)
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey, Trusted: trusted}); err != nil {
		t.Fatalf("trusted at the first retained index: %v", err)
	}
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey, Trusted: cpAt[2900]}); err != nil {
		t.Fatalf("trusted in the boundary tile: %v", err)
	}
	verifyErrContains(t, "old trusted", VerifyOptions{Dir: dir, VerifierKey: vkey, Trusted: cpAt[1300]}, "pruned prefix")
}

// TestRetentionWriter: the writer deletes sealed segments beyond
// RetainSegments once a checkpoint covers them, never the active one.
func TestRetentionWriter(t *testing.T) {
	_, vkey := testKeys(t)
	clk := newTestClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	o := segmentedOptions(t, dir, clk)
	o.RetainSegments = 2
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 5; b++ {
		appendN(t, l, b*segTestPer, segTestPer)
		clk.add(time.Hour)
	}
	st := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := segFirsts(t, dir)
	if st.Pruned != 3 || len(got) != 2 || got[0] != 1800 {
		t.Fatalf("pruned %d, segments %v; want 3 pruned, [1800 2400]", st.Pruned, got)
	}
	vr, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil || vr.Pruned != 1800 || vr.Records != 3000 {
		t.Fatalf("verify: %+v %v", vr, err)
	}
	proveAndCheck(t, dir, vkey, 1800)
	proveAndCheck(t, dir, vkey, 2999)
}

// TestRetentionHold: a copy's position holds retention back, whatever
// retain_segments says; retention deletes up to the copy as it advances,
// catches up at the first checkpoint after the copy does, and the metric
// says how many segments wait.
func TestRetentionHold(t *testing.T) {
	_, vkey := testKeys(t)
	clk := newTestClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	o := segmentedOptions(t, dir, clk)
	o.RetainSegments = 1
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	var copied atomic.Uint64 // nothing copied yet: the copy is down
	l.HoldRetention(copied.Load)
	for b := 0; b < 4; b++ {
		appendN(t, l, b*segTestPer, segTestPer)
		clk.add(time.Hour)
	}
	// Segments 0, 600, 1200 are sealed; the active one starts at 1800 and
	// takes the next checkpoint's records.
	if got, st := segFirsts(t, dir), l.Stats(); len(got) != 4 || st.Pruned != 0 || st.RetentionHeld != 3 {
		t.Fatalf("copy at 0: segments %v, pruned %d, held %d; want all 4 kept, 3 held", got, st.Pruned, st.RetentionHeld)
	}
	// The copy reaches into segment 600 but not its end: only segment 0,
	// wholly copied, may go. (These records seal segment 1800 by age.)
	copied.Store(1000)
	appendN(t, l, 2400, 100)
	if got, st := segFirsts(t, dir), l.Stats(); len(got) != 4 || got[0] != 600 || st.Pruned != 1 || st.RetentionHeld != 3 {
		t.Fatalf("copy at 1000: segments %v, pruned %d, held %d; want [600 1200 1800 2400], 1 pruned, 3 held", got, st.Pruned, st.RetentionHeld)
	}
	// Caught up: retention does what retain_segments says again.
	copied.Store(2500)
	appendN(t, l, 2500, 100)
	if got, st := segFirsts(t, dir), l.Stats(); len(got) != 1 || got[0] != 2400 || st.RetentionHeld != 0 || st.Pruned != 4 {
		t.Fatalf("copy caught up: segments %v, pruned %d, held %d; want [2400], 4 pruned, none held", got, st.Pruned, st.RetentionHeld)
	}
	// Lifting the hold is the old behaviour: nothing waits for a copy.
	l.HoldRetention(nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	vr, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil || vr.Pruned != 2400 || vr.Records != 2600 {
		t.Fatalf("verify: %+v %v", vr, err)
	}
}

// TestPrunePlan: the never-the-active-segment and checkpoint-coverage rules.
func TestPrunePlan(t *testing.T) {
	segs := []segInfo{{first: 0, created: 1}, {first: 10, created: 2}, {first: 20, created: 3}, {first: 30, created: 4}}
	for _, tc := range []struct {
		keep    int
		age     time.Duration
		covered uint64
		want    int
	}{
		{0, 0, 100, 0},
		{1, 0, 100, 3},
		{2, 0, 100, 2},
		{10, 0, 100, 0},
		{1, 0, 25, 2},  // segment 20 holds records past the checkpoint
		{1, 0, 9, 0},   // nothing covered
		{0, 1, 100, 2}, // segments 0 and 1 sealed at least 1 ago
		{2, 1, 100, 2}, // either limit deletes
		{3, 1, 25, 2},
		{0, 2, 100, 1}, // segment 0 sealed at 2 (age 2), segment 1 at 3 (age 1)
	} {
		got, err := planPrune(append([]segInfo(nil), segs...), tc.covered, tc.keep, tc.age, time.Unix(0, 4))
		if err != nil || got != tc.want {
			t.Errorf("keep %d age %d covered %d: %d %v, want %d", tc.keep, tc.age, tc.covered, got, err, tc.want)
		}
	}
}

// checkPrunedExport exports a log pruned below first and checks the export
// with x/mod alone: the tree at the checkpoint and the inclusion of retained
// records verify, the boundary tile's hashes are there, and nothing claims
// to be a pruned record.
func checkPrunedExport(t *testing.T, dir string, first uint64) {
	t.Helper()
	out := t.TempDir()
	res, err := ExportTiles(dir, out)
	if err != nil {
		t.Fatalf("export after prune: %v", err)
	}
	cp := res.Checkpoint
	if res.FirstEntry != first {
		t.Fatalf("export: first entry %d, want %d", res.FirstEntry, first)
	}
	tree := tlog.Tree{N: int64(cp.Size), Hash: cp.Root}
	hr := tlog.TileHashReader(tree, exportReader(out))
	if h, err := tlog.TreeHash(int64(cp.Size), hr); err != nil || h != cp.Root {
		t.Fatalf("exported tree: %v", err)
	}
	for _, idx := range []uint64{first, (first | 255) + 1, cp.Size - 1} {
		p, err := tlog.ProveRecord(int64(cp.Size), int64(idx), hr)
		if err != nil {
			t.Fatalf("prove %d from the export: %v", idx, err)
		}
		// The leaf comes from the exported entry bundle.
		tile := idx >> tileHeight
		w := min(cp.Size-tile<<tileHeight, 256)
		rel := fmt.Sprintf("tile/entries/%03d", tile)
		if w < 256 {
			rel += fmt.Sprintf(".p/%d", w)
		}
		bundle, err := os.ReadFile(filepath.Join(out, rel))
		if idx>>tileHeight == first>>tileHeight && first%256 != 0 {
			if err == nil {
				t.Fatalf("entry bundle %s mixes pruned and retained records but was exported", rel)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var leaf []byte
		for k := uint64(0); k <= idx%256; k++ {
			n := binary.BigEndian.Uint16(bundle)
			leaf, bundle = bundle[2:2+n], bundle[2+n:]
		}
		if err := tlog.CheckRecord(p, int64(cp.Size), cp.Root, int64(idx), tlog.RecordHash(leaf)); err != nil {
			t.Fatalf("record %d: %v", idx, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "tile", "0", fmt.Sprintf("%03d", first>>tileHeight))); err != nil {
		t.Fatalf("boundary level-0 tile missing: %v", err)
	}
	if first >= 512 {
		if _, err := os.Stat(filepath.Join(out, "tile", "0", fmt.Sprintf("%03d", first>>tileHeight-1))); err == nil {
			t.Fatal("a level-0 tile of pruned records was exported")
		}
	}
}

// TestCopyMarks: a copy's mark is read back, replaced, and forgotten; a
// mark that cannot be parsed holds everything; names that would leave the
// directory are refused.
func TestCopyMarks(t *testing.T) {
	dir := t.TempDir()
	if m, err := CopyMarks(dir); err != nil || len(m) != 0 {
		t.Fatalf("no copies: %v %v", m, err)
	}
	for _, n := range []uint64{10, 7, 1 << 40} {
		if err := MarkCopied(dir, "pg", n); err != nil {
			t.Fatal(err)
		}
		if m, err := CopyMarks(dir); err != nil || len(m) != 1 || m["pg"] != n {
			t.Fatalf("after marking %d: %v %v", n, m, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, copiesDir, "torn"), []byte("12x"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := CopyMarks(dir)
	if name, low := lowestCopy(m); err != nil || name != "torn" || low != 0 {
		t.Fatalf("a torn mark: %v %v, lowest %s at %d", m, err, name, low)
	}
	for _, bad := range []string{"", "../x", "a/b", ".tmp-x"} {
		if err := MarkCopied(dir, bad, 1); err == nil {
			t.Errorf("MarkCopied(%q) accepted", bad)
		}
	}
	if err := ForgetCopy(dir, "pg"); err != nil {
		t.Fatal(err)
	}
	if err := ForgetCopy(dir, "pg"); err != nil {
		t.Fatalf("forgetting twice: %v", err)
	}
	if m, _ := CopyMarks(dir); len(m) != 1 || m["torn"] != 0 {
		t.Fatalf("after forgetting pg: %v", m)
	}
}
