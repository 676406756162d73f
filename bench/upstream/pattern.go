package upstream

import (
	"errors"
	"io"
)

// errShutdown aborts a download when the server shuts down.
var errShutdown = errors.New("upstream: shutting down")

// patternChunk is the most a download produces per Read.
const patternChunk = 64 << 10

// pattern holds patternChunk bytes starting at every phase of the alphabet,
// so any Read is one copy.
var pattern = func() []byte {
	b := make([]byte, patternChunk+26)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

// DownloadByte returns byte off of every download: 'a' + off%26.
func DownloadByte(off int64) byte { return 'a' + byte(off%26) }

// patternReader generates a download's body on the fly, never holding more
// than one chunk; the HTTP server reads it into its own buffer.
type patternReader struct {
	off, left int64
	done      <-chan struct{}
	end       func() // called once, by Close
	closed    bool
}

// Read fills p with the next bytes of the pattern.
func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	select {
	case <-r.done:
		return 0, errShutdown
	default:
	}
	n := min(int64(len(p)), r.left, patternChunk)
	start := r.off % 26
	copy(p, pattern[start:start+n])
	r.off += n
	r.left -= n
	return int(n), nil
}

// Close is called by the HTTP server when the body is done or abandoned.
func (r *patternReader) Close() error {
	if !r.closed {
		r.closed = true
		r.end()
	}
	return nil
}
