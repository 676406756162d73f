package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Retention deletes whole sealed segments, oldest first. What stays lets
// the remaining records be verified and proved without the deleted ones:
//
//   - tiles/L<k>.dat are never cut: they already hold every level-8 (and
//     higher) tree hash of the pruned prefix;
//   - the file "pruned" records the first retained index F and the leaf
//     hashes of [F &^ 255, F), the part of the level-0 tile that straddles
//     the boundary (at most 255 hashes, 8 KiB).
//
// The stored level-8 hashes of [0, F &^ 255) and those boundary hashes are
// the compact range of the first F leaves, so the tree can be continued
// from F as if the records were there, and tlog can serve every tile a
// proof of a retained record needs.

// prunedFile holds the retention state (little-endian):
//
//	0  magic u32 "TGR1"
//	4  version u16 (1)
//	6  reserved u16
//	8  first retained index u64
//	16 count u32 (= first mod 256)
//	20 count leaf hashes, 32 bytes each
//	.. crc32c u32 over everything before it
const (
	prunedFile    = "pruned"
	prunedMagic   = 0x31524754 // "TGR1"
	prunedVersion = 1
	prunedHeader  = 20
)

// prunedState is what retention keeps of the deleted prefix.
type prunedState struct {
	first    uint64 // first retained index (0: nothing pruned)
	boundary []byte // leaf hashes of [first &^ 255, first)
}

func (ps *prunedState) base() uint64 { return ps.first &^ (1<<tileHeight - 1) }

