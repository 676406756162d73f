package auditlog

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// tileHeight is the tile height of the stored tree (C2SP tlog-tiles): one
// stored hash per 256 nodes of the level below.
const tileHeight = 8

// emptyRoot is the RFC 6962 §2.1 hash of the empty tree, SHA-256("").
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// compactRange is the writer's view of the tree: the roots of the perfect
// subtrees that make up a tree of n leaves, largest first (one per set bit
// of n). Node hashing is tlog.NodeHash (RFC 6962 §2.1); proofs are never
// computed here, only by tlog from stored tiles.
type compactRange struct {
	n      uint64
	hashes [64]tlog.Hash
	levels [64]uint8
	depth  int
	// visit is called for every completed node whose level is a positive
	// multiple of tileHeight: the hashes the tile store keeps.
	visit func(level int, index uint64, h tlog.Hash) error
}

// appendLeaf adds a leaf hash.
func (c *compactRange) appendLeaf(h tlog.Hash) error { return c.appendAt(0, h) }

// appendAt adds the root of a perfect subtree of 2^level leaves. n must be
// a multiple of 2^level.
func (c *compactRange) appendAt(level int, h tlog.Hash) error {
	if c.n&(1<<level-1) != 0 {
		return fmt.Errorf("cannot append a level-%d node at size %d", level, c.n)
	}
	index := c.n >> level
	c.n += 1 << level
	for {
		if level > 0 && level%tileHeight == 0 && c.visit != nil {
			if err := c.visit(level, index, h); err != nil {
				return err
			}
		}
		if index&1 == 0 {
			c.hashes[c.depth] = h
			c.levels[c.depth] = uint8(level)
			c.depth++
			return nil
		}
		c.depth--
		h = tlog.NodeHash(c.hashes[c.depth], h)
		level++
		index >>= 1
	}
}

// root returns the tree hash (RFC 6962 §2.1 MTH) of the leaves so far.
func (c *compactRange) root() tlog.Hash {
	if c.depth == 0 {
		return emptyRoot
	}
	h := c.hashes[c.depth-1]
	for i := c.depth - 2; i >= 0; i-- {
		h = tlog.NodeHash(c.hashes[i], h)
	}
	return h
}

// tileStore keeps the hashes of tree levels 8, 16, … in tiles/L<k>.dat,
// 32 bytes each, append-only (≈0.125 B per leaf). Level-0 hashes are not
// stored: they are recomputed from the records.
type tileStore struct {
	dir     string
	open    openFileFunc
	files   [8]file
	counts  [8]uint64 // hashes stored (written or pending) per level k
	written [8]uint64 // hashes written to the file
	pending [8][]byte
	dirty   [8]bool
}

const tileDir = "tiles"

func tileFileName(k int) string { return "L" + strconv.Itoa(k) + ".dat" }

func openTileStore(dir string, open openFileFunc) (*tileStore, error) {
	ts := &tileStore{dir: filepath.Join(dir, tileDir), open: open}
	ents, err := os.ReadDir(ts.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list tiles: %w", err)
	}
	for _, de := range ents {
		name, ok := strings.CutPrefix(de.Name(), "L")
		name, ok2 := strings.CutSuffix(name, ".dat")
		k, err := strconv.Atoi(name)
		if !ok || !ok2 || err != nil || k < 1 || k >= len(ts.files) {
			continue
		}
		if err := ts.openLevel(k); err != nil {
			ts.close()
			return nil, err
		}
	}
	return ts, nil
}

func (ts *tileStore) openLevel(k int) error {
	f, err := ts.open(filepath.Join(ts.dir, tileFileName(k)), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open tile level %d: %w", k, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return fmt.Errorf("cannot open tile level %d: %w", k, err)
	}
	ts.files[k] = f
	ts.counts[k] = uint64(size) / tlog.HashSize
	ts.written[k] = ts.counts[k]
	return nil
}

// truncate drops stored hashes beyond what a tree of n leaves has.
func (ts *tileStore) truncate(n uint64) (dropped uint64, err error) {
	for k := 1; k < len(ts.files); k++ {
		f := ts.files[k]
		if f == nil {
			continue
		}
		want := n >> (tileHeight * k)
		size, err := f.Size()
		if err != nil {
			return dropped, err
		}
		if ts.counts[k] > want || size != int64(ts.counts[k])*tlog.HashSize {
			if ts.counts[k] > want {
				dropped += ts.counts[k] - want
				ts.counts[k] = want
			}
			if err := f.Truncate(int64(ts.counts[k]) * tlog.HashSize); err != nil {
				return dropped, fmt.Errorf("cannot truncate tile level %d: %w", k, err)
			}
			ts.written[k] = ts.counts[k]
			ts.pending[k] = ts.pending[k][:0]
			ts.dirty[k] = true
		}
	}
	return dropped, nil
}

