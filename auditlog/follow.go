package auditlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Follower reads a live log's records in index order as the writer adds
// them, with their canonical leaf bytes: what a shipper copying the log
// elsewhere needs. It reads the files only (sealed segments mapped, the
// active one with pread), never the writer's memory, so it cannot slow the
// append path. Where a Reader sees the log as it was when opened, a
// Follower picks up new blocks of the active segment by scanning only the
// headers written since its last look, and new segments as they appear.
// It is not safe for concurrent use.
type Follower struct {
	dir  string
	r    *Reader
	next uint64
	// skipped counts records retention deleted before they were read.
	skipped uint64
	// rec is decoded into for every record Read passes on, so its byte
	// slices are reused from call to call.
	rec Record
}

// Follow opens a Follower positioned at index from.
func Follow(dir string, from uint64) (*Follower, error) {
	r, err := OpenReader(dir)
	if err != nil {
		return nil, err
	}
	return &Follower{dir: dir, r: r, next: from}, nil
}

// Close releases the follower's files.
func (f *Follower) Close() error { return f.r.Close() }

// Next returns the index of the next record Read will return.
func (f *Follower) Next() uint64 { return f.next }

// Skipped returns how many records retention deleted before the follower
// read them.
func (f *Follower) Skipped() uint64 { return f.skipped }

// Seek moves the follower to index.
func (f *Follower) Seek(index uint64) { f.next = index }

// Size looks for records written since the last call and returns the
// number of records in the log (the index the next one will get).
func (f *Follower) Size() (uint64, error) {
	if err := f.refresh(); err != nil {
		return 0, err
	}
	return f.size()
}

func (f *Follower) size() (uint64, error) {
	s := f.r.set
	if len(s.segs) == 0 {
		return f.r.pruned.first, nil
	}
	return s.count()
}

// refresh takes in new segments (reopening the reader, whose block index
// of earlier segments it then rebuilds lazily) and the blocks appended to
// the active segment since the last look.
func (f *Follower) refresh() error {
	segs, _, ps, err := retainedSegments(f.dir)
	if err != nil {
		return err
	}
	s := f.r.set
	if len(segs) == 0 || len(s.segs) == 0 || segs[len(segs)-1].first != s.segs[len(s.segs)-1].first || ps.first != f.r.pruned.first {
		if len(segs) > 0 && !headerWritten(segs[len(segs)-1].path) {
			// The writer has created the next segment but not yet
			// written its header: take it in at the next look.
			if len(s.segs) == 0 {
				return nil
			}
			return f.extend()
		}
		r, err := OpenReader(f.dir)
		if err != nil {
			return err
		}
		f.r.Close()
		f.r = r
		return nil
	}
	return f.extend()
}

// headerWritten reports whether the segment file at path starts with a
// valid header.
func headerWritten(path string) bool {
	file, err := os.Open(path)
	if err != nil {
		return false
	}
	defer file.Close()
	var hb [segHeaderSize]byte
	if _, err := io.ReadFull(file, hb[:]); err != nil {
		return false
	}
	_, err = parseSegHeader(hb[:])
	return err == nil
}

// extend scans the block headers of the active segment past the end the
// set already knows. A header that does not parse yet is where the writer
// is: the end, for now.
func (f *Follower) extend() error {
	s := f.r.set
	last := len(s.segs) - 1
	if s.blocks[last] == nil {
		_, err := s.blocksOf(last)
		return err
	}
	src, err := s.source(last)
	if err != nil {
		return err
	}
	fs, ok := src.(*fileSource)
	if !ok {
		return nil
	}
	st, err := fs.f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat active segment: %w", err)
	}
	fs.size = st.Size()
	refs := s.blocks[last]
	off := s.ends[last]
	next := s.segs[last].first
	if len(refs) > 0 {
		next = refs[len(refs)-1].h.end()
	}
	var hb [blockHeaderSize]byte
	for off+blockHeaderSize <= fs.size {
		if _, err := fs.ReadAt(hb[:], off); err != nil {
			break
		}
		h, err := parseBlockHeader(hb[:])
		if err != nil || h.first != next || off+h.size() > fs.size {
			break
		}
		refs = append(refs, blockRef{seg: last, off: off, h: h})
		off += h.size()
		next = h.end()
	}
	s.blocks[last], s.ends[last] = refs, off
	return nil
}

