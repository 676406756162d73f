package auditlog

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Compaction rewrites a segment once it is sealed. The writer cuts a block
// at the end of every group, so that each acknowledged record is in the
// file, and under light or moderate load groups are small: blocks of a few
// records, each with a 48-byte header and compressed on its own. Nothing
// appends to a sealed segment, so it can be rewritten off the hot path in
// full blocks (256 records, aligned to tiles) compressed with zstd. The
// records, their order and every leaf are unchanged — the tree, the
// checkpoints and every proof stay valid — only the framing and the codec
// change.
//
// The rewrite goes to seg-N.alog.compact, is synced, read back and checked
// against the original's records, then renamed over the original and the
// directory synced. A crash leaves either file whole; Open deletes a stale
// .compact file. A reader that has the old file open keeps reading it.

const compactSuffix = ".compact"

// errCompactPruned reports that retention deleted the segment while it was
// being compacted.
var errCompactPruned = errors.New("segment was deleted by retention")

// compactor rewrites sealed segments on its own goroutine, one at a time.
type compactor struct {
	l     *Log
	queue chan string
	done  chan struct{}
	codec *blockCodec
}

func newCompactor(l *Log) (*compactor, error) {
	c, err := newBlockCodec()
	if err != nil {
		return nil, err
	}
	c.use(CompressionZstd)
	cp := &compactor{l: l, queue: make(chan string, 16), done: make(chan struct{}), codec: c}
	go cp.run()
	return cp, nil
}

// add queues a sealed segment. It never blocks a commit: with the
// queue full (segments sealed faster than they compact) the segment stays
// as written, which is valid, only larger.
func (cp *compactor) add(path string) {
	select {
	case cp.queue <- path:
	default:
		cp.l.logger.Warn("audit log: compaction is behind; a sealed segment stays uncompacted", "segment", path)
	}
}

// close finishes the queued segments and stops.
func (cp *compactor) close() {
	close(cp.queue)
	<-cp.done
	cp.codec.close()
}

func (cp *compactor) run() {
	defer close(cp.done)
	for path := range cp.queue {
		before, after, err := compactSegment(path, cp.codec, cp.l.compactCommit)
		switch {
		case errors.Is(err, errCompactPruned):
		case err != nil:
			atomic.AddUint64(&cp.l.stats.CompactionFailures, 1)
			cp.l.logger.Error("audit log: cannot compact sealed segment; it stays as written", "segment", path, "err", err)
		default:
			atomic.AddUint64(&cp.l.stats.Compactions, 1)
			cp.l.logger.Debug("audit log: compacted sealed segment", "segment", path, "bytes_before", before, "bytes_after", after)
		}
	}
}

