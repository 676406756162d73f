package pipeline

import (
	"errors"

	"github.com/tollgate-proxy/tollgate/filters"
)

// ErrBadChunk is returned for chunked framing that does not follow
// RFC 9112 §7.1 exactly (bare LF, bad size, missing CRLF after data).
var ErrBadChunk = errors.New("malformed chunked encoding")

// maxChunkLine bounds a chunk-size line with its extensions and each
// trailer line, so a peer cannot make the scanner hold a line open for
// ever.
const maxChunkLine = 4096

// Chunk scanner states.
const (
	csSize        = iota // reading hex digits
	csExt                // inside chunk extensions, until CR
	csSizeLF             // CR seen after the size line
	csData               // inside chunk data
	csDataCR             // expecting CR after data
	csDataLF             // expecting LF after data
	csTrailer            // at the start of a trailer line (or the final CRLF)
	csTrailerLine        // inside a trailer line
	csTrailerLF          // CR seen after a trailer line
	csFinalLF            // CR seen on the empty line that ends the body
	csDone
)

// ChunkScanner follows a chunked body (RFC 9112 §7.1) incrementally, one
// buffer at a time, so an engine can pass bytes on as they arrive and know
// exactly where the message ends. It holds no buffers of its own. Every
// engine follows chunked framing with it: one reading of where a chunked
// message ends.
type ChunkScanner struct {
	state  uint8
	digits int   // hex digits in the current size
	line   int   // bytes in the current size or trailer line
	size   int64 // remaining bytes of the current chunk
	total  int64 // data bytes seen so far
}

// Total returns the chunk data bytes (without framing) seen so far.
func (s *ChunkScanner) Total() int64 { return s.total }

// Reset readies s for the next message.
func (s *ChunkScanner) Reset() { *s = ChunkScanner{} }

// Done reports whether the terminating chunk and trailer were seen.
func (s *ChunkScanner) Done() bool { return s.state == csDone }

// Scan consumes framing and data from b up to the end of the message. It
// returns how many bytes of b belong to the body; when dst is not nil the
// chunk data (without framing) is appended to it. Bytes after the end of
// the message are left unconsumed.
func (s *ChunkScanner) Scan(b []byte, dst *[]byte) (int, error) {
	i := 0
	for i < len(b) && s.state != csDone {
		c := b[i]
		switch s.state {
		case csSize:
			v := filters.HexDigit(c)
			switch {
			case v >= 0:
				if s.digits == 15 {
					return i, ErrBadChunk
				}
				s.size = s.size<<4 | int64(v)
				s.digits++
			case s.digits == 0:
				return i, ErrBadChunk
			case c == '\r':
				s.state = csSizeLF
			case c == ';' || c == ' ' || c == '\t':
				s.state = csExt
			default:
				return i, ErrBadChunk
			}
			i++
			s.line++
		case csExt:
			switch {
			case c == '\r':
				s.state = csSizeLF
			case c == '\n' || (c < ' ' && c != '\t') || c == 0x7f:
				return i, ErrBadChunk
			}
			i++
			s.line++
		case csSizeLF:
			if c != '\n' {
				return i, ErrBadChunk
			}
			i++
			s.line, s.digits = 0, 0
			if s.size == 0 {
				s.state = csTrailer
			} else {
				s.state = csData
			}
		case csData:
			n := int64(len(b) - i)
			if n > s.size {
				n = s.size
			}
			if dst != nil {
				*dst = append(*dst, b[i:i+int(n)]...)
			}
			i += int(n)
			s.size -= n
			s.total += n
			if s.size == 0 {
				s.state = csDataCR
			}
		case csDataCR:
			if c != '\r' {
				return i, ErrBadChunk
			}
			i++
			s.state = csDataLF
		case csDataLF:
			if c != '\n' {
				return i, ErrBadChunk
			}
			i++
			s.state = csSize
		case csTrailer:
			i++
			switch {
			case c == '\r':
				s.state = csFinalLF
			case c == '\n' || c < ' ' || c == 0x7f || c == ' ' || c == '\t':
				// A bare LF, a control byte or obs-fold in the trailer.
				return i - 1, ErrBadChunk
			default:
				s.state = csTrailerLine
				s.line = 1
			}
		case csTrailerLine:
			switch {
			case c == '\r':
				s.state = csTrailerLF
			case c == '\n' || (c < ' ' && c != '\t') || c == 0x7f:
				return i, ErrBadChunk
			}
			i++
			s.line++
		case csTrailerLF:
			if c != '\n' {
				return i, ErrBadChunk
			}
			i++
			s.line = 0
			s.state = csTrailer
		case csFinalLF:
			if c != '\n' {
				return i, ErrBadChunk
			}
			i++
			s.state = csDone
		}
		if s.line > maxChunkLine {
			return i, ErrBadChunk
		}
	}
	return i, nil
}
