package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
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
		leaf, _ := splitRec(t, s.rec)
		if s.leafHash != tlog.RecordHash(leaf) {
			t.Fatalf("record %d: leaf hash differs from tlog.RecordHash", i)
		}
	}
	_ = sha256.Size
}

// splitRec parses a slot record, uvarint(len) ‖ leaf ‖ uvarint(len) ‖ side,
// failing on anything else.
func splitRec(t *testing.T, rec []byte) (leaf, side []byte) {
	t.Helper()
	n, m := binary.Uvarint(rec)
	if m <= 0 || uint64(len(rec)-m) < n {
		t.Fatalf("bad leaf length in record %x", rec)
	}
	leaf, rec = rec[m:m+int(n)], rec[m+int(n):]
	n, m = binary.Uvarint(rec)
	if m <= 0 || uint64(len(rec)-m) != n {
		t.Fatalf("bad side length in record %x", rec)
	}
	return leaf, rec[m:]
}

// TestSlotEncodeFraming checks the writer's record against one built step
// by step from appendLeaf and appendSide, across the sizes where
// the length prefixes change width (leaf and side data past 127 bytes), up
// to the largest extension list, with and without principal and address.
func TestSlotEncodeFraming(t *testing.T) {
	dir := t.TempDir()
	ss := newSaltStore(dir, int64(DefaultSaltPeriod), true)
	if err := mkdirs(dir); err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte("p"), MaxPrincipal+10)
	tests := []struct {
		name string
		edit func(e *Entry)
	}{
		{"plain", func(e *Entry) {}},
		{"no principal, no address", func(e *Entry) { e.Principal = e.Principal[:0]; e.ClientIP = netip.Addr{} }},
		{"IPv6", func(e *Entry) { e.ClientIP = netip.MustParseAddr("2001:db8::1") }},
		{"long principal (2-byte side length)", func(e *Entry) { e.Principal = append(e.Principal[:0], long...) }},
	}
	s := &slot{sealer: newSealer()}
	ref := newSealer()
	for _, tt := range tests {
		// Grow the extensions so the leaf crosses 128 bytes on the way.
		for _, pathLen := range []int{0, 1, 20, 60, 100, 400, 1000, 2040} {
			var e Entry
			testEntry(&e, pathLen)
			tt.edit(&e)
			e.Ext = AppendExt(e.Ext[:0], ExtRawTarget, bytes.Repeat([]byte("/x"), pathLen))
			k, err := ss.get(ss.epochOf(e.Start))
			if err != nil {
				t.Fatal(err)
			}
			s.encode(&e, k)
			var c commitments
			ref.commitments(&c, &e, k)
			wantLeaf := appendLeaf(nil, &e, &c)
			wantSide := ref.appendSide(nil, &e, k, &c)
			leaf, side := splitRec(t, s.rec)
			if !bytes.Equal(leaf, wantLeaf) || !bytes.Equal(side, wantSide) {
				t.Fatalf("%s, path %d: record differs from appendLeaf/appendSide", tt.name, pathLen)
			}
			if s.leafHash != tlog.RecordHash(wantLeaf) {
				t.Fatalf("%s, path %d: leaf hash differs from tlog.RecordHash", tt.name, pathLen)
			}
		}
	}
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
