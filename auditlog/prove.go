package auditlog

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Prove returns a C2SP tlog-proof (c2sp.org/tlog-proof@v1) for the record
// at index: the canonical record in "extra", its inclusion proof, and the
// latest signed checkpoint. The record must be covered by a checkpoint.
func Prove(dir string, index uint64) ([]byte, error) {
	msg, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return nil, fmt.Errorf("cannot read checkpoint: %w", err)
	}
	cp, err := parseCheckpointUnverified(msg)
	if err != nil {
		return nil, err
	}
	if index >= cp.Size {
		return nil, fmt.Errorf("cannot prove record %d: the latest checkpoint covers %d records; retry after the next checkpoint", index, cp.Size)
	}
	r, err := OpenReader(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if index < r.pruned.first {
		return nil, fmt.Errorf("cannot prove record %d: %w: the log keeps records from %d, and a proof needs the record itself", index, ErrPruned, r.pruned.first)
	}
	leaf, _, err := r.Record(index)
	if err != nil {
		return nil, fmt.Errorf("cannot prove record %d: %w", index, err)
	}
	tr := &tileReader{dir: dir, leafHashes: r.set.leafHashes, pruned: r.pruned}
	hr := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: cp.Root}, tr)
	p, err := tlog.ProveRecord(int64(cp.Size), int64(index), hr)
	if err != nil {
		return nil, fmt.Errorf("cannot prove record %d: %w", index, err)
	}
	tp := proof.TLogProof{Index: index, Checkpoint: msg, ExtraData: leaf}
	for _, h := range p {
		tp.Hashes = append(tp.Hashes, h)
	}
	return tp.Marshal(), nil
}

// ProveRequestID proves the first record with the given request id.
func ProveRequestID(dir, id string) ([]byte, error) {
	r, err := OpenReader(dir)
	if err != nil {
		return nil, err
	}
	idx, err := r.FindRequestID(id)
	r.Close()
	if err != nil {
		return nil, err
	}
	return Prove(dir, idx)
}

// ProofResult is what a verified proof establishes.
type ProofResult struct {
	Index      uint64
	Checkpoint Checkpoint
	// Leaf is the canonical record; Record is its decoding (personal
	// values appear only as commitments).
	Leaf   []byte
	Record Record
}

// VerifyProof checks a C2SP tlog-proof with nothing but the verifier key:
// the checkpoint signature, the inclusion proof of the record carried in
// "extra", and the record's canonical form.
func VerifyProof(vkey string, proofBytes []byte) (ProofResult, error) {
	var res ProofResult
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return res, fmt.Errorf("cannot parse verifier key: %w", err)
	}
	var tp proof.TLogProof
	if err := tp.Unmarshal(proofBytes); err != nil {
		return res, fmt.Errorf("%w: cannot parse proof: %v", ErrVerify, err)
	}
	if len(tp.ExtraData) == 0 {
		return res, fmt.Errorf("%w: the proof carries no record", ErrVerify)
	}
	cp, err := OpenCheckpoint(tp.Checkpoint, v)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if tp.Index >= cp.Size || cp.Size > 1<<62 {
		return res, fmt.Errorf("%w: index %d outside the checkpoint's %d records", ErrVerify, tp.Index, cp.Size)
	}
	rp := make(tlog.RecordProof, len(tp.Hashes))
	for i, h := range tp.Hashes {
		rp[i] = h
	}
	leafHash := tlog.RecordHash(tp.ExtraData)
	if err := tlog.CheckRecord(rp, int64(cp.Size), cp.Root, int64(tp.Index), leafHash); err != nil {
		return res, fmt.Errorf("%w: inclusion proof: %v", ErrVerify, err)
	}
	if err := DecodeEntry(tp.ExtraData, &res.Record); err != nil {
		return res, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	res.Index, res.Checkpoint, res.Leaf = tp.Index, cp, tp.ExtraData
	return res, nil
}

