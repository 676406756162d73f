package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Block framing (little-endian), one pwrite per block:
//
//	0  magic u32 "TGB1"
//	4  payload_len u32
//	8  crc32c u32 over bytes [4, 8) and [12, 48+payload_len)
//	12 codec u8 (0 none, 1 zstd, 2 s2)
//	13 flags u8 (0)
//	14 reserved u16 (0)
//	16 raw_len u32
//	20 count u32
//	24 first_index u64
//	32 min_start i64
//	40 max_start i64
//	48 payload = codec(concat(uvarint(len) ‖ leaf ‖ uvarint(len) ‖ side))
//
// A zero magic means end of data (the preallocated tail of a segment).
const (
	blockHeaderSize = 48
	blockMagic      = 0x31424754 // "TGB1"
	// maxBlockRecords is the tile width: blocks never straddle a multiple
	// of it, so a level-0 tile is the union of whole blocks.
	maxBlockRecords = 256
	// targetBlockRaw is the raw size at which a block is cut.
	targetBlockRaw = 64 << 10
	// maxBlockRaw bounds raw_len; a reader refuses larger before allocating.
	maxBlockRaw = 1 << 20
	// maxBlockPayload bounds payload_len.
	maxBlockPayload = maxBlockRaw + 4096
	codecNone       = 0
	codecZstd       = 1
	codecS2         = 2
)

// Compression selects the codec of the blocks a Log writes. Readers accept
// every codec, so it can change from one block to the next.
type Compression uint8

const (
	// CompressionS2 (the default) compresses each block with S2, an LZ77
	// without entropy coding: about a quarter of zstd's CPU per record and
	// a flat cost on small blocks, for about 25% more bytes. See doc.go.
	CompressionS2 Compression = iota
	// CompressionZstd compresses each block with zstd (fastest level):
	// the smallest files, at several microseconds per block.
	CompressionZstd
)

// String returns the codec's configuration name.
func (c Compression) String() string {
	switch c {
	case CompressionS2:
		return "s2"
	case CompressionZstd:
		return "zstd"
	}
	return "compression(" + strconv.Itoa(int(c)) + ")"
}

// ParseCompression parses "s2" or "zstd".
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "", "s2":
		return CompressionS2, nil
	case "zstd":
		return CompressionZstd, nil
	}
	return 0, fmt.Errorf("cannot parse compression %q: want s2 or zstd", s)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadBlock reports a block whose frame, checksum or content is invalid.
var ErrBadBlock = errors.New("auditlog: malformed block")

// errEndOfData reports a zero magic: the end of the written data.
var errEndOfData = errors.New("auditlog: end of data")

type blockHeader struct {
	payloadLen uint32
	crc        uint32
	codec      uint8
	rawLen     uint32
	count      uint32
	first      uint64
	minTs      int64
	maxTs      int64
}

func (h *blockHeader) end() uint64 { return h.first + uint64(h.count) }

func (h *blockHeader) size() int64 { return blockHeaderSize + int64(h.payloadLen) }

// parseBlockHeader checks every header field except the CRC.
func parseBlockHeader(b []byte) (blockHeader, error) {
	var h blockHeader
	if len(b) < blockHeaderSize {
		return h, fmt.Errorf("%w: short header", ErrBadBlock)
	}
	magic := binary.LittleEndian.Uint32(b[0:])
	if magic == 0 {
		return h, errEndOfData
	}
	if magic != blockMagic {
		return h, fmt.Errorf("%w: bad magic %#x", ErrBadBlock, magic)
	}
	h.payloadLen = binary.LittleEndian.Uint32(b[4:])
	h.crc = binary.LittleEndian.Uint32(b[8:])
	h.codec = b[12]
	flags, rsv := b[13], binary.LittleEndian.Uint16(b[14:])
	h.rawLen = binary.LittleEndian.Uint32(b[16:])
	h.count = binary.LittleEndian.Uint32(b[20:])
	h.first = binary.LittleEndian.Uint64(b[24:])
	h.minTs = int64(binary.LittleEndian.Uint64(b[32:]))
	h.maxTs = int64(binary.LittleEndian.Uint64(b[40:]))
	switch {
	case h.payloadLen > maxBlockPayload:
		return h, fmt.Errorf("%w: payload length %d", ErrBadBlock, h.payloadLen)
	case h.rawLen > maxBlockRaw:
		return h, fmt.Errorf("%w: raw length %d", ErrBadBlock, h.rawLen)
	case h.codec != codecNone && h.codec != codecZstd && h.codec != codecS2:
		return h, fmt.Errorf("%w: unknown codec %d", ErrBadBlock, h.codec)
	case flags != 0 || rsv != 0:
		return h, fmt.Errorf("%w: reserved bits set", ErrBadBlock)
	case h.count == 0 || h.count > maxBlockRecords:
		return h, fmt.Errorf("%w: record count %d", ErrBadBlock, h.count)
	case h.first/maxBlockRecords != (h.end()-1)/maxBlockRecords || h.end() < h.first:
		return h, fmt.Errorf("%w: index range crosses a tile boundary", ErrBadBlock)
	case h.minTs > h.maxTs:
		return h, fmt.Errorf("%w: time bounds reversed", ErrBadBlock)
	case h.codec == codecNone && h.rawLen != h.payloadLen:
		return h, fmt.Errorf("%w: raw length mismatch", ErrBadBlock)
	}
	return h, nil
}

// checkBlockCRC verifies the CRC of a whole block (header and payload).
func checkBlockCRC(h *blockHeader, blk []byte) error {
	if blockCRC(blk[:blockHeaderSize+int(h.payloadLen)]) != h.crc {
		return fmt.Errorf("%w: checksum mismatch", ErrBadBlock)
	}
	return nil
}