// Read calls fn with up to max records from the follower's position on,
// in index order, and advances past each one fn accepts. leaf is the
// record's canonical bytes and rec its decoded form, personal values
// revealed while their salt exists; both are valid only during the call.
// An error from fn stops Read without advancing past that record. Read
// returns the number of records passed to fn; zero means the follower has
// caught up with what it last saw (call Size to look again). Records that
// retention deleted before they were read are skipped and counted.
func (f *Follower) Read(max int, fn func(index uint64, leaf []byte, rec *Record) error) (int, error) {
	size, err := f.size()
	if err != nil {
		return 0, err
	}
	if f.next < f.r.pruned.first {
		f.skipped += f.r.pruned.first - f.next
		f.next = f.r.pruned.first
	}
	rec := &f.rec
	n := 0
	for n < max && f.next < size {
		leaf, side, err := f.r.set.record(f.next)
		if err != nil {
			if f.inLastBlock(f.next) {
				// The writer may be in the middle of this block: drop it
				// from the index so the next look reads its header again.
				f.dropLastBlock()
				return n, nil
			}
			return n, err
		}
		if err := f.r.decode(leaf, side, rec); err != nil {
			return n, fmt.Errorf("cannot decode record %d: %w", f.next, err)
		}
		if err := fn(f.next, leaf, rec); err != nil {
			return n, err
		}
		f.next++
		n++
	}
	return n, nil
}

func (f *Follower) inLastBlock(index uint64) bool {
	s := f.r.set
	last := len(s.segs) - 1
	refs := s.blocks[last]
	return len(refs) > 0 && index >= refs[len(refs)-1].h.first
}

func (f *Follower) dropLastBlock() {
	s := f.r.set
	last := len(s.segs) - 1
	refs := s.blocks[last]
	s.ends[last] = refs[len(refs)-1].off
	s.blocks[last] = refs[:len(refs)-1]
	s.curValid = false
}

// Match reports whether rec passes the filter, as Scan decides: for
// readers that hold records from elsewhere, such as a database the log
// was shipped to.
func (f *Filter) Match(rec *Record) bool { return f.match(rec) }

// ReadCheckpoints reads the signed checkpoints of checkpoints.log from
// byte offset off on, up to max of them, calling fn for each with the
// offset just past it. The checkpoints are parsed but their signatures
// are not checked (OpenCheckpoint does that). fn returns false to stop
// before the checkpoint it was given. A frame still being written ends
// the read. ReadCheckpoints returns the offset to continue from.
func ReadCheckpoints(dir string, off int64, max int, fn func(cp Checkpoint) bool) (int64, error) {
	file, err := os.Open(filepath.Join(dir, checkpointsLog))
	if errors.Is(err, os.ErrNotExist) {
		return off, nil
	}
	if err != nil {
		return off, fmt.Errorf("cannot open checkpoint log: %w", err)
	}
	defer file.Close()
	if _, err := file.Seek(off, io.SeekStart); err != nil {
		return off, fmt.Errorf("cannot read checkpoint log: %w", err)
	}
	br := bufio.NewReader(file)
	var hdr [cpFrameOverhead]byte
	for i := 0; i < max; i++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, nil // end, or a frame header still being written
		}
		n := int(uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16 | uint32(hdr[3])<<24)
		if n == 0 || n > maxCheckpoint {
			return off, fmt.Errorf("%w: frame at offset %d of %s", ErrBadCheckpoint, off, checkpointsLog)
		}
		frame := make([]byte, cpFrameOverhead+n)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(br, frame[cpFrameOverhead:]); err != nil {
			return off, nil
		}
		msgs, _, err := parseCheckpointFrames(frame)
		if err != nil {
			return off, nil // a frame torn by a concurrent write: the end, for now
		}
		cp, err := parseCheckpointUnverified(msgs[0])
		if err != nil {
			return off, fmt.Errorf("checkpoint at offset %d of %s: %w", off, checkpointsLog, err)
		}
		if !fn(cp) {
			return off, nil
		}
		off += int64(len(frame))
	}
	return off, nil
}
