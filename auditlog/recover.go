package auditlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrNeedsRepair reports damage that recovery must not fix on its own:
// corruption inside checkpointed or sealed data, fewer records than the last
// checkpoint covers, or stored tree hashes that disagree with the records.
// Run Repair (tollgate audit repair) to proceed.
var ErrNeedsRepair = errors.New("auditlog: log needs repair")

// recovered is the writer state rebuilt from disk.
type recovered struct {
	segs      []segInfo
	active    file
	activeHdr segHeader
	off       int64 // end of data in the active segment
	n         uint64
	rng       compactRange
	tiles     *tileStore
	cpLog     file
	cpOff     int64
	last      Checkpoint
	hasCP     bool
	pruned    prunedState
}

func (r *recovered) close() {
	if r.active != nil {
		r.active.Close()
	}
	if r.cpLog != nil {
		r.cpLog.Close()
	}
	if r.tiles != nil {
		r.tiles.close()
	}
}

type recoverConfig struct {
	dir      string
	origin   string
	verifier note.Verifier
	open     openFileFunc
	logger   *slog.Logger
	segMax   int64
	repair   bool
	now      func() time.Time
}

func needsRepair(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrNeedsRepair}, args...)...)
}

// recoverLog opens the log directory and rebuilds the writer state: it
// truncates a torn tail past the last checkpoint (and logs it), and refuses
// (ErrNeedsRepair) on damage inside checkpointed or sealed data. With
// repair set it truncates such damage in the last segment instead and
// keeps the discarded checkpoints in a backup file.
func recoverLog(c *recoverConfig) (_ *recovered, err error) {
	for _, d := range []string{c.dir, filepath.Join(c.dir, saltDir), filepath.Join(c.dir, tileDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("cannot create log directory: %w", err)
		}
	}
	r := &recovered{}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	segs, stale, ps, err := retainedSegments(c.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNeedsRepair, err)
	}
	r.pruned = ps
	for _, s := range stale {
		// Left by a crash between the retention record and the deletion.
		if err := os.Remove(s.path); err == nil {
			c.logger.Warn("audit log: removed a segment retention had already pruned", "segment", s.path)
		}
	}
	if err := r.loadCheckpoints(c); err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		if r.hasCP && r.last.Size > 0 {
			return nil, needsRepair("no segments, but a checkpoint covers %d records", r.last.Size)
		}
		f, hdr, err := createSegment(c, 0)
		if err != nil {
			return nil, err
		}
		segs = []segInfo{{path: f.Name(), first: 0}}
		r.active, r.activeHdr, r.off = f, hdr, segHeaderSize
	}
	r.segs = segs
	set, err := newSegmentSet(c.dir, segs, false)
	if err != nil {
		return nil, err
	}
	defer set.close()
	for i := 0; i < len(segs)-1; i++ {
		if _, err := set.source(i); err != nil {
			return nil, fmt.Errorf("%w: sealed segment: %v", ErrNeedsRepair, err)
		}
	}
	if r.active == nil {
		if err := r.scanActive(c); err != nil {
			return nil, err
		}
	}
	if r.hasCP && r.n < r.last.Size {
		if !c.repair {
			return nil, needsRepair("the log holds %d records but checkpoint covers %d", r.n, r.last.Size)
		}
		if err := r.dropCheckpointsAbove(c, r.n); err != nil {
			return nil, err
		}
	}
	set.limit = r.off
	if r.tiles, err = openTileStore(c.dir, c.open); err != nil {
		return nil, err
	}
	dropped, err := r.tiles.truncate(r.n)
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		c.logger.Warn("audit log: dropped tree hashes past the end of the records", "count", dropped)
	}
	err = r.rebuild(set)
	if errors.Is(err, errTileMismatch) && c.repair {
		c.logger.Warn("audit log repair: rebuilding stored tree hashes", "err", err)
		r.tiles.close()
		for k := 1; k < len(r.tiles.files); k++ {
			os.Remove(filepath.Join(c.dir, tileDir, tileFileName(k)))
		}
		if r.tiles, err = openTileStore(c.dir, c.open); err != nil {
			return nil, err
		}
		err = r.rebuild(set)
	}
	if errors.Is(err, errTileMismatch) {
		return nil, fmt.Errorf("%w: %v", ErrNeedsRepair, err)
	}
	if err != nil {
		return nil, err
	}
	if err := r.tiles.flush(); err != nil {
		return nil, err
	}
	return r, nil
}