// ExportResult describes an ExportTiles run.
type ExportResult struct {
	// Checkpoint is the exported checkpoint.
	Checkpoint Checkpoint
	// FirstEntry is the first index with an entry bundle: 0, or the first
	// retained record of a pruned log.
	FirstEntry uint64
}

// ExportTiles writes the tree at the latest checkpoint as a C2SP
// tlog-tiles layout under out: tile/<L>/<N>[.p/<W>], entry bundles in
// tile/entries/<N>[.p/<W>] (big-endian uint16-length-prefixed canonical
// records) and the checkpoint.
//
// Of a pruned log it writes what retention kept: every tile of level 1
// and up (the kept tree hashes), and the level-0 tiles and entry bundles
// from the tile holding the first retained record on, so the tree at the
// checkpoint, and the inclusion of every retained record, check from the
// export alone. Level-0 tiles and entry bundles below are absent, and an
// entry bundle that would mix pruned and retained records is left out.
func ExportTiles(dir, out string) (ExportResult, error) {
	var res ExportResult
	msg, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return res, fmt.Errorf("cannot read checkpoint: %w", err)
	}
	cp, err := parseCheckpointUnverified(msg)
	if err != nil {
		return res, err
	}
	res.Checkpoint = cp
	r, err := OpenReader(dir)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.FirstEntry = r.pruned.first
	tr := &tileReader{dir: dir, leafHashes: r.set.leafHashes, pruned: r.pruned}
	var tiles []tlog.Tile
	for _, t := range tlog.NewTiles(tileHeight, 0, int64(cp.Size)) {
		if t.L == 0 && uint64(t.N)<<tileHeight < r.pruned.base() {
			continue
		}
		tiles = append(tiles, t)
	}
	for i := 0; i < len(tiles); i += 64 {
		batch := tiles[i:min(i+64, len(tiles))]
		data, err := tr.ReadTiles(batch)
		if err != nil {
			return res, fmt.Errorf("cannot export tiles: %w", err)
		}
		for j, t := range batch {
			if err := writeExport(out, c2spTilePath(t), data[j]); err != nil {
				return res, err
			}
			if t.L != 0 || uint64(t.N)<<tileHeight < r.pruned.first {
				continue
			}
			var bundle []byte
			from := uint64(t.N) << tileHeight
			for k := from; k < from+uint64(t.W); k++ {
				leaf, _, err := r.set.record(k)
				if err != nil {
					return res, fmt.Errorf("cannot export entries: %w", err)
				}
				bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(leaf)))
				bundle = append(bundle, leaf...)
			}
			p := strings.Replace(c2spTilePath(t), "tile/0/", "tile/entries/", 1)
			if err := writeExport(out, p, bundle); err != nil {
				return res, err
			}
		}
	}
	if err := writeExport(out, "checkpoint", msg); err != nil {
		return res, err
	}
	// Check what was written against the signed root with tlog.
	hr := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: cp.Root}, exportReader(out))
	if cp.Size > 0 {
		if h, err := tlog.TreeHash(int64(cp.Size), hr); err != nil || h != cp.Root {
			return res, fmt.Errorf("cannot export tiles: exported tree does not verify: %v", err)
		}
	}
	return res, nil
}

// c2spTilePath is x/mod's tile path without the height element, as C2SP
// tlog-tiles spells it (tile/<L>/<N>[.p/<W>]).
func c2spTilePath(t tlog.Tile) string {
	return strings.Replace(t.Path(), "tile/8/", "tile/", 1)
}

func writeExport(out, rel string, data []byte) error {
	p := filepath.Join(out, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cannot export: %w", err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("cannot export: %w", err)
	}
	return nil
}

// exportReader reads tiles back from a C2SP tlog-tiles directory.
type exportReader string

func (exportReader) Height() int { return tileHeight }

func (d exportReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(string(d), filepath.FromSlash(c2spTilePath(t))))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (exportReader) SaveTiles([]tlog.Tile, [][]byte) {}
