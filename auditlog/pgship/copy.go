package pgship

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// A batch's rows are written straight into one buffer in PostgreSQL's
// binary COPY format and sent with the connection's COPY FROM STDIN.
// pgx's CopyFrom takes every value as an interface (an allocation per
// boxed string, integer, time and address) and looks up an encode plan
// per value: most of the shipper's CPU per record. The eighteen columns
// use seven fixed binary formats (text, bytea, int8, int4, bool,
// timestamptz, inet), encoded here exactly as pgx encodes them, into a
// buffer reused from batch to batch; Verify checks every stored column
// against its leaf, so an encoding that drifted would be reported.

// copyHeader starts a binary COPY stream: the signature, no flags, no
// header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copySQL copies a batch into the staging table.
var copySQL = `COPY ` + stageTable + ` (` + strings.Join(columns, ", ") + `) FROM STDIN (FORMAT binary)`

// microsecFromUnixEpochToY2K is where PostgreSQL's timestamps count from.
const microsecFromUnixEpochToY2K = 946_684_800 * 1_000_000

// copyBatch is a batch of record rows in binary COPY format. The shipper
// holds one and reuses its buffer, so its memory is bounded by the
// largest batch.
type copyBatch struct {
	buf  []byte
	rows int
}

// reset empties the batch.
func (c *copyBatch) reset() {
	c.buf = append(c.buf[:0], copyHeader...)
	c.rows = 0
}

// data returns the COPY stream: the rows and the trailer.
func (c *copyBatch) data() []byte {
	return binary.BigEndian.AppendUint16(c.buf, 0xffff)
}

// add appends the row of one record, in the order of columns.
func (c *copyBatch) add(origin string, idx uint64, leaf []byte, rec *auditlog.Record) {
	b := binary.BigEndian.AppendUint16(c.buf, uint16(len(columns)))
	b = appendField(b, origin)
	b = appendInt8(b, int64(idx))
	b = appendField(b, leaf)
	b = appendField(b, rec.Kind.String())
	b = appendInt8(b, rec.Start)
	b = appendInt8(b, startMicros(rec.Start)-microsecFromUnixEpochToY2K)
	b = appendInt8(b, rec.Duration)
	b = appendText(b, rec.RequestID)
	b = binary.BigEndian.AppendUint32(b, 1)
	if rec.Revealed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if rec.Revealed && rec.HasPrincipal {
		b = appendText(b, rec.Principal)
	} else {
		b = appendNull(b)
	}
	if rec.Revealed && rec.HasClientIP && rec.ClientIP.IsValid() {
		b = appendInet(b, rec.ClientIP)
	} else {
		b = appendNull(b)
	}
	b = appendText(b, rec.AuthMethod)
	b = appendText(b, rec.Method)
	b = appendText(b, rec.Route)
	b = appendText(b, rec.Path)
	b = binary.BigEndian.AppendUint32(b, 4)
	b = binary.BigEndian.AppendUint32(b, uint32(int32(rec.Status)))
	b = appendField(b, rec.Decision.String())
	b = appendText(b, rec.Reason)
	c.buf = b
	c.rows++
}

// startMicros is the record's start in microseconds since the Unix
// epoch, rounded down as pgx rounds a time.Time.
func startMicros(ns int64) int64 {
	us := ns / 1000
	if ns%1000 < 0 {
		us--
	}
	return us
}

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) }

func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

// appendField appends a length-prefixed value as it is.
func appendField[T string | []byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// appendText appends v as text() stores it: as it is when it is valid
// UTF-8 without NUL, as nearly always.
func appendText(b, v []byte) []byte {
	if utf8.Valid(v) && bytes.IndexByte(v, 0) < 0 {
		return appendField(b, v)
	}
	return appendField(b, text(v))
}

// appendInet appends an address as an inet of one host.
func appendInet(b []byte, ip netip.Addr) []byte {
	if ip.Is4() {
		a := ip.As4()
		b = binary.BigEndian.AppendUint32(b, 8)
		b = append(b, 2, 32, 0, 4) // PGSQL_AF_INET, bits, is_cidr, length
		return append(b, a[:]...)
	}
	a := ip.As16()
	b = binary.BigEndian.AppendUint32(b, 20)
	b = append(b, 3, 128, 0, 16) // PGSQL_AF_INET6
	return append(b, a[:]...)
}