// blockCRC is the CRC32C of a framed block over payload_len and every byte
// after the CRC field, so a damaged length is caught at its own block.
func blockCRC(blk []byte) uint32 {
	return crc32.Update(crc32.Checksum(blk[4:8], castagnoli), castagnoli, blk[12:])
}

// blockCodec compresses and decompresses blocks into reused buffers. It is
// not safe for concurrent use.
type blockCodec struct {
	codec uint8 // what appendBlock writes
	enc   *zstd.Encoder
	dec   *zstd.Decoder
	raw   []byte
}

// newBlockCodec returns a codec that writes S2 blocks and reads all codecs.
func newBlockCodec() (*blockCodec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), // the frame has its own CRC32C
		zstd.WithWindowSize(1<<17),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("cannot create block encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(maxBlockRaw),
		zstd.IgnoreChecksum(true))
	if err != nil {
		return nil, fmt.Errorf("cannot create block decoder: %w", err)
	}
	return &blockCodec{codec: codecS2, enc: enc, dec: dec, raw: make([]byte, 0, targetBlockRaw+MaxRecordSize)}, nil
}

// use selects the codec appendBlock writes.
func (c *blockCodec) use(comp Compression) {
	c.codec = codecS2
	if comp == CompressionZstd {
		c.codec = codecZstd
	}
}

func (c *blockCodec) close() {
	c.enc.Close()
	c.dec.Close()
}

// appendBlock appends a framed block of the raw records to dst.
func (c *blockCodec) appendBlock(dst []byte, raw []byte, first uint64, count int, minTs, maxTs int64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, blockHeaderSize)...)
	if c.codec == codecZstd {
		dst = c.enc.EncodeAll(raw, dst)
	} else {
		dst = slices.Grow(dst, s2.MaxEncodedLen(len(raw)))
		n := len(s2.Encode(dst[len(dst):cap(dst)], raw))
		dst = dst[:len(dst)+n]
	}
	h := dst[start:]
	binary.LittleEndian.PutUint32(h[0:], blockMagic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(h)-blockHeaderSize))
	h[12] = c.codec
	binary.LittleEndian.PutUint32(h[16:], uint32(len(raw)))
	binary.LittleEndian.PutUint32(h[20:], uint32(count))
	binary.LittleEndian.PutUint64(h[24:], first)
	binary.LittleEndian.PutUint64(h[32:], uint64(minTs))
	binary.LittleEndian.PutUint64(h[40:], uint64(maxTs))
	binary.LittleEndian.PutUint32(h[8:], blockCRC(h))
	return dst
}

// decodeBlock checks the CRC and returns the raw record bytes, valid until
// the next call.
func (c *blockCodec) decodeBlock(h *blockHeader, blk []byte) ([]byte, error) {
	if err := checkBlockCRC(h, blk); err != nil {
		return nil, err
	}
	payload := blk[blockHeaderSize : blockHeaderSize+int(h.payloadLen)]
	var raw []byte
	var err error
	switch h.codec {
	case codecNone:
		return payload, nil
	case codecS2:
		raw, err = c.decodeS2(h, payload)
	default:
		raw, err = c.dec.DecodeAll(payload, c.raw[:0])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decompress: %v", ErrBadBlock, err)
	}
	if cap(raw) > cap(c.raw) && cap(raw) <= maxBlockRaw+MaxRecordSize {
		c.raw = raw[:0]
	}
	if len(raw) != int(h.rawLen) {
		return nil, fmt.Errorf("%w: raw length %d, header says %d", ErrBadBlock, len(raw), h.rawLen)
	}
	return raw, nil
}

// decodeS2 decompresses an S2 block payload into c.raw after checking its
// stated size against the header, so a forged length allocates nothing.
func (c *blockCodec) decodeS2(h *blockHeader, payload []byte) ([]byte, error) {
	n, err := s2.DecodedLen(payload)
	if err != nil {
		return nil, err
	}
	if n != int(h.rawLen) {
		return nil, fmt.Errorf("decoded length %d, header says %d", n, h.rawLen)
	}
	return s2.Decode(slices.Grow(c.raw[:0], n)[:n], payload)
}

// rawIter walks the records of a raw block payload.
type rawIter struct {
	b    []byte
	err  error
	leaf []byte
	side []byte
}

func (it *rawIter) next() bool {
	if len(it.b) == 0 || it.err != nil {
		return false
	}
	d := decoder{b: it.b}
	it.leaf = d.bytes("leaf", MaxRecordSize)
	it.side = d.bytes("side", MaxPrincipal+32)
	if d.err != nil {
		it.err = fmt.Errorf("%w: %v", ErrBadBlock, d.err)
		return false
	}
	it.b = d.b
	return true
}

// checkRaw verifies that raw holds exactly count records whose start times
// lie within the header's bounds.
func checkRaw(h *blockHeader, raw []byte) error {
	it := rawIter{b: raw}
	n := uint32(0)
	var r Record
	for it.next() {
		n++
		if err := DecodeEntry(it.leaf, &r); err != nil {
			return fmt.Errorf("record %d: %w", h.first+uint64(n-1), err)
		}
		if r.Start < h.minTs || r.Start > h.maxTs {
			return fmt.Errorf("%w: record %d outside the block's time bounds", ErrBadBlock, h.first+uint64(n-1))
		}
	}
	if it.err != nil {
		return it.err
	}
	if n != h.count {
		return fmt.Errorf("%w: %d records, header says %d", ErrBadBlock, n, h.count)
	}
	return nil
}
