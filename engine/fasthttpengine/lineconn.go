package fasthttpengine

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
)

// Why a connection wrapper: fasthttp parses the request head from its own
// bufio.Reader and, when it refuses one (431, a framing it cannot read, a
// read timeout), hands the error handler a reset header: no method, no
// target, not even a view of the bytes. The event loop parses from bytes
// it holds and records what was attempted. To record the same thing, each
// connection keeps the first bytes of every request it reads, at most
// lineCapacity of them, in a fixed buffer of its own. When a request is
// served whose head and body the copy holds whole, what follows is the
// start of the next (pipelined) request; otherwise the copy starts again
// only with a read into fasthttp's empty reader, never in the middle of a
// request, so a line is recorded rightly or not at all.
//
// It also lets the request line be checked as soon as it is in, as the
// event loop does: fasthttp reads a head of bare-LF lines as unfinished
// and would wait for header_timeout (408) where the event loop answers 400
// at once. A line that fails the check makes the read fail with
// errBadRequestLine, so fasthttp stops waiting and the error handler
// refuses it.

// lineCapacity bounds the bytes kept per connection: a request line with
// a target of 2 KiB (what the audit record keeps, auditlog.MaxRawTarget)
// and then some, and the whole of most heads, so that a request pipelined
// behind a short one is found where it starts. A longer line is not kept,
// so its refusal is recorded without it.
const lineCapacity = 4096

// errBadRequestLine fails the read of a request whose line is not
// "method SP target SP HTTP/d.d CRLF" (RFC 9112 §3).
var errBadRequestLine = errors.New("fasthttpengine: malformed request line")

// Capture states of a lineConn.
const (
	// lineAwait: a request was served (or the connection is new); the next
	// read decides whether the capture starts at the next request's first
	// byte.
	lineAwait = iota
	// lineCapturing: bytes read so far are the start of the request being
	// read, and its line is not complete yet.
	lineCapturing
	// lineDone: the request line is in and was checked (lineOK says how).
	lineDone
	// lineUnknown: the capture cannot be trusted to start at the request's
	// first byte (the client pipelined it behind the previous one, so
	// fasthttp's reader held its start), or the line was too long to keep.
	lineUnknown
)

// lineConn is a net.Conn that keeps the start of the request being read.
// Its methods are called by the one goroutine serving the connection.
type lineConn struct {
	net.Conn
	// readerSize is fasthttp's read buffer size: a read of exactly that
	// many bytes is the read of a reader holding nothing, so what it
	// returns starts a request.
	readerSize int
	state      uint8
	lineOK     bool
	frozen     bool // bytes were read past the copy's end: it takes no more
	n          int
	buf        [lineCapacity]byte

	// The socket, to ask whether the client has gone (peerClosed); nil
	// for a connection that is not a socket. peek is the bound method
	// handed to it, made once so asking allocates nothing.
	raw     syscall.RawConn
	peek    func(fd uintptr)
	peekRet uintptr
	peekErr unix.Errno
	peekBuf [1]byte
}

// peerClosed reports whether the client has closed the connection (or
// reset it): fasthttp writes a response after the handler returns, so a
// client that went away while its request was served is found here, for
// the record to say 499 client.aborted as on the event loop, instead of
// the status of an answer nobody read. It peeks (MSG_PEEK, non-blocking),
// so it consumes nothing. A client that only shut down its sending side
// counts as gone, as on the event loop, which closes on end of input.
func (c *lineConn) peerClosed() bool {
	if c.raw == nil {
		return false
	}
	// Control, not Read: Read first checks the read deadline, which
	// fasthttp set for the body and may have passed while the upstream
	// answered; the peek itself never blocks.
	if err := c.raw.Control(c.peek); err != nil {
		return false // closed by the server: nothing to say about the client
	}
	switch c.peekErr {
	case 0:
		return c.peekRet == 0 // end of input
	case unix.EAGAIN, unix.EINTR:
		return false // nothing to read: still there
	default:
		return true // reset
	}
}

// peekOnce is recv(2) with MSG_PEEK|MSG_DONTWAIT into one byte, called
// directly: unix.Recvfrom builds a source address for every call.
func (c *lineConn) peekOnce(fd uintptr) {
	c.peekRet, _, c.peekErr = unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
}

// tlsLineConn is a lineConn over a TLS connection: fasthttp learns the
// connection is TLS, and the handler reads its peer certificate, through
// these methods.
type tlsLineConn struct{ lineConn }

func (c *tlsLineConn) Handshake() error { return c.Conn.(*tls.Conn).Handshake() }

func (c *tlsLineConn) ConnectionState() tls.ConnectionState {
	return c.Conn.(*tls.Conn).ConnectionState()
}

