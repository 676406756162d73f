package auditlog

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/tlog"
)

// TestRFC6962Vectors checks the tree against the Certificate Transparency
// known-answer vectors shipped in transparency-dev/merkle's testonly package.
func TestRFC6962Vectors(t *testing.T) {
	if got := emptyRoot; !bytes.Equal(got[:], testonly.EmptyRootHash()) {
		t.Fatalf("empty root %x", got)
	}
	leaves := testonly.LeafInputs()
	roots := testonly.RootHashes()
	var c compactRange
	for i, leaf := range leaves {
		if err := c.appendLeaf(tlog.RecordHash(leaf)); err != nil {
			t.Fatal(err)
		}
		if got := c.root(); !bytes.Equal(got[:], roots[i+1]) {
			t.Fatalf("size %d: root %x, want %x", i+1, got[:], roots[i+1])
		}
	}
	// Hasher KATs (RFC 6962 §2.1 leaf and node prefixes).
	f := func(got tlog.Hash, want string) {
		t.Helper()
		if got.String() != want {
			t.Fatalf("got %s want %s", got, want)
		}
	}
	hex := func(b []byte) tlog.Hash { var h tlog.Hash; copy(h[:], b); return h }
	f(tlog.RecordHash(nil), hex(rfc6962.DefaultHasher.HashLeaf(nil)).String())
	f(tlog.RecordHash([]byte("L123456")), hex(rfc6962.DefaultHasher.HashLeaf([]byte("L123456"))).String())
	// The writer's one-call leaf hash equals tlog's.
	dir := t.TempDir()
	ss := newSaltStore(dir, int64(DefaultSaltPeriod), true)
	if err := mkdirs(dir); err != nil {
		t.Fatal(err)
	}
	s := &slot{sealer: newSealer()}
	for i := 0; i < 50; i++ {
		var e Entry
		testEntry(&e, i*37)
		k, err := ss.get(ss.epochOf(e.Start))
		if err != nil {
			t.Fatal(err)
		}
		s.encode(&e, k)
		if s.leafHash != tlog.RecordHash(s.leaf[1:]) {
			t.Fatalf("record %d: leaf hash differs from tlog.RecordHash", i)
		}
	}
	_ = sha256.Size
}

// hashReader serves x/mod stored hashes from memory.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m[x]
	}
	return out, nil
}

// TestCrossImplementations grows a tree and checks, for every size, that
// our compact range, x/mod tlog and transparency-dev's compact range agree on
// the root, and that proofs made by each verify with the other.
func TestCrossImplementations(t *testing.T) {
	const n = 300
	var stored memHashes
	var ours compactRange
	fact := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	theirs := fact.NewEmptyRange(0)
	var leafHashes [][]byte
	for i := 0; i < n; i++ {
		data := []byte{byte(i), byte(i >> 8), 'x'}
		hs, err := tlog.StoredHashes(int64(i), data, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		lh := tlog.RecordHash(data)
		leafHashes = append(leafHashes, lh[:])
		ours.appendLeaf(lh)
		if err := theirs.Append(lh[:], nil); err != nil {
			t.Fatal(err)
		}
		size := int64(i + 1)
		want, err := tlog.TreeHash(size, stored)
		if err != nil {
			t.Fatal(err)
		}
		got, err := theirs.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if ours.root() != want || !bytes.Equal(got, want[:]) {
			t.Fatalf("size %d: roots differ", size)
		}
		// x/mod inclusion proofs verify with transparency-dev, and back.
		for _, idx := range []int64{0, size / 2, size - 1} {
			p, err := tlog.ProveRecord(size, idx, stored)
			if err != nil {
				t.Fatal(err)
			}
			pb := make([][]byte, len(p))
			for j := range p {
				pb[j] = p[j][:]
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(idx), uint64(size), leafHashes[idx], pb, want[:]); err != nil {
				t.Fatalf("size %d idx %d: x/mod proof rejected by merkle: %v", size, idx, err)
			}
		}
		if size > 1 {
			old := size / 2
			p, err := tlog.ProveTree(size, old, stored)
			if err != nil {
				t.Fatal(err)
			}
			oldRoot, _ := tlog.TreeHash(old, stored)
			pb := make([][]byte, len(p))
			for j := range p {
				pb[j] = p[j][:]
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(size), pb, oldRoot[:], want[:]); err != nil {
				t.Fatalf("size %d: x/mod consistency proof rejected by merkle: %v", size, err)
			}
		}
	}
	// transparency-dev proofs (from its reference tree) verify with x/mod.
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := 0; i < n; i++ {
		tree.AppendData([]byte{byte(i), byte(i >> 8), 'x'})
	}
	root := tlog.Hash(tree.Hash())
	for _, idx := range []uint64{0, 1, 128, 255, 299} {
		p, err := tree.InclusionProof(idx, n)
		if err != nil {
			t.Fatal(err)
		}
		rp := make(tlog.RecordProof, len(p))
		for j := range p {
			copy(rp[j][:], p[j])
		}
		if err := tlog.CheckRecord(rp, n, root, int64(idx), tlog.Hash(leafHashes[idx])); err != nil {
			t.Fatalf("merkle proof rejected by x/mod: %v", err)
		}
	}
	cp, err := tree.ConsistencyProof(100, n)
	if err != nil {
		t.Fatal(err)
	}
	tp := make(tlog.TreeProof, len(cp))
	for j := range cp {
		copy(tp[j][:], cp[j])
	}
	old, _ := tlog.TreeHash(100, stored)
	if err := tlog.CheckTree(tp, n, root, 100, old); err != nil {
		t.Fatalf("merkle consistency proof rejected by x/mod: %v", err)
	}
}

// TestTilesAgainstTlog checks the stored level-8/16 hashes and the tile
// reader against x/mod's TileHashReader for sizes around tile edges.
func TestTilesAgainstTlog(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 66000, func(o *Options) { o.CheckpointEvery = 1 << 20 })
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var c compactRange
	leaves, err := r.set.leafHashes(0, 66000, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tileReader{dir: dir, leafHashes: r.set.leafHashes}
	for i := 0; i < 66000; i++ {
		c.appendLeaf(tlog.Hash(leaves[i*32 : i*32+32]))
		size := int64(i + 1)
		if size%16411 != 0 && size != 256 && size != 65536 && size != 65537 && size != 66000 {
			continue
		}
		hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: c.root()}, tr)
		h, err := tlog.TreeHash(size, hr)
		if err != nil || h != c.root() {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

// TestTileStoreFirstFlush: many level-8 hashes made before the level's file
// exists must all be kept (regression: creating the file reset the count).
func TestTileStoreFirstFlush(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, tileDir), 0o755)
	ts, err := openTileStore(dir, openOSFile)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.close()
	c := compactRange{visit: ts.visit}
	for i := 0; i < 12*256; i++ {
		if err := c.appendLeaf(tlog.RecordHash([]byte{byte(i), byte(i >> 8)})); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.flush(); err != nil {
		t.Fatal(err)
	}
	for i := 12 * 256; i < 20*256; i++ {
		if err := c.appendLeaf(tlog.RecordHash([]byte{byte(i), byte(i >> 8)})); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	if err := ts.flush(); err != nil {
		t.Fatal(err)
	}
	if ts.counts[1] != 20 || ts.written[1] != 20 {
		t.Fatalf("level 8: %d stored, %d written", ts.counts[1], ts.written[1])
	}
}