// loadCheckpoints reads checkpoints.log and checks its last entry against
// the checkpoint file.
func (r *recovered) loadCheckpoints(c *recoverConfig) error {
	f, err := c.open(filepath.Join(c.dir, checkpointsLog), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open checkpoint log: %w", err)
	}
	r.cpLog = f
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("cannot open checkpoint log: %w", err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return fmt.Errorf("cannot read checkpoint log: %w", err)
	}
	frames, valid, perr := parseCheckpointFrames(b)
	if perr != nil {
		c.logger.Warn("audit log: truncating a torn checkpoint log tail", "offset", valid, "bytes", len(b)-valid, "err", perr)
		if err := f.Truncate(int64(valid)); err != nil {
			return fmt.Errorf("cannot truncate checkpoint log: %w", err)
		}
	}
	r.cpOff = int64(valid)
	if len(frames) > 0 {
		last := frames[len(frames)-1]
		cp, err := r.openNote(c, last)
		if err != nil {
			return needsRepair("%s: last checkpoint: %v", checkpointsLog, err)
		}
		r.last, r.hasCP = cp, true
	}
	if msg, err := os.ReadFile(filepath.Join(c.dir, checkpointFile)); err == nil {
		cp, err := r.openNote(c, msg)
		switch {
		case err != nil:
			c.logger.Warn("audit log: ignoring unreadable checkpoint file", "err", err)
		case !r.hasCP || cp.Size > r.last.Size:
			if !c.repair {
				return needsRepair("%s covers %d records, beyond the checkpoint log", checkpointFile, cp.Size)
			}
		case cp.Size == r.last.Size && cp.Root != r.last.Root:
			return needsRepair("%s and %s disagree at size %d", checkpointFile, checkpointsLog, cp.Size)
		}
	}
	return nil
}

func (r *recovered) openNote(c *recoverConfig, msg []byte) (Checkpoint, error) {
	if c.verifier != nil {
		return OpenCheckpoint(msg, c.verifier)
	}
	cp, err := parseCheckpointUnverified(msg)
	if err == nil && cp.Origin != c.origin {
		err = fmt.Errorf("%w: origin %q, want %q", ErrBadCheckpoint, cp.Origin, c.origin)
	}
	return cp, err
}

// dropCheckpointsAbove rewrites checkpoints.log without checkpoints past n,
// keeping the old file as evidence. Repair only.
func (r *recovered) dropCheckpointsAbove(c *recoverConfig, n uint64) error {
	path := filepath.Join(c.dir, checkpointsLog)
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read checkpoint log: %w", err)
	}
	frames, _, _ := parseCheckpointFrames(old)
	var keep []byte
	r.hasCP = false
	for _, fr := range frames {
		cp, err := parseCheckpointUnverified(fr)
		if err != nil || cp.Size > n {
			break
		}
		keep = appendCheckpointFrame(keep, fr)
		r.last, r.hasCP = cp, true
	}
	backup := path + ".repaired-" + strconv.FormatInt(c.now().Unix(), 10)
	if err := writeFileAtomic(backup, old, 0o644); err != nil {
		return err
	}
	r.cpLog.Close()
	r.cpLog = nil
	if err := writeFileAtomic(path, keep, 0o644); err != nil {
		return err
	}
	os.Remove(filepath.Join(c.dir, checkpointFile))
	if r.hasCP {
		if err := writeFileAtomic(filepath.Join(c.dir, checkpointFile), r.last.Note, 0o644); err != nil {
			return err
		}
	}
	f, err := c.open(path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open checkpoint log: %w", err)
	}
	r.cpLog, r.cpOff = f, int64(len(keep))
	c.logger.Warn("audit log repair: dropped checkpoints past the surviving records", "records", n, "backup", backup)
	return nil
}

