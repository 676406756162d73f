package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// blockStats reads the block headers of a segment file.
func blockStats(t *testing.T, path string, aligned bool) (blocks int, codecs map[uint8]int, records uint64) {
	t.Helper()
	src, err := openFileSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var hb [segHeaderSize]byte
	if _, err := src.ReadAt(hb[:], 0); err != nil {
		t.Fatal(err)
	}
	h, err := parseSegHeader(hb[:])
	if err != nil {
		t.Fatal(err)
	}
	codecs = map[uint8]int{}
	_, next, err := scanBlocks(src, src.Size(), 0, h.first, func(ref blockRef) error {
		blocks++
		codecs[ref.h.codec]++
		if aligned && ref.h.first%maxBlockRecords != 0 && ref.h.first != h.first {
			return fmt.Errorf("block at %d is not tile-aligned", ref.h.first)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return blocks, codecs, next - h.first
}

// TestCompactionOnSeal writes one record per group (the worst case: a
// block per record) into small segments and checks that every sealed
// segment is rewritten in full zstd blocks, smaller, with the same
// records: the log verifies, proves and scans as before.
func TestCompactionOnSeal(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(t, dir) // process mode, 1 MiB segments
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12000
	appendN(t, l, 0, n) // one caller in process mode: one record per group
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test needs sealed ones", len(segs))
	}
	if st.Compactions != uint64(len(segs)-1) || st.CompactionFailures != 0 {
		t.Fatalf("stats %+v for %d sealed segments", st, len(segs)-1)
	}
	var sealedBytes, sealedRecords int64
	for _, sg := range segs[:len(segs)-1] {
		blocks, codecs, records := blockStats(t, sg.path, true)
		if codecs[codecZstd] != blocks || uint64(blocks) > records/maxBlockRecords+2 {
			t.Fatalf("%s: %d blocks (%v) for %d records: not compacted", sg.path, blocks, codecs, records)
		}
		fi, err := os.Stat(sg.path)
		if err != nil {
			t.Fatal(err)
		}
		sealedBytes += fi.Size()
		sealedRecords += int64(records)
	}
	// The active segment keeps the writer's blocks: one per record.
	last := segs[len(segs)-1].path
	blocks, codecs, records := blockStats(t, last, false)
	if uint64(blocks) != records || codecs[codecS2] != blocks {
		t.Fatalf("active segment: %d blocks (%v) for %d records", blocks, codecs, records)
	}
	perSealed := float64(sealedBytes) / float64(sealedRecords)
	t.Logf("sealed and compacted: %.1f B/record", perSealed)
	if perSealed > 90 {
		t.Fatalf("compacted segments hold %.1f B/record", perSealed)
	}

	_, vkey := testKeys(t)
	res, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil || res.Records != n {
		t.Fatalf("verify: %+v %v", res, err)
	}
	for _, idx := range []uint64{0, 255, 256, 5000, n - 1} {
		proveAndCheck(t, dir, vkey, idx)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var want Entry
	count := 0
	err = r.Scan(&Filter{}, func(idx uint64, rec *Record) error {
		testEntry(&want, int(idx))
		if rec.Start != want.Start || string(rec.Path) != string(want.Path) || string(rec.Principal) != string(want.Principal) {
			return fmt.Errorf("record %d changed", idx)
		}
		count++
		return nil
	})
	if err != nil || count != n {
		t.Fatalf("scan: %d records, %v", count, err)
	}
}

// TestCompactionKeepsTheOriginalOnError damages a sealed segment: the
// rewrite fails its read, the original stays byte for byte, and no
// temporary file is left.
func TestCompactionKeepsTheOriginalOnError(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 20000, nil)
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 2 {
		t.Fatalf("segments %v %v", segs, err)
	}
	path := segs[0].path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := newBlockCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.use(CompressionZstd)
	committed := false
	_, _, err = compactSegment(path, c, func(tmp, path string) error { committed = true; return nil })
	if err == nil || committed {
		t.Fatalf("compaction of a damaged segment: %v, committed %v", err, committed)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, b) {
		t.Fatal("the original segment changed")
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
}

// TestCompactionYieldsToRetention deletes the segment between rewrite and
// rename: the rewrite is dropped instead of bringing the segment back.
func TestCompactionYieldsToRetention(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	path := filepath.Join(dir, segName(1<<40))
	tmp := path + compactSuffix
	if err := os.WriteFile(tmp, []byte("rewrite"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.compactCommit(tmp, path); !errors.Is(err, errCompactPruned) {
		t.Fatalf("commit after prune: %v", err)
	}
	for _, p := range []string{path, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists after a pruned commit: %v", p, err)
		}
	}
}

// TestStaleCompactionRemovedAtOpen leaves a rewrite as a crash would: Open
// deletes it and the log is intact.
func TestStaleCompactionRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 500, nil)
	stale := filepath.Join(dir, segName(0)+compactSuffix)
	if err := os.WriteFile(stale, []byte("half a rewrite"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale rewrite still there: %v", err)
	}
	_, vkey := testKeys(t)
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
		t.Fatal(err)
	}
}

// TestCompactOfflineAndAtOpen leaves sealed segments as the writer cut
// them (as a log from before compaction, or a crash between sealing and
// compaction, would): Open compacts the last sealed one, Compact the rest,
// and the log verifies and scans the same before and after.
func TestCompactOfflineAndAtOpen(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(t, dir)
	o.noCompaction = true
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12000
	appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 4 {
		t.Fatalf("segments %d %v", len(segs), err)
	}
	for _, sg := range segs[:len(segs)-1] {
		if need, err := needsCompaction(sg.path); err != nil || !need {
			t.Fatalf("%s: needs compaction %v %v", sg.path, need, err)
		}
	}
	_, vkey := testKeys(t)
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
		t.Fatal(err)
	}

	// Open compacts the last sealed segment.
	l, err = Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Compactions != 1 {
		t.Fatalf("Open compacted %d segments, want the last sealed one", st.Compactions)
	}
	if need, _ := needsCompaction(segs[len(segs)-2].path); need {
		t.Fatal("the last sealed segment is still uncompacted after Open")
	}

	// Compact does the rest, and then has nothing to do.
	res, err := Compact(dir)
	if err != nil || res.Segments != len(segs)-2 || res.After >= res.Before {
		t.Fatalf("Compact: %+v %v", res, err)
	}
	for _, sg := range segs[:len(segs)-1] {
		if need, err := needsCompaction(sg.path); err != nil || need {
			t.Fatalf("%s after Compact: needs compaction %v %v", sg.path, need, err)
		}
	}
	if res, err := Compact(dir); err != nil || res.Segments != 0 {
		t.Fatalf("second Compact: %+v %v", res, err)
	}
	if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
		t.Fatal(err)
	}
	proveAndCheck(t, dir, vkey, 1234)

	// Compact refuses to run beside a writer.
	l, err = Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Compact(dir); err == nil {
		t.Fatal("Compact ran while a writer holds the log")
	}
}
