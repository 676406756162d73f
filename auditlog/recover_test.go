package auditlog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// crashImage writes base records and closes (checkpointing them), then
// reopens, appends tail records without a checkpoint, and copies the
// directory while the writer is still open: what kill -9 would leave.
func crashImage(t *testing.T, base, tail int) (dir string) {
	t.Helper()
	src := t.TempDir()
	writeLog(t, src, base, nil)
	o := testOptions(t, src)
	o.CheckpointEvery, o.CheckpointInterval = 1<<30, 1<<40
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, base, tail)
	dir = t.TempDir()
	copyDir(t, src, dir)
	l.Close()
	return dir
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lastBlocks returns the block refs of the last segment.
func lastBlocks(t *testing.T, dir string) (string, []blockRef) {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	last := len(r.set.segs) - 1
	refs, err := r.set.blocksOf(last)
	if err != nil {
		t.Fatal(err)
	}
	return r.set.segs[last].path, refs
}

func reopenSize(t *testing.T, dir string) (uint64, error) {
	t.Helper()
	l, err := Open(testOptions(t, dir))
	if err != nil {
		return 0, err
	}
	return closedSize(t, l, dir)
}

// closedSize closes l and returns the size a reader of dir finds.
func closedSize(t testing.TB, l *Log, dir string) (uint64, error) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Size()
}

// TestTornWriteSweep truncates the last block at every byte offset (and
// zero-fills it): recovery keeps every earlier block and never a partial
// record, and the result verifies.
func TestTornWriteSweep(t *testing.T) {
	const base, tail = 300, 3
	img := crashImage(t, base, tail)
	seg, refs := lastBlocks(t, img)
	lastRef := refs[len(refs)-1]
	if lastRef.h.end() != base+tail {
		t.Fatalf("last block ends at %d", lastRef.h.end())
	}
	step := int64(1)
	if testing.Short() {
		step = 7
	}
	_, vkey := testKeys(t)
	check := func(name string, mutate func(f *os.File) error) {
		dir := t.TempDir()
		copyDir(t, img, dir)
		f, err := os.OpenFile(filepath.Join(dir, filepath.Base(seg)), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := mutate(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		n, err := reopenSize(t, dir)
		if err != nil {
			t.Fatalf("%s: reopen: %v", name, err)
		}
		if n != lastRef.h.first {
			t.Fatalf("%s: %d records after recovery, want %d", name, n, lastRef.h.first)
		}
		if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
			t.Fatalf("%s: verify: %v", name, err)
		}
	}
	for cut := lastRef.off; cut < lastRef.off+lastRef.h.size(); cut += step {
		check("truncate", func(f *os.File) error { return f.Truncate(cut) })
	}
	check("zero-fill", func(f *os.File) error {
		_, err := f.WriteAt(make([]byte, lastRef.h.size()), lastRef.off)
		return err
	})
	// A whole tail is kept as is.
	if n, err := reopenSize(t, img); err != nil || n != base+tail {
		t.Fatalf("intact image: %d, %v", n, err)
	}
}

// TestCorruptionSweep flips bytes in a checkpointed middle block (start is
// refused; verify names the block's offset), in the unchecked tail block
// (truncated on recovery) and in a sealed segment (verify names it).
func TestCorruptionSweep(t *testing.T) {
	img := crashImage(t, 1000, 3)
	seg, refs := lastBlocks(t, img)
	mid, tailRef := refs[1], refs[len(refs)-1]
	_, vkey := testKeys(t)
	flip := func(dir string, off int64) {
		f, err := os.OpenFile(filepath.Join(dir, filepath.Base(seg)), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [1]byte
		f.ReadAt(b[:], off)
		b[0] ^= 0x5a
		f.WriteAt(b[:], off)
	}
	offsets := func(ref blockRef) []int64 {
		var o []int64
		for i := int64(0); i < blockHeaderSize; i++ {
			o = append(o, ref.off+i)
		}
		for i := int64(blockHeaderSize); i < ref.h.size(); i += max(1, ref.h.size()/40) {
			o = append(o, ref.off+i)
		}
		return o
	}
	for _, off := range offsets(mid) {
		dir := t.TempDir()
		copyDir(t, img, dir)
		flip(dir, off)
		if _, err := Open(testOptions(t, dir)); !errors.Is(err, ErrNeedsRepair) {
			t.Fatalf("middle block byte %d: open: %v", off-mid.off, err)
		}
		_, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
		var oe *OffsetError
		if !errors.As(err, &oe) || oe.Offset != mid.off || filepath.Base(oe.File) != filepath.Base(seg) {
			t.Fatalf("middle block byte %d: verify: %v", off-mid.off, err)
		}
	}
	for _, off := range offsets(tailRef) {
		dir := t.TempDir()
		copyDir(t, img, dir)
		flip(dir, off)
		n, err := reopenSize(t, dir)
		if err != nil || n != tailRef.h.first {
			t.Fatalf("tail block byte %d: %d records, %v", off-tailRef.off, n, err)
		}
	}
}

// TestSealedSegments rotates segments and checks that readers map them,
// that verify spans them, and that damage in a sealed segment is named.
func TestSealedSegments(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 40000, func(o *Options) { o.SegmentMaxBytes = 1 << 20 })
	segs, _ := listSegments(dir)
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	_, vkey := testKeys(t)
	res, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	if err != nil || res.Segments != len(segs) || res.Records != 40000 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	// Corrupt a sealed block's payload: verify names the segment and offset.
	r, _ := OpenReader(dir)
	refs, _ := r.set.blocksOf(0)
	r.Close()
	ref := refs[len(refs)/2]
	f, _ := os.OpenFile(segs[0].path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff, 0xfe}, ref.off+blockHeaderSize+3)
	f.Close()
	_, err = Verify(VerifyOptions{Dir: dir, VerifierKey: vkey})
	var oe *OffsetError
	if !errors.As(err, &oe) || oe.File != segs[0].path || oe.Offset != ref.off {
		t.Fatalf("verify: %v", err)
	}
	// A damaged sealed header refuses start.
	f, _ = os.OpenFile(segs[0].path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, 9)
	f.Close()
	if _, err := Open(testOptions(t, dir)); !errors.Is(err, ErrNeedsRepair) {
		t.Fatalf("open: %v", err)
	}
}

// TestRepair: a checkpointed block is damaged; Open refuses, Repair
// truncates and keeps the discarded checkpoints, and the log verifies and
// accepts appends again.
func TestRepair(t *testing.T) {
	img := crashImage(t, 1000, 3)
	seg, refs := lastBlocks(t, img)
	f, _ := os.OpenFile(filepath.Join(img, filepath.Base(seg)), os.O_RDWR, 0)
	f.WriteAt([]byte{0xde, 0xad}, refs[2].off+blockHeaderSize+1)
	f.Close()
	if _, err := Open(testOptions(t, img)); !errors.Is(err, ErrNeedsRepair) {
		t.Fatalf("open: %v", err)
	}
	if err := Repair(testOptions(t, img)); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(img, checkpointsLog+".repaired-*"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	_, vkey := testKeys(t)
	res, err := Verify(VerifyOptions{Dir: img, VerifierKey: vkey})
	if err != nil || res.Records != refs[2].h.first {
		t.Fatalf("verify after repair: %+v %v", res, err)
	}
	l, err := Open(testOptions(t, img))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, int(refs[2].h.first), 10)
	l.Close()
}