// Read reads from the connection and keeps what starts a request.
func (c *lineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n <= 0 {
		return n, err
	}
	switch c.state {
	case lineAwait:
		if len(p) != c.readerSize {
			// fasthttp's reader still held bytes of the next request.
			c.state = lineUnknown
			return n, err
		}
		c.state, c.n, c.frozen = lineCapturing, 0, false
	case lineUnknown:
		return n, err
	}
	if !c.frozen {
		k := copy(c.buf[c.n:], p[:n])
		c.n += k
		c.frozen = k < n // what follows is not kept: the copy ends here
	}
	c.check()
	if c.state == lineDone && !c.lineOK && err == nil {
		err = errBadRequestLine
	}
	return n, err
}

// check checks the request line once it is in.
func (c *lineConn) check() {
	if c.state != lineCapturing {
		return
	}
	switch ok, done := checkLine(c.buf[:c.n]); {
	case done:
		c.state, c.lineOK = lineDone, ok
	case c.frozen:
		c.state = lineUnknown // a line longer than the copy
	}
}

// served marks the end of a request whose body, bodyLen bytes (-1: not
// known, as for a chunked body), was read to its end. When the copy holds
// the whole request, what follows it is the start of the next one (a
// client that pipelines sends it with the first), so the copy moves on to
// it; otherwise the next read that finds fasthttp's reader empty starts
// the next copy.
func (c *lineConn) served(bodyLen int64) {
	if c.state == lineDone && c.lineOK && bodyLen >= 0 {
		head := skipEmptyLines(c.buf[:c.n])
		// The pipeline let this head through, so its fields end with CRLF
		// lines and the head with the first empty one.
		if i := bytes.Index(head, strCRLFCRLF); i >= 0 {
			if end := int64(c.n-len(head)) + int64(i) + 4 + bodyLen; end <= int64(c.n) {
				c.n = copy(c.buf[:], c.buf[end:c.n])
				c.state, c.lineOK = lineCapturing, false
				if c.n == 0 && !c.frozen {
					c.state = lineAwait // nothing read ahead
					return
				}
				c.check()
				if c.n == 0 {
					c.state = lineUnknown // read ahead, but not kept
				}
				return
			}
		}
	}
	c.state, c.n, c.lineOK, c.frozen = lineAwait, 0, false, false
}

// head returns the head of the request being read (request line to the
// empty line), if the copy holds it whole and its line is well-formed;
// nil otherwise. Valid until the next read. Safe on a nil lineConn.
func (c *lineConn) head() []byte {
	if c == nil || c.state != lineDone || !c.lineOK {
		return nil
	}
	h := skipEmptyLines(c.buf[:c.n])
	if i := bytes.Index(h, strCRLFCRLF); i >= 0 {
		return h[:i+4]
	}
	return nil
}

// badLine reports whether the request being read has a request line that
// failed the check.
func (c *lineConn) badLine() bool { return c.state == lineDone && !c.lineOK }

// attempted returns the method and target of the request being read, if
// its line is in and well-formed; nil otherwise. Valid until the next read.
func (c *lineConn) attempted() (method, target []byte) {
	if c.state != lineDone || !c.lineOK {
		return nil, nil
	}
	return pipeline.SplitRequestLine(skipEmptyLines(c.buf[:c.n]))
}

// checkLine checks the request line at the start of head, after the empty
// lines RFC 9112 §2.2 lets a server ignore: done reports that the line is
// complete (or can no longer be), ok that it is well-formed.
func checkLine(head []byte) (ok, done bool) {
	head = skipEmptyLines(head)
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		return false, false
	}
	return nl >= 1 && head[nl-1] == '\r' && pipeline.CheckRequestLine(head[:nl-1]), true
}

// skipEmptyLines drops the CRLF pairs before a request line, as the event
// loop's parser does.
func skipEmptyLines(b []byte) []byte {
	for len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		b = b[2:]
	}
	return b
}

// lineListener wraps every accepted connection in a lineConn.
type lineListener struct {
	net.Listener
	readerSize int
}

func (l lineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrapConn(c, l.readerSize), nil
}

func wrapConn(c net.Conn, readerSize int) net.Conn {
	sock := c
	var lc *lineConn
	var out net.Conn
	if t, ok := c.(*tls.Conn); ok {
		tc := &tlsLineConn{lineConn{Conn: c, readerSize: readerSize}}
		lc, out, sock = &tc.lineConn, tc, t.NetConn()
	} else {
		lc = &lineConn{Conn: c, readerSize: readerSize}
		out = lc
	}
	if sc, ok := sock.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			lc.raw, lc.peek = raw, lc.peekOnce
		}
	}
	return out
}

// lineConnOf returns the lineConn under a request's connection, or nil.
func lineConnOf(c net.Conn) *lineConn {
	switch lc := c.(type) {
	case *lineConn:
		return lc
	case *tlsLineConn:
		return &lc.lineConn
	}
	return nil
}