// scanActive validates every block of the last segment and truncates a torn
// or corrupt tail that no checkpoint covers.
func (r *recovered) scanActive(c *recoverConfig) error {
	seg := r.segs[len(r.segs)-1]
	f, err := c.open(seg.path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open segment: %w", err)
	}
	r.active = f
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("cannot open segment: %w", err)
	}
	var hb [segHeaderSize]byte
	_, herr := f.ReadAt(hb[:], 0)
	hdr, perr := parseSegHeader(hb[:])
	if herr != nil || perr != nil || hdr.first != seg.first {
		covered := r.hasCP && r.last.Size > seg.first
		if covered || !allZero(hb[:]) && !c.repair {
			return needsRepair("%s: bad segment header: %v", seg.path, errors.Join(herr, perr))
		}
		// A segment created but never written: write its header again.
		hdr = segHeader{first: seg.first, created: c.now().UnixNano(), origin: originHash(c.origin)}
		if _, err := f.WriteAt(hdr.marshal(), 0); err != nil {
			return fmt.Errorf("cannot write segment header: %w", err)
		}
		c.logger.Warn("audit log: rewrote an empty segment's header", "segment", seg.path)
	}
	r.activeHdr = hdr
	codec, err := newBlockCodec()
	if err != nil {
		return err
	}
	defer codec.close()
	off, next := int64(segHeaderSize), hdr.first
	var hbuf [blockHeaderSize]byte
	blk := make([]byte, 0, 128<<10)
	var bad error
	for off+blockHeaderSize <= size {
		if _, err := f.ReadAt(hbuf[:], off); err != nil {
			return fmt.Errorf("cannot read segment: %w", err)
		}
		h, err := parseBlockHeader(hbuf[:])
		if err == errEndOfData {
			break
		}
		if err == nil && h.first != next {
			err = fmt.Errorf("%w: first index %d, want %d", ErrBadBlock, h.first, next)
		}
		if err == nil && off+h.size() > size {
			err = fmt.Errorf("%w: block runs past the end of the file", ErrBadBlock)
		}
		if err == nil {
			blk = append(blk[:0], make([]byte, h.size())...)
			if _, rerr := f.ReadAt(blk, off); rerr != nil {
				return fmt.Errorf("cannot read segment: %w", rerr)
			}
			var raw []byte
			if raw, err = codec.decodeBlock(&h, blk); err == nil {
				err = checkRaw(&h, raw)
			}
		}
		if err != nil {
			bad = &OffsetError{File: seg.path, Offset: off, Err: err}
			break
		}
		off += h.size()
		next = h.end()
	}
	if bad != nil {
		if r.hasCP && next < r.last.Size && !c.repair {
			return fmt.Errorf("%w: corruption in checkpointed data: %v", ErrNeedsRepair, bad)
		}
		c.logger.Warn("audit log: truncating a torn tail", "segment", seg.path, "offset", off,
			"bytes", size-off, "records_kept", next, "err", bad)
	}
	// Truncate to the end of data and preallocate again, so the tail reads
	// as zeros whatever a torn write left there.
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("cannot truncate segment: %w", err)
	}
	if err := f.Allocate(max(c.segMax, off)); err != nil {
		return fmt.Errorf("cannot preallocate segment: %w", err)
	}
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("cannot sync segment: %w", err)
	}
	r.off, r.n = off, next
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// rebuild recomputes the compact range over the records, using stored
// level-8 hashes for tiles wholly inside the last checkpoint (which the
// root check then vouches for) and the records everywhere else, and checks
// the root at the checkpoint's size.
func (r *recovered) rebuild(set *segmentSet) error {
	r.rng = compactRange{visit: r.tiles.visit}
	const w = 1 << tileHeight
	check := func(pos uint64) error {
		if r.hasCP && pos == r.last.Size && r.rng.root() != r.last.Root {
			return needsRepair("the records do not match the checkpoint at size %d", r.last.Size)
		}
		return nil
	}
	if err := check(0); err != nil {
		return err
	}
	// A pruned prefix is continued from its kept hashes, which the root
	// check at the last checkpoint (never before the prefix's end) vouches for.
	if err := r.pruned.seed(&r.rng, r.tiles, func() error { return check(r.rng.n) }); err != nil {
		return err
	}
	if len(r.segs) > 0 && r.segs[0].first != r.pruned.first {
		return needsRepair("%s: the log starts at index %d, but retention kept records from %d", r.segs[0].path, r.segs[0].first, r.pruned.first)
	}
	for pos := r.pruned.first; pos < r.n; {
		if pos%w == 0 && r.hasCP && pos+w <= r.last.Size && pos/w < r.tiles.written[1] {
			h, err := r.tiles.read(1, pos/w)
			if err != nil {
				return err
			}
			if err := r.rng.appendAt(tileHeight, h); err != nil {
				return err
			}
			pos += w
		} else {
			leaf, _, err := set.record(pos)
			if err != nil {
				return err
			}
			if err := r.rng.appendLeaf(tlog.RecordHash(leaf)); err != nil {
				return err
			}
			pos++
		}
		if err := check(pos); err != nil {
			return err
		}
	}
	return nil
}

// createSegment creates, preallocates and syncs a new segment file.
func createSegment(c *recoverConfig, first uint64) (file, segHeader, error) {
	path := filepath.Join(c.dir, segName(first))
	f, err := c.open(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, segHeader{}, fmt.Errorf("cannot create segment: %w", err)
	}
	hdr := segHeader{first: first, created: c.now().UnixNano(), origin: originHash(c.origin)}
	err = f.Allocate(c.segMax)
	if err == nil {
		_, err = f.WriteAt(hdr.marshal(), 0)
	}
	if err == nil {
		err = f.Datasync()
	}
	if err == nil {
		err = syncDir(c.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, segHeader{}, fmt.Errorf("cannot create segment: %w", err)
	}
	return f, hdr, nil
}

// Repair opens the log at dir with the explicit consent to discard damaged
// data in the last segment, stored tree hashes that disagree with the
// records, and checkpoints past the surviving records (kept in a backup
// file), then closes it. It cannot repair a damaged sealed segment.
func Repair(opts Options) error {
	opts.repair = true
	l, err := Open(opts)
	if err != nil {
		return err
	}
	return l.Close()
}
