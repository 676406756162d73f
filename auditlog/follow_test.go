package auditlog

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// TestFollowerTailsALiveLog reads a log while it is written, across
// segment rotations, and checks it sees every record exactly once, in
// order, with the leaf bytes and revealed values a Reader gives.
func TestFollowerTailsALiveLog(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(t, dir)
	opts.SegmentMaxBytes = 1 << 20 // the smallest: rotates every few thousand records
	opts.CheckpointEvery = 50
	opts.Durability = DurabilityAsync // many records quickly; the follower reads what reached the file
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const total = 30000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < total; i += 100 {
			appendN(t, l, i, 100)
		}
	})
	f, err := Follow(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var leaves [][]byte
	var principals []string
	deadline := time.Now().Add(30 * time.Second)
	for len(leaves) < total {
		if time.Now().After(deadline) {
			t.Fatalf("follower stuck at %d of %d", len(leaves), total)
		}
		if _, err := f.Size(); err != nil {
			t.Fatal(err)
		}
		_, err := f.Read(512, func(idx uint64, leaf []byte, rec *Record) error {
			if idx != uint64(len(leaves)) {
				t.Fatalf("record %d after %d", idx, len(leaves))
			}
			leaves = append(leaves, bytes.Clone(leaf))
			principals = append(principals, string(rec.Principal))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	if len(segs) < 2 {
		t.Fatalf("only %d segments: the test did not cross a rotation", len(segs))
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range leaves {
		leaf, rec, err := r.Record(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf, leaves[i]) || string(rec.Principal) != principals[i] || !rec.Revealed {
			t.Fatalf("record %d differs from the reader's", i)
		}
	}
	if n, _ := f.Read(10, func(uint64, []byte, *Record) error { return nil }); n != 0 {
		t.Fatalf("read %d records past the end", n)
	}
}

// TestReadCheckpoints reads checkpoints.log in steps and stops where fn
// says, as a shipper does.
func TestReadCheckpoints(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(t, dir)
	opts.CheckpointEvery = 10
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 100)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var sizes []uint64
	off, stopped := int64(0), false
	for range 50 {
		next, err := ReadCheckpoints(dir, off, 3, func(cp Checkpoint) bool {
			if cp.Size > 55 && !stopped {
				stopped = true // refuse once, as a shipper does a checkpoint ahead of its records
				return false
			}
			sizes = append(sizes, cp.Size)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if next == off && stopped && len(sizes) > 0 && sizes[len(sizes)-1] == 100 {
			break
		}
		off = next
	}
	if len(sizes) < 10 || sizes[len(sizes)-1] != 100 {
		t.Fatalf("checkpoint sizes %v", sizes)
	}
	for i := 1; i < len(sizes); i++ {
		if sizes[i] <= sizes[i-1] {
			t.Fatalf("sizes out of order or repeated: %v", sizes)
		}
	}
	// A torn last frame is the end, not an error.
	b, _ := os.ReadFile(filepath.Join(dir, checkpointsLog))
	if err := os.WriteFile(filepath.Join(dir, checkpointsLog), b[:len(b)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	if _, err := ReadCheckpoints(dir, 0, 1000, func(Checkpoint) bool { n++; return true }); err != nil || n != len(sizes)-1 {
		t.Fatalf("torn log: %d checkpoints, %v", n, err)
	}
}

// FuzzReadCheckpoints feeds arbitrary checkpoint logs: no panic, and every
// checkpoint it accepts parses again from its own note.
func FuzzReadCheckpoints(f *testing.F) {
	skey, _ := testKeys(f)
	s, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	var seed []byte
	for i := range 3 {
		msg, err := signCheckpoint(s, "audit.test/tollgate", uint64(i*10), [32]byte{byte(i)})
		if err != nil {
			f.Fatal(err)
		}
		seed = appendCheckpointFrame(seed, msg)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, checkpointsLog), b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = ReadCheckpoints(dir, 0, 100, func(cp Checkpoint) bool {
			if _, err := parseCheckpointUnverified(cp.Note); err != nil {
				t.Fatalf("accepted a checkpoint that does not parse again: %v", err)
			}
			return true
		})
	})
}
