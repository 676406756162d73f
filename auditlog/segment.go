package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Segment header (64 bytes, little-endian):
//
//	0  magic u32 "TGS1"
//	4  version u16 (1)
//	6  reserved u16
//	8  first_index u64
//	16 created_ns i64
//	24 origin_hash [16] (SHA-256 of the log origin, truncated)
//	40 reserved [20]
//	60 crc32c u32 over bytes [0, 60)
const (
	segHeaderSize = 64
	segMagic      = 0x31534754 // "TGS1"
	segVersion    = 1
	segPrefix     = "seg-"
	segSuffix     = ".alog"
)

// ErrBadSegment reports a segment whose header is invalid.
var ErrBadSegment = errors.New("auditlog: malformed segment")

type segHeader struct {
	first   uint64
	created int64
	origin  [16]byte
}

func originHash(origin string) (h [16]byte) {
	s := sha256.Sum256([]byte(origin))
	copy(h[:], s[:])
	return h
}

func (h *segHeader) marshal() []byte {
	b := make([]byte, segHeaderSize)
	binary.LittleEndian.PutUint32(b[0:], segMagic)
	binary.LittleEndian.PutUint16(b[4:], segVersion)
	binary.LittleEndian.PutUint64(b[8:], h.first)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.created))
	copy(b[24:40], h.origin[:])
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

func parseSegHeader(b []byte) (segHeader, error) {
	var h segHeader
	if len(b) < segHeaderSize {
		return h, fmt.Errorf("%w: short header", ErrBadSegment)
	}
	if binary.LittleEndian.Uint32(b[0:]) != segMagic || binary.LittleEndian.Uint16(b[4:]) != segVersion {
		return h, fmt.Errorf("%w: bad magic or version", ErrBadSegment)
	}
	if crc32.Checksum(b[:60], castagnoli) != binary.LittleEndian.Uint32(b[60:]) {
		return h, fmt.Errorf("%w: header checksum mismatch", ErrBadSegment)
	}
	h.first = binary.LittleEndian.Uint64(b[8:])
	h.created = int64(binary.LittleEndian.Uint64(b[16:]))
	copy(h.origin[:], b[24:40])
	return h, nil
}

func segName(first uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, first, segSuffix) }

// listSegments returns the segments of dir ordered by first index.
func listSegments(dir string) ([]segInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list segments: %w", err)
	}
	var segs []segInfo
	for _, de := range ents {
		n := de.Name()
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, segInfo{path: filepath.Join(dir, n), first: first})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

type segInfo struct {
	path    string
	first   uint64
	created int64 // header creation time (Unix ns), 0 until read
}

// segSource is read access to one segment file.
type segSource interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// mmapSource maps a sealed segment read-only. Reads copy out of the
// mapping with SetPanicOnFault on, so a fault (the file truncated under
// us, an I/O error on a page) becomes an error instead of a crash.
type mmapSource struct {
	data []byte
	name string
}

func openMmap(path string) (*mmapSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot open segment: %w", err)
	}
	if st.Size() == 0 {
		return &mmapSource{name: path}, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("cannot map segment %q: %w", path, err)
	}
	return &mmapSource{data: data, name: path}, nil
}

// ErrFault reports a memory fault while reading a mapped segment.
var ErrFault = errors.New("auditlog: fault reading mapped segment")

func (m *mmapSource) ReadAt(p []byte, off int64) (n int, err error) {
	if off < 0 || off > int64(len(m.data)) {
		return 0, io.EOF
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%w: %s at offset %d: %v", ErrFault, m.name, off, r)
		}
	}()
	n = copy(p, m.data[off:])
	if n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (m *mmapSource) Size() int64 { return int64(len(m.data)) }

func (m *mmapSource) Close() error {
	if m.data == nil {
		return nil
	}
	d := m.data
	m.data = nil
	return syscall.Munmap(d)
}

// fileSource reads the active segment with pread: it is not mapped because
// the writer may still truncate it.
type fileSource struct {
	f    *os.File
	size int64
}

func openFileSource(path string) (*fileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot open segment: %w", err)
	}
	return &fileSource{f: f, size: st.Size()}, nil
}

func (s *fileSource) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }
func (s *fileSource) Size() int64                             { return s.size }
func (s *fileSource) Close() error                            { return s.f.Close() }

// blockRef locates one block.
type blockRef struct {
	seg int   // index into the segment list
	off int64 // offset of the header in the segment
	h   blockHeader
}

// scanBlocks reads the block headers of a segment from offset
// segHeaderSize on, stopping at the end of data. It checks header fields
// and index continuity (starting at first) but not CRCs. It returns the
// blocks, the end offset of the last good block, and the first error
// (nil at a clean end of data).
func scanBlocks(src io.ReaderAt, size int64, seg int, first uint64, fn func(ref blockRef) error) (end int64, next uint64, err error) {
	var hb [blockHeaderSize]byte
	off := int64(segHeaderSize)
	next = first
	for off+blockHeaderSize <= size {
		if _, err := src.ReadAt(hb[:], off); err != nil {
			return off, next, fmt.Errorf("cannot read block header at offset %d: %w", off, err)
		}
		h, err := parseBlockHeader(hb[:])
		if err == errEndOfData {
			return off, next, nil
		}
		if err != nil {
			return off, next, &OffsetError{Offset: off, Err: err}
		}
		if h.first != next {
			return off, next, &OffsetError{Offset: off, Err: fmt.Errorf("%w: first index %d, want %d", ErrBadBlock, h.first, next)}
		}
		if off+h.size() > size {
			return off, next, &OffsetError{Offset: off, Err: fmt.Errorf("%w: block runs past the end of the file", ErrBadBlock)}
		}
		if fn != nil {
			if err := fn(blockRef{seg: seg, off: off, h: h}); err != nil {
				return off, next, err
			}
		}
		off += h.size()
		next = h.end()
	}
	return off, next, nil
}

// OffsetError locates a problem in a file.
type OffsetError struct {
	File   string
	Offset int64
	Err    error
}

func (e *OffsetError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *OffsetError) Unwrap() error { return e.Err }
