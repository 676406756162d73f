package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
)

// Reader reads a log directory without a running writer: sealed segments
// are mapped read-only, the active one is read with pread. A Reader sees
// the log as it was when it was opened. It is not safe for concurrent use.
type Reader struct {
	dir    string
	set    *segmentSet
	pruned prunedState
	salts  *saltStore
	sealer *sealer
	side   []byte
}

// OpenReader opens the log in dir for reading.
func OpenReader(dir string) (*Reader, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("cannot open audit log: %w", err)
	}
	segs, _, ps, err := retainedSegments(dir)
	if err != nil {
		return nil, err
	}
	set, err := newSegmentSet(dir, segs, true)
	if err != nil {
		return nil, err
	}
	set.liveTail = true
	return &Reader{dir: dir, set: set, pruned: ps, salts: newSaltStore(dir, int64(DefaultSaltPeriod), false), sealer: newSealer()}, nil
}

// Close releases the reader's mappings and files.
func (r *Reader) Close() error {
	r.set.close()
	return nil
}

// Size returns the number of records in the log, pruned ones included
// (the index the next record will get).
func (r *Reader) Size() (uint64, error) {
	if len(r.set.segs) == 0 {
		return r.pruned.first, nil
	}
	return r.set.count()
}

// First returns the index of the first retained record: retention deleted
// the records before it. Scan starts there.
func (r *Reader) First() uint64 { return r.pruned.first }

// Usage is what a log's retained records take on disk: the bytes of their
// blocks, headers included, in the sealed segments and in the active one
// (the last, which the writer appends to). A segment's own header and the
// preallocated tail of the active segment are not counted: they do not
// grow with the records. Sealed segments hold compacted blocks (zstd, up
// to 256 records each) once compaction has run; the active one holds the
// writer's blocks, cut at the end of every group, so its bytes per record
// say how large the groups were.
type Usage struct {
	Segments      int
	SealedBytes   int64
	SealedRecords uint64
	ActiveBytes   int64
	ActiveRecords uint64
}

// Bytes returns the bytes of records in all segments.
func (u Usage) Bytes() int64 { return u.SealedBytes + u.ActiveBytes }

// Records returns the records in all segments.
func (u Usage) Records() uint64 { return u.SealedRecords + u.ActiveRecords }

// Usage sums the block headers of every segment.
func (r *Reader) Usage() (Usage, error) {
	u := Usage{Segments: len(r.set.segs)}
	for si := range r.set.segs {
		refs, err := r.set.blocksOf(si)
		if err != nil {
			return u, err
		}
		bytes, records := &u.SealedBytes, &u.SealedRecords
		if si == len(r.set.segs)-1 {
			bytes, records = &u.ActiveBytes, &u.ActiveRecords
		}
		for _, ref := range refs {
			*bytes += ref.h.size()
			*records += uint64(ref.h.count)
		}
	}
	return u, nil
}

// ErrPruned reports a record that retention deleted.
var ErrPruned = errors.New("auditlog: record pruned by retention")

// Filter selects records. Zero fields match everything.
type Filter struct {
	// From is the first index to consider.
	From uint64
	// Since and Until bound the start time (Unix ns, inclusive); zero is unbounded.
	Since, Until int64
	// Principal matches the revealed principal exactly (records whose salt
	// was erased never match).
	Principal string
	Route     string
	Method    string
	Status    int
	// Decision matches by name ("denied"); empty matches all.
	Decision  string
	Reason    string
	RequestID string
	// PathPrefix matches records whose normalized path, or raw target (a
	// refused request's), starts with it.
	PathPrefix string
	// Limit stops after this many matches; zero is unlimited.
	Limit int
}

