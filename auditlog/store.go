package auditlog

import (
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// segmentSet gives indexed read access to the blocks of a log directory.
// Sealed segments may be mapped; the last one is read with pread. Not safe
// for concurrent use.
type segmentSet struct {
	dir    string
	segs   []segInfo
	srcs   []segSource
	blocks [][]blockRef // per segment, nil until scanned
	ends   []int64      // end of data per scanned segment
	codec  *blockCodec
	mmap   bool
	// liveTail makes a damaged tail of the last segment read as its end:
	// a reader may race the writer's pwrite. Verify and recovery leave it off.
	liveTail bool
	// limit, when set, caps the readable size of the last segment (the
	// writer's end of data).
	limit int64

	// cursor of the last decoded block
	curRef   blockRef
	curValid bool
	curRaw   []byte
	curLeafs [][]byte
	curSides [][]byte
}

func newSegmentSet(dir string, segs []segInfo, mmap bool) (*segmentSet, error) {
	c, err := newBlockCodec()
	if err != nil {
		return nil, err
	}
	return &segmentSet{
		dir: dir, segs: segs, srcs: make([]segSource, len(segs)),
		blocks: make([][]blockRef, len(segs)), ends: make([]int64, len(segs)),
		codec: c, mmap: mmap, limit: -1,
	}, nil
}

func (s *segmentSet) close() {
	for i, src := range s.srcs {
		if src != nil {
			src.Close()
			s.srcs[i] = nil
		}
	}
	s.codec.close()
}

func (s *segmentSet) source(i int) (segSource, error) {
	if s.srcs[i] != nil {
		return s.srcs[i], nil
	}
	var src segSource
	var err error
	if s.mmap && i < len(s.segs)-1 {
		src, err = openMmap(s.segs[i].path)
	} else {
		src, err = openFileSource(s.segs[i].path)
	}
	if err != nil {
		return nil, err
	}
	var hb [segHeaderSize]byte
	if _, err := src.ReadAt(hb[:], 0); err != nil {
		src.Close()
		return nil, &OffsetError{File: s.segs[i].path, Offset: 0, Err: fmt.Errorf("cannot read segment header: %w", err)}
	}
	h, err := parseSegHeader(hb[:])
	if err == nil && h.first != s.segs[i].first {
		err = fmt.Errorf("%w: header says first index %d", ErrBadSegment, h.first)
	}
	if err != nil {
		src.Close()
		return nil, &OffsetError{File: s.segs[i].path, Offset: 0, Err: err}
	}
	s.srcs[i] = src
	return src, nil
}

func (s *segmentSet) size(i int, src segSource) int64 {
	if i == len(s.segs)-1 && s.limit >= 0 {
		return s.limit
	}
	return src.Size()
}

// blocksOf returns the block index of segment i, scanning headers once.
func (s *segmentSet) blocksOf(i int) ([]blockRef, error) {
	if s.blocks[i] != nil {
		return s.blocks[i], nil
	}
	src, err := s.source(i)
	if err != nil {
		return nil, err
	}
	refs := []blockRef{}
	end, next, err := scanBlocks(src, s.size(i, src), i, s.segs[i].first, func(r blockRef) error {
		refs = append(refs, r)
		return nil
	})
	if err != nil && !(s.liveTail && i == len(s.segs)-1) {
		return nil, withFile(err, s.segs[i].path)
	}
	if i+1 < len(s.segs) && next != s.segs[i+1].first {
		return nil, &OffsetError{File: s.segs[i].path, Offset: end,
			Err: fmt.Errorf("%w: segment ends at index %d, next starts at %d", ErrBadBlock, next, s.segs[i+1].first)}
	}
	s.blocks[i] = refs
	s.ends[i] = end
	return refs, nil
}

func withFile(err error, file string) error {
	if oe, ok := err.(*OffsetError); ok && oe.File == "" {
		oe.File = file
	}
	return err
}

// count returns the number of records in the set, or rather the index
// after its last record (scanning the last segment); 0 for an empty set.
func (s *segmentSet) count() (uint64, error) {
	if len(s.segs) == 0 {
		return 0, nil
	}
	last := len(s.segs) - 1
	refs, err := s.blocksOf(last)
	if err != nil {
		return 0, err
	}
	if len(refs) == 0 {
		return s.segs[last].first, nil
	}
	return refs[len(refs)-1].h.end(), nil
}

// find returns the block holding index.
func (s *segmentSet) find(index uint64) (blockRef, error) {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > index }) - 1
	if i < 0 {
		return blockRef{}, fmt.Errorf("cannot find record %d: before the first segment", index)
	}
	refs, err := s.blocksOf(i)
	if err != nil {
		return blockRef{}, err
	}
	j := sort.Search(len(refs), func(j int) bool { return refs[j].h.end() > index })
	if j == len(refs) || refs[j].h.first > index {
		return blockRef{}, fmt.Errorf("cannot find record %d: past the end of the log", index)
	}
	return refs[j], nil
}

// load decodes a block into the cursor.
func (s *segmentSet) load(ref blockRef) error {
	if s.curValid && s.curRef.seg == ref.seg && s.curRef.off == ref.off {
		return nil
	}
	s.curValid = false
	src, err := s.source(ref.seg)
	if err != nil {
		return err
	}
	blk := make([]byte, ref.h.size())
	if _, err := src.ReadAt(blk, ref.off); err != nil {
		return &OffsetError{File: s.segs[ref.seg].path, Offset: ref.off, Err: fmt.Errorf("cannot read block: %w", err)}
	}
	raw, err := s.codec.decodeBlock(&ref.h, blk)
	if err == nil {
		err = checkRaw(&ref.h, raw)
	}
	if err != nil {
		return &OffsetError{File: s.segs[ref.seg].path, Offset: ref.off, Err: err}
	}
	s.curRaw = append(s.curRaw[:0], raw...)
	s.curLeafs, s.curSides = s.curLeafs[:0], s.curSides[:0]
	it := rawIter{b: s.curRaw}
	for it.next() {
		s.curLeafs = append(s.curLeafs, it.leaf)
		s.curSides = append(s.curSides, it.side)
	}
	s.curRef, s.curValid = ref, true
	return nil
}

// record returns the leaf and side bytes of index, valid until the cursor
// moves to another block.
func (s *segmentSet) record(index uint64) (leaf, side []byte, err error) {
	if !s.curValid || index < s.curRef.h.first || index >= s.curRef.h.end() {
		ref, err := s.find(index)
		if err != nil {
			return nil, nil, err
		}
		if err := s.load(ref); err != nil {
			return nil, nil, err
		}
	}
	i := index - s.curRef.h.first
	return s.curLeafs[i], s.curSides[i], nil
}

// leafHashes appends the RFC 6962 leaf hashes of [from, to) to dst.
func (s *segmentSet) leafHashes(from, to uint64, dst []byte) ([]byte, error) {
	for i := from; i < to; i++ {
		leaf, _, err := s.record(i)
		if err != nil {
			return nil, err
		}
		h := tlog.RecordHash(leaf)
		dst = append(dst, h[:]...)
	}
	return dst, nil
}
