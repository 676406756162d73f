package auditlog

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// FuzzDecodeEntry checks that the decoder never panics and that whatever it
// accepts is canonical: re-encoding gives the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	for i := 0; i < 10; i++ {
		var e Entry
		testEntry(&e, i)
		f.Add(appendLeaf(nil, &e, testCommitments(&e)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := DecodeEntry(b, &r); err != nil {
			return
		}
		if got := appendRecord(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("accepted a non-canonical record:\n in %x\nout %x", b, got)
		}
	})
}

// FuzzDecodeBlock checks the block header, CRC, decompression and record
// walk against arbitrary bytes: no panic, no allocation bomb.
func FuzzDecodeBlock(f *testing.F) {
	c, err := newBlockCodec()
	if err != nil {
		f.Fatal(err)
	}
	var raw []byte
	for i := 0; i < 5; i++ {
		var e Entry
		testEntry(&e, i)
		leaf := appendLeaf(nil, &e, testCommitments(&e))
		raw = appendUvarintBytes(raw, leaf)
		raw = appendUvarintBytes(raw, []byte{0, 0})
	}
	for _, comp := range []Compression{CompressionS2, CompressionZstd} {
		c.use(comp)
		f.Add(c.appendBlock(nil, raw, 0, 5, testStart, testStart+4e6))
		f.Add(c.appendBlock(nil, raw[:0], 256, 1, 0, 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseBlockHeader(b)
		if err != nil || int64(len(b)) < h.size() {
			return
		}
		// Fix the CRC up so the decompressors see arbitrary payloads too.
		b = bytes.Clone(b[:h.size()])
		h.crc = blockCRC(b)
		binary.LittleEndian.PutUint32(b[8:], h.crc)
		raw, err := c.decodeBlock(&h, b)
		if err != nil {
			return
		}
		if len(raw) > maxBlockRaw {
			t.Fatalf("raw %d bytes", len(raw))
		}
		_ = checkRaw(&h, raw)
	})
}

// FuzzOpenCheckpoint checks the checkpoint parser and signature check.
func FuzzOpenCheckpoint(f *testing.F) {
	skey, vkey := testKeys(f)
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	var root [32]byte
	msg, _ := signCheckpoint(s, s.Name(), 12, root)
	f.Add(msg)
	f.Add([]byte("audit.test/tollgate\n012\nAAAA\n\n— audit.test/tollgate AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := OpenCheckpoint(b, v)
		if err == nil && (cp.Origin != v.Name()) {
			t.Fatalf("accepted origin %q", cp.Origin)
		}
		_, _ = parseCheckpointUnverified(b)
		_, _, _ = parseCheckpointFrames(b)
	})
}