// compactCommit renames the compacted file over the segment unless
// retention deleted the segment meanwhile; segMu orders the two.
func (l *Log) compactCommit(tmp, path string) error {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	if _, err := os.Stat(path); err != nil {
		os.Remove(tmp)
		return errCompactPruned
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot replace segment: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// compactSegment rewrites the sealed segment at path in full zstd blocks
// and hands the synced, checked rewrite to commit. It returns the sizes
// before and after.
func compactSegment(path string, codec *blockCodec, commit func(tmp, path string) error) (before, after int64, err error) {
	src, err := openFileSource(path)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	before = src.Size()
	var hb [segHeaderSize]byte
	if _, err := src.ReadAt(hb[:], 0); err != nil {
		return before, 0, fmt.Errorf("cannot read segment header: %w", err)
	}
	h, err := parseSegHeader(hb[:])
	if err != nil {
		return before, 0, err
	}
	tmp := path + compactSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return before, 0, fmt.Errorf("cannot create compacted segment: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(hb[:]); err != nil {
		return before, 0, err
	}
	p := packer{codec: codec, w: w, next: h.first}
	want := sha256.New()
	if err := eachRaw(src, before, h.first, codec, want, p.add); err != nil {
		return before, 0, fmt.Errorf("cannot read sealed segment: %w", err)
	}
	if err := p.flush(); err != nil {
		return before, 0, err
	}
	if err := w.Flush(); err != nil {
		return before, 0, fmt.Errorf("cannot write compacted segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return before, 0, fmt.Errorf("cannot sync compacted segment: %w", err)
	}
	// Read the rewrite back: the same records, in the same order.
	check, err := openFileSource(tmp)
	if err != nil {
		return before, 0, err
	}
	after = check.Size()
	got := sha256.New()
	err = eachRaw(check, after, h.first, codec, got, nil)
	check.Close()
	if err != nil {
		return before, after, fmt.Errorf("compacted segment does not read back: %w", err)
	}
	if string(got.Sum(nil)) != string(want.Sum(nil)) {
		return before, after, errors.New("compacted segment does not hold the same records")
	}
	if err = f.Close(); err != nil {
		return before, after, err
	}
	if err = commit(tmp, path); err != nil {
		return before, after, err
	}
	return before, after, nil
}

// eachRaw decodes every block of a segment in order, feeding each record
// (uvarint-framed leaf and side) to h and, if not nil, to fn.
func eachRaw(src segSource, size int64, first uint64, codec *blockCodec, h hash.Hash, fn func(leaf, side []byte) error) error {
	var blk, rec []byte
	_, _, err := scanBlocks(src, size, 0, first, func(ref blockRef) error {
		blk = append(blk[:0], make([]byte, ref.h.size())...)
		if _, err := src.ReadAt(blk, ref.off); err != nil {
			return &OffsetError{Offset: ref.off, Err: err}
		}
		raw, err := codec.decodeBlock(&ref.h, blk)
		if err == nil {
			err = checkRaw(&ref.h, raw)
		}
		if err != nil {
			return &OffsetError{Offset: ref.off, Err: err}
		}
		it := rawIter{b: raw}
		for it.next() {
			rec = appendUvarintBytes(rec[:0], it.leaf)
			rec = appendUvarintBytes(rec, it.side)
			h.Write(rec)
			if fn != nil {
				if err := fn(it.leaf, it.side); err != nil {
					return err
				}
			}
		}
		return it.err
	})
	return err
}

// packer cuts records into full, tile-aligned blocks.
type packer struct {
	codec          *blockCodec
	w              *bufio.Writer
	raw, out       []byte
	next, blkFirst uint64
	count          int
	minTs, maxTs   int64
	rec            Record
}

func (p *packer) add(leaf, side []byte) error {
	if err := DecodeEntry(leaf, &p.rec); err != nil {
		return err
	}
	if p.count == 0 {
		p.blkFirst, p.minTs, p.maxTs = p.next, p.rec.Start, p.rec.Start
	}
	p.raw = appendUvarintBytes(p.raw, leaf)
	p.raw = appendUvarintBytes(p.raw, side)
	p.count++
	p.minTs, p.maxTs = min(p.minTs, p.rec.Start), max(p.maxTs, p.rec.Start)
	p.next++
	if p.next%maxBlockRecords == 0 || len(p.raw) >= targetBlockRaw {
		return p.flush()
	}
	return nil
}

func (p *packer) flush() error {
	if p.count == 0 {
		return nil
	}
	p.out = p.codec.appendBlock(p.out[:0], p.raw, p.blkFirst, p.count, p.minTs, p.maxTs)
	p.raw, p.count = p.raw[:0], 0
	if _, err := p.w.Write(p.out); err != nil {
		return fmt.Errorf("cannot write compacted segment: %w", err)
	}
	return nil
}

// appendUvarintBytes appends b framed as uvarint(len(b)) ‖ b, the form of
// leaf and side data in a raw block.
func appendUvarintBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// needsCompaction reports whether a sealed segment is not yet in the form
// compaction writes: a block in another codec, or more blocks than full
// tile-aligned blocks would take.
func needsCompaction(path string) (bool, error) {
	src, err := openFileSource(path)
	if err != nil {
		return false, err
	}
	defer src.Close()
	var hb [segHeaderSize]byte
	if _, err := src.ReadAt(hb[:], 0); err != nil {
		return false, fmt.Errorf("cannot read segment header: %w", err)
	}
	h, err := parseSegHeader(hb[:])
	if err != nil {
		return false, err
	}
	blocks, other := uint64(0), false
	_, next, err := scanBlocks(src, src.Size(), 0, h.first, func(ref blockRef) error {
		blocks++
		other = other || ref.h.codec != codecZstd
		return nil
	})
	if err != nil {
		return false, withFile(err, path)
	}
	if next == h.first {
		return false, nil // no records
	}
	tiles := (next-1)/maxBlockRecords - h.first/maxBlockRecords + 1
	// Full blocks take about one per tile (more only for records past
	// 256 bytes on average); a writer's blocks, cut per group, take many.
	return other || blocks > 2*tiles, nil
}

// CompactResult describes a Compact run.
type CompactResult struct {
	Segments      int   // segments rewritten
	Before, After int64 // their bytes before and after
}

// Compact rewrites, offline, every sealed segment that is not yet
// compacted: those of logs written before compaction existed, or the one
// a crash left between sealing and compaction (Open also catches that
// one). It takes the directory lock, so it fails while a writer runs.
func Compact(dir string) (CompactResult, error) {
	var res CompactResult
	lock, err := lockDir(dir)
	if err != nil {
		return res, fmt.Errorf("cannot compact: %w", err)
	}
	defer lock.Close()
	removeStaleCompactions(dir)
	segs, err := listSegments(dir)
	if err != nil {
		return res, err
	}
	codec, err := newBlockCodec()
	if err != nil {
		return res, err
	}
	defer codec.close()
	codec.use(CompressionZstd)
	rename := func(tmp, path string) error {
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("cannot replace segment: %w", err)
		}
		return syncDir(dir)
	}
	for _, sg := range segs[:max(len(segs)-1, 0)] {
		need, err := needsCompaction(sg.path)
		if err != nil {
			return res, fmt.Errorf("cannot compact: %w", err)
		}
		if !need {
			continue
		}
		before, after, err := compactSegment(sg.path, codec, rename)
		if err != nil {
			return res, fmt.Errorf("cannot compact %s: %w", sg.path, err)
		}
		res.Segments++
		res.Before += before
		res.After += after
	}
	return res, nil
}

// removeStaleCompactions deletes rewrites a crash left behind.
func removeStaleCompactions(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range ents {
		if n := de.Name(); strings.HasPrefix(n, segPrefix) && strings.HasSuffix(n, segSuffix+compactSuffix) {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