func (f *Filter) match(rec *Record) bool {
	switch {
	case f.Since != 0 && rec.Start < f.Since, f.Until != 0 && rec.Start > f.Until:
		return false
	case f.Route != "" && string(rec.Route) != f.Route,
		f.Method != "" && string(rec.Method) != f.Method,
		f.Status != 0 && int(rec.Status) != f.Status,
		f.Decision != "" && rec.Decision.String() != f.Decision,
		f.Reason != "" && string(rec.Reason) != f.Reason,
		f.RequestID != "" && string(rec.RequestID) != f.RequestID,
		f.PathPrefix != "" && !bytes.HasPrefix(rec.Path, []byte(f.PathPrefix)) && !bytes.HasPrefix(rec.RawTarget(), []byte(f.PathPrefix)):
		return false
	case f.Principal != "" && (!rec.Revealed || string(rec.Principal) != f.Principal):
		return false
	}
	return true
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// Scan calls fn for each record matching f, in index order, skipping
// blocks whose time bounds miss [Since, Until]. rec and its slices are
// valid only during the call. Personal values are revealed while their
// salt exists. fn may return an error to stop the scan; Scan returns it.
func (r *Reader) Scan(f *Filter, fn func(index uint64, rec *Record) error) error {
	var rec Record
	matched := 0
	for si := range r.set.segs {
		if si+1 < len(r.set.segs) && r.set.segs[si+1].first <= f.From {
			continue
		}
		refs, err := r.set.blocksOf(si)
		if err != nil {
			return err
		}
		for bi, ref := range refs {
			if ref.h.end() <= f.From ||
				f.Since != 0 && ref.h.maxTs < f.Since || f.Until != 0 && ref.h.minTs > f.Until {
				continue
			}
			if err := r.set.load(ref); err != nil {
				if si == len(r.set.segs)-1 && bi == len(refs)-1 {
					return nil // a block still being written: the end, for now
				}
				return err
			}
			for i, leaf := range r.set.curLeafs {
				idx := ref.h.first + uint64(i)
				if idx < f.From {
					continue
				}
				if err := r.decode(leaf, r.set.curSides[i], &rec); err != nil {
					return &OffsetError{File: r.set.segs[si].path, Offset: ref.off, Err: fmt.Errorf("record %d: %w", idx, err)}
				}
				if !f.match(&rec) {
					continue
				}
				if err := fn(idx, &rec); err != nil {
					if err == errStop {
						return nil
					}
					return err
				}
				matched++
				if f.Limit > 0 && matched >= f.Limit {
					return nil
				}
			}
		}
	}
	return nil
}

// decode decodes a leaf and reveals its personal values if the salt exists.
// A value that does not match its commitment is an error.
func (r *Reader) decode(leaf, side []byte, rec *Record) error {
	if err := DecodeEntry(leaf, rec); err != nil {
		return err
	}
	if !rec.HasPrincipal && !rec.HasClientIP {
		rec.Revealed = true
		return nil
	}
	k, err := r.salts.get(rec.SaltEpoch)
	if errors.Is(err, errNoSalt) {
		return nil
	}
	if err != nil {
		return err
	}
	r.side = append(r.side[:0], side...) // side aliases the block cache; decrypt a copy
	return r.sealer.reveal(rec, r.side, k)
}

// Record returns the canonical leaf bytes of index and its decoded form.
func (r *Reader) Record(index uint64) ([]byte, Record, error) {
	var rec Record
	if index < r.pruned.first {
		return nil, rec, fmt.Errorf("cannot read record %d: %w (the log keeps records from %d)", index, ErrPruned, r.pruned.first)
	}
	leaf, side, err := r.set.record(index)
	if err != nil {
		return nil, rec, err
	}
	leaf = bytes.Clone(leaf)
	if err := r.decode(leaf, side, &rec); err != nil {
		return nil, rec, err
	}
	rec.Principal = bytes.Clone(rec.Principal)
	return leaf, rec, nil
}

// FindRequestID returns the index of the first record with the request id.
func (r *Reader) FindRequestID(id string) (uint64, error) {
	found := uint64(0)
	ok := false
	err := r.Scan(&Filter{RequestID: id, Limit: 1}, func(idx uint64, _ *Record) error {
		found, ok = idx, true
		return nil
	})
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("cannot find request id %q", id)
	}
	return found, nil
}

// ClientIPString formats a revealed client address, or "" if none.
func (rec *Record) ClientIPString() string {
	if !rec.HasClientIP || !rec.Revealed {
		return ""
	}
	return netip.Addr.String(rec.ClientIP)
}