func (ps *prunedState) marshal() []byte {
	b := make([]byte, prunedHeader, prunedHeader+len(ps.boundary)+4)
	binary.LittleEndian.PutUint32(b[0:], prunedMagic)
	binary.LittleEndian.PutUint16(b[4:], prunedVersion)
	binary.LittleEndian.PutUint64(b[8:], ps.first)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(ps.boundary)/tlog.HashSize))
	b = append(b, ps.boundary...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// ErrBadPruned reports a damaged retention record.
var ErrBadPruned = errors.New("auditlog: malformed retention record")

func parsePruned(b []byte) (prunedState, error) {
	var ps prunedState
	if len(b) < prunedHeader+4 || binary.LittleEndian.Uint32(b) != prunedMagic ||
		binary.LittleEndian.Uint16(b[4:]) != prunedVersion {
		return ps, fmt.Errorf("%w: bad magic, version or size", ErrBadPruned)
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return ps, fmt.Errorf("%w: checksum mismatch", ErrBadPruned)
	}
	ps.first = binary.LittleEndian.Uint64(b[8:])
	n := uint64(binary.LittleEndian.Uint32(b[16:]))
	if n != ps.first-ps.base() || uint64(len(b)) != prunedHeader+n*tlog.HashSize+4 {
		return ps, fmt.Errorf("%w: %d boundary hashes for first index %d", ErrBadPruned, n, ps.first)
	}
	ps.boundary = b[prunedHeader : len(b)-4]
	return ps, nil
}

// loadPruned reads the retention record of dir; none means nothing pruned.
func loadPruned(dir string) (prunedState, error) {
	b, err := os.ReadFile(filepath.Join(dir, prunedFile))
	if errors.Is(err, os.ErrNotExist) {
		return prunedState{}, nil
	}
	if err != nil {
		return prunedState{}, fmt.Errorf("cannot read retention record: %w", err)
	}
	return parsePruned(b)
}

// retainedSegments lists the segments of dir that retention kept, and
// those it meant to delete but a crash left behind (stale).
func retainedSegments(dir string) (segs, stale []segInfo, ps prunedState, err error) {
	if ps, err = loadPruned(dir); err != nil {
		return nil, nil, ps, err
	}
	all, err := listSegments(dir)
	if err != nil {
		return nil, nil, ps, err
	}
	i := 0
	for i < len(all) && all[i].first < ps.first {
		i++
	}
	return all[i:], all[:i], ps, nil
}

// seed appends the compact range of the pruned prefix [0, first) to rng:
// stored level-8 hashes for whole tiles, then the boundary leaf hashes.
// step is called after every append (to check checkpoint roots).
func (ps *prunedState) seed(rng *compactRange, ts *tileStore, step func() error) error {
	if ps.first == 0 {
		return nil
	}
	tiles := ps.base() >> tileHeight
	if ts.files[1] == nil && tiles > 0 || tiles > ts.written[1] {
		return fmt.Errorf("cannot seed the tree: %d records were pruned but only %d level-8 hashes are stored", ps.first, ts.written[1])
	}
	for t := uint64(0); t < tiles; t++ {
		h, err := ts.read(1, t)
		if err != nil {
			return err
		}
		if err := rng.appendAt(tileHeight, h); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	for off := 0; off < len(ps.boundary); off += tlog.HashSize {
		if err := rng.appendLeaf(tlog.Hash(ps.boundary[off : off+tlog.HashSize])); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// segCreated returns the creation time (Unix ns) in a segment's header.
func segCreated(seg *segInfo) (int64, error) {
	if seg.created != 0 {
		return seg.created, nil
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return 0, fmt.Errorf("cannot open segment: %w", err)
	}
	defer f.Close()
	var hb [segHeaderSize]byte
	if _, err := f.ReadAt(hb[:], 0); err != nil {
		return 0, &OffsetError{File: seg.path, Err: fmt.Errorf("cannot read segment header: %w", err)}
	}
	h, err := parseSegHeader(hb[:])
	if err != nil {
		return 0, &OffsetError{File: seg.path, Err: err}
	}
	seg.created = h.created
	return h.created, nil
}

// retain applies RetainSegments and RetainAge once a checkpoint covers the
// sealed segments, and never past the index a HoldRetention hold reports.
// A failure is logged and retried at the next checkpoint: keeping data
// longer is never a reason to stop logging.
func (l *Log) retain() {
	st := l.st
	if l.opts.RetainSegments <= 0 && l.opts.RetainAge <= 0 || len(st.segs) < 2 {
		return
	}
	covered := st.last.Size
	k, err := planPrune(st.segs, covered, l.opts.RetainSegments, l.opts.RetainAge, l.rc.now())
	if err != nil {
		l.logger.Error("audit log: retention failed", "err", err)
		return
	}
	held := 0
	if h := l.hold.Load(); h != nil {
		if next := (*h)(); next < covered {
			want := k
			if k, err = planPrune(st.segs, next, l.opts.RetainSegments, l.opts.RetainAge, l.rc.now()); err != nil {
				l.logger.Error("audit log: retention failed", "err", err)
				return
			}
			if held = want - k; held > 0 && atomic.LoadUint64(&l.stats.RetentionHeld) == 0 {
				l.logger.Warn("audit log: retention keeps segments not yet copied", "segments", held, "first_not_copied", next)
			}
		}
	}
	if was := atomic.SwapUint64(&l.stats.RetentionHeld, uint64(held)); was > 0 && held == 0 {
		l.logger.Info("audit log: retention no longer held back by the copy")
	}
	if k == 0 {
		return
	}
	l.segMu.Lock()
	ps, err := pruneSegments(l.opts.Dir, st.segs, k, st.pruned, nil)
	l.segMu.Unlock()
	if ps.first != st.pruned.first {
		st.pruned = ps
		st.segs = append([]segInfo(nil), st.segs[k:]...)
		atomic.AddUint64(&l.stats.Pruned, uint64(k))
		l.logger.Info("audit log: retention deleted sealed segments", "segments", k, "first_retained", ps.first)
	}
	if err != nil {
		l.logger.Error("audit log: retention failed", "err", err)
	}
}

// HoldRetention keeps retention from deleting any record at or past the
// index next reports, the first one not yet copied: a shipper that copies
// the log elsewhere (auditlog/pgship) passes its position, so a record is
// deleted only once it is copied, however long the copy is down. Retention
// catches up at the first checkpoint after the copy does. next is called
// from the committer at each checkpoint, so it must be cheap and safe for
// concurrent use; nil lifts the hold.
func (l *Log) HoldRetention(next func() uint64) {
	if next == nil {
		l.hold.Store(nil)
		atomic.StoreUint64(&l.stats.RetentionHeld, 0)
		return
	}
	l.hold.Store(&next)
}

// planPrune returns how many of the oldest segments retention deletes:
// those beyond keep (counting the last, active segment), and those sealed
// (the next segment created) more than age before now. The last segment is
// never deleted, nor a segment holding records no checkpoint covers yet
// (they could never be verified). Zero keep or age is no limit.
func planPrune(segs []segInfo, covered uint64, keep int, age time.Duration, now time.Time) (int, error) {
	k := 0
	if keep > 0 && len(segs) > keep {
		k = len(segs) - keep
	}
	if age > 0 {
		for k < len(segs)-1 {
			sealed, err := segCreated(&segs[k+1])
			if err != nil {
				return 0, err
			}
			if now.Sub(time.Unix(0, sealed)) < age {
				break
			}
			k++
		}
	}
	k = min(k, len(segs)-1)
	for k > 0 && segs[k].first > covered {
		k--
	}
	return max(k, 0), nil
}

// pruneSegments deletes segs[:k] after recording the new first retained
// index and its boundary hashes: write the record atomically, remove the
// files oldest first, fsync the directory. A crash in between leaves
// files below the recorded index, which readers skip and the next prune
// removes. It returns the new state whenever the record was written, even
// if a removal then failed.
func pruneSegments(dir string, segs []segInfo, k int, old prunedState, stale []segInfo) (prunedState, error) {
	if k <= 0 || k >= len(segs) {
		return old, fmt.Errorf("cannot prune %d of %d segments", k, len(segs))
	}
	ps := prunedState{first: segs[k].first}
	set, err := newSegmentSet(dir, segs, false)
	if err != nil {
		return old, err
	}
	for i := ps.base(); i < ps.first; i++ {
		if i < old.first {
			off := (i - old.base()) * tlog.HashSize
			ps.boundary = append(ps.boundary, old.boundary[off:off+tlog.HashSize]...)
			continue
		}
		if ps.boundary, err = set.leafHashes(i, i+1, ps.boundary); err != nil {
			set.close()
			return old, fmt.Errorf("cannot prune: %w", err)
		}
	}
	set.close()
	if err := writeFileAtomic(filepath.Join(dir, prunedFile), ps.marshal(), 0o644); err != nil {
		return old, fmt.Errorf("cannot prune: %w", err)
	}
	var errs []error
	for _, s := range append(stale, segs[:k]...) {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return ps, fmt.Errorf("cannot delete pruned segments: %w", err)
	}
	return ps, nil
}

// PruneOptions configure Prune.
type PruneOptions struct {
	// Dir is the log directory.
	Dir string
	// KeepSegments keeps this many newest segments (the last included);
	// zero is no limit.
	KeepSegments int
	// OlderThan deletes sealed segments sealed longer ago than this; zero
	// is no limit.
	OlderThan time.Duration
	// Now is the clock for OlderThan (time.Now if nil).
	Now func() time.Time
	// Logger receives a report of what was deleted; nil discards it.
	Logger *slog.Logger
	// IgnoreCopies deletes what the limits say even where a copy of the
	// log (MarkCopied) lacks the records.
	IgnoreCopies bool
}

// PruneResult reports what Prune deleted.
type PruneResult struct {
	Segments      int    // segments deleted
	FirstRetained uint64 // first index still in the log
	// Held is how many more segments the limits would delete but a copy
	// lacks; HeldFor names that copy and HeldFrom the first index it
	// lacks.
	Held     int
	HeldFor  string
	HeldFrom uint64
}

// Prune applies retention to a log directory offline, as the writer does
// with Options.RetainSegments and RetainAge, and keeps what a copy of the
// log lacks unless told otherwise (see MarkCopied). It takes the
// directory lock, so it fails while a writer has the log open.
func Prune(opts PruneOptions) (PruneResult, error) {
	var res PruneResult
	if _, err := os.Stat(opts.Dir); err != nil {
		return res, fmt.Errorf("cannot prune: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return res, fmt.Errorf("cannot prune: %w", err)
	}
	defer lock.Close()
	segs, stale, ps, err := retainedSegments(opts.Dir)
	if err != nil {
		return res, err
	}
	res.FirstRetained = ps.first
	msg, err := os.ReadFile(filepath.Join(opts.Dir, checkpointFile))
	if err != nil {
		return res, fmt.Errorf("cannot prune: cannot read checkpoint: %w", err)
	}
	cp, err := parseCheckpointUnverified(msg)
	if err != nil {
		return res, fmt.Errorf("cannot prune: %w", err)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	k, err := planPrune(segs, cp.Size, opts.KeepSegments, opts.OlderThan, now())
	if err != nil {
		return res, err
	}
	if !opts.IgnoreCopies {
		marks, err := CopyMarks(opts.Dir)
		if err != nil {
			return res, fmt.Errorf("cannot prune: %w", err)
		}
		if name, next := lowestCopy(marks); next < cp.Size {
			held, err := planPrune(segs, next, opts.KeepSegments, opts.OlderThan, now())
			if err != nil {
				return res, err
			}
			if held < k {
				res.Held, res.HeldFor, res.HeldFrom = k-held, name, next
				k = held
			}
		}
	}
	if k == 0 {
		return res, nil
	}
	ps, err = pruneSegments(opts.Dir, segs, k, ps, stale)
	if ps.first != res.FirstRetained {
		res.Segments, res.FirstRetained = k, ps.first
		if opts.Logger != nil {
			opts.Logger.Info("audit log: pruned sealed segments", "segments", k, "first_retained", ps.first)
		}
	}
	return res, err
}