// errTileMismatch reports a stored tile hash that disagrees with the records.
var errTileMismatch = errors.New("auditlog: stored tree hash does not match the records")

// visit is the compactRange visitor: it appends new hashes and checks
// hashes already stored.
func (ts *tileStore) visit(level int, index uint64, h tlog.Hash) error {
	k := level / tileHeight
	if k >= len(ts.files) {
		return nil // beyond 2^64 leaves
	}
	if index < ts.counts[k] {
		got, err := ts.read(k, index)
		if err != nil {
			return err
		}
		if got != h {
			return fmt.Errorf("%w: level %d index %d", errTileMismatch, level, index)
		}
		return nil
	}
	if index != ts.counts[k] {
		return fmt.Errorf("cannot store tree hash: level %d index %d, have %d", level, index, ts.counts[k])
	}
	ts.pending[k] = append(ts.pending[k], h[:]...)
	ts.counts[k]++
	return nil
}

func (ts *tileStore) read(k int, index uint64) (tlog.Hash, error) {
	var h tlog.Hash
	if index >= ts.written[k] {
		p := (index - ts.written[k]) * tlog.HashSize
		copy(h[:], ts.pending[k][p:])
		return h, nil
	}
	if _, err := ts.files[k].ReadAt(h[:], int64(index)*tlog.HashSize); err != nil {
		return h, fmt.Errorf("cannot read tile level %d: %w", k, err)
	}
	return h, nil
}

// flush writes pending hashes.
func (ts *tileStore) flush() error {
	for k := 1; k < len(ts.files); k++ {
		if len(ts.pending[k]) == 0 {
			continue
		}
		if ts.files[k] == nil {
			// First hash of this level: create its file, keeping the counts.
			f, err := ts.open(filepath.Join(ts.dir, tileFileName(k)), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("cannot create tile level %d: %w", k, err)
			}
			ts.files[k] = f
		}
		if _, err := ts.files[k].WriteAt(ts.pending[k], int64(ts.written[k])*tlog.HashSize); err != nil {
			return fmt.Errorf("cannot write tile level %d: %w", k, err)
		}
		ts.written[k] += uint64(len(ts.pending[k]) / tlog.HashSize)
		ts.pending[k] = ts.pending[k][:0]
		ts.dirty[k] = true
	}
	return nil
}

// sync makes written hashes durable.
func (ts *tileStore) sync() error {
	for k := 1; k < len(ts.files); k++ {
		if !ts.dirty[k] || ts.files[k] == nil {
			continue
		}
		if err := ts.files[k].Datasync(); err != nil {
			return fmt.Errorf("cannot sync tile level %d: %w", k, err)
		}
		ts.dirty[k] = false
	}
	return nil
}

func (ts *tileStore) close() {
	for k, f := range ts.files {
		if f != nil {
			f.Close()
			ts.files[k] = nil
		}
	}
}

// tileReader serves tlog tiles of height 8: level-0 tiles are recomputed
// from the records, higher levels are read from tiles/L<k>.dat. Wrapped in
// tlog.TileHashReader, every tile is checked against a signed tree head.
type tileReader struct {
	dir        string
	leafHashes func(from, to uint64, dst []byte) ([]byte, error)
	// pruned supplies the leaf hashes of the boundary tile below the first
	// retained record.
	pruned prunedState
}

func (tr *tileReader) Height() int { return tileHeight }

func (tr *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != tileHeight {
			return nil, fmt.Errorf("cannot read tile of height %d", t.H)
		}
		from := uint64(t.N) * (1 << tileHeight)
		if t.L == 0 {
			to := from + uint64(t.W)
			b := make([]byte, 0, t.W*tlog.HashSize)
			if from < tr.pruned.first {
				if from != tr.pruned.base() {
					return nil, fmt.Errorf("cannot read tile %s: records before %d were pruned", t.Path(), tr.pruned.first)
				}
				kept := min(to, tr.pruned.first) - from
				b = append(b, tr.pruned.boundary[:kept*tlog.HashSize]...)
				from += kept
			}
			b, err := tr.leafHashes(from, to, b)
			if err != nil {
				return nil, err
			}
			out[i] = b
			continue
		}
		b := make([]byte, t.W*tlog.HashSize)
		f, err := os.Open(filepath.Join(tr.dir, tileDir, tileFileName(t.L)))
		if err != nil {
			return nil, fmt.Errorf("cannot read tile %s: %w", t.Path(), err)
		}
		_, err = f.ReadAt(b, int64(from)*tlog.HashSize)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read tile %s: %w", t.Path(), err)
		}
		out[i] = b
	}
	return out, nil
}

func (tr *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}
