package fasthttpengine

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
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
// connection keeps a copy of the first bytes of the request being read,
// at most lineCapacity of them, in a buffer that comes and goes with the
// ring (below): a copy embedded in the connection would be held, with the
// rest of the connection, for as long as it stays open and idle. Measured
// with 2000 idle keep-alive connections in one process (heap profile,
// MemProfileRate 1, after a GC, 2026-12-06): 36.7 KiB of heap per
// connection before this wrapper, 41.6 KiB with the copy as an array in
// it (a 4,304-byte struct, 4,864 bytes allocated), 37.0 KiB with the copy
// in the ring's buffer; the stack 8 KiB in all three. Most of the heap is
// fasthttp's 16 KiB reader and writer, whose untouched pages are not
// resident (BENCHMARKS.md has the RSS per idle connection).
//
// The copy must start at the request's first byte, or the line recorded
// would be a wrong one. A client may pipeline: send the next request with
// the one before, so that fasthttp's reader holds its start when the one
// before is served, and no read of this connection starts with it. So
// the connection follows the stream itself, by offset (bytes read so
// far): where the request being read starts, where its head ends (the
// first empty line after the request line, found as the bytes go by, not
// in the copy, so a head of any size is followed), and, for a body in
// chunked coding, where that ends (the pipeline's ChunkScanner, the event
// loop's reading of the framing, fed the bytes after the head as they are
// read; the framing of a body that is not chunked stops it within a few
// bytes, and costs nothing more: chunk data is skipped, not scanned). When a
// request is served, the next one starts right after its body: the head's
// end plus the body's length, or the chunked body's end. What of it was
// read already is still in a ring of the last bytes read, as many as
// fasthttp's reader holds: that reader never reads further ahead than its
// buffer, so whatever it has not consumed, the next request's start
// included, is in the ring, and the copy is taken from there (the price:
// a copy of each read into it, and a second buffer of that size, with
// the copy after it, per connection while it reads a request; a
// connection served with nothing read ahead gives both back to the
// listener's pool, so an idle one holds neither). A
// Content-Length body that fasthttp drains after the handler left it does
// not lose the place either: the copy skips to the offset where the next
// request starts.
//
// When the place is lost (a chunked body the handler did not read to its
// end, a chunked body fasthttp decoded to another length than the
// connection's reading of its framing), nothing more is recorded on that
// connection: a line is recorded rightly or not at all.
//
// It also lets the request line be checked as soon as it is in, as the
// event loop does: fasthttp reads a head of bare-LF lines as unfinished
// and would wait for header_timeout (408) where the event loop answers 400
// at once. A line that fails the check makes the read fail with
// errBadRequestLine, so fasthttp stops waiting and the error handler
// refuses it.

// lineCapacity bounds the bytes kept per request: a request line with a
// target of 2 KiB (more than the audit record keeps of it,
// auditlog.MaxRawTarget) and then some, and the whole of most heads, for
// the body timeout's second reading of the head (bodyTimedOut). A longer
// line is read from the ring when its request is refused (longLine).
const lineCapacity = 4096

// errBadRequestLine fails the read of a request whose line is not
// "method SP target SP HTTP/d.d CRLF" (RFC 9112 §3).
var errBadRequestLine = errors.New("fasthttpengine: malformed request line")

// Capture states of a lineConn.
const (
	// lineCapturing: the copy holds the start of the request being read,
	// and its line is not complete yet.
	lineCapturing = iota
	// lineDone: the request line is in and was checked (lineOK says how).
	lineDone
	// lineUnknown: the line is not kept: it is longer than the copy, or
	// where the request starts is not known (start < 0).
	lineUnknown
)

// States of the scan for the end of a head.
const (
	headLead   = iota // at the start of an empty line before the request line
	headLeadCR        // a CR at the start of such a line
	headIn            // in the head proper
)

// lineConn is a net.Conn that keeps the start of the request being read.
// Its methods are called by the one goroutine serving the connection.
type lineConn struct {
	net.Conn

	// Offsets in the stream of bytes read from the connection.
	read  int64 // bytes read so far
	start int64 // where the request being read starts; -1: not known
	// headEnd is where its head ends (past the empty line), -1 until the
	// scan finds it; headScan and headMatch are the scan's state (the
	// bytes of CRLFCRLF matched).
	headEnd   int64
	headScan  uint8
	headMatch uint8
	// chunks follows the bytes after the head as a chunked body until it
	// ends (chunkEnd) or they are not one (chunkBad).
	chunks   pipeline.ChunkScanner
	chunkEnd int64
	chunkBad bool
	// ring holds the last len(ring) bytes read (fasthttp's read buffer
	// size): the byte at offset o is ring[o%len(ring)]. It is taken from
	// rings at a read, with buf, and given back when a request is served
	// with nothing read ahead, so an idle connection holds neither.
	ring  []byte
	buf   []byte  // the copy, lineCapacity bytes; nil while ring is
	ringp *[]byte // what rings handed out: ring, then buf
	rings *ringPool

	state  uint8
	lineOK bool
	frozen bool // bytes of the request were read past the copy's end
	n      int  // the copy holds the bytes at offsets start..start+n

	// The socket, to ask whether the client has gone (peerClosed); nil
	// for a connection that is not a socket. peek is the bound method
	// handed to it, made once so asking allocates nothing.
	raw     syscall.RawConn
	peek    func(fd uintptr)
	peekRet uintptr
	peekErr unix.Errno
	peekBuf [1]byte
}

// init readies c for a new connection, whose rings are of the size of the
// reader that reads it.
func (c *lineConn) init(conn net.Conn, rings *ringPool) {
	c.Conn = conn
	c.rings = rings
	c.next(0)
}

// ringPool keeps the rings of one listener's connections, all of the size
// of fasthttp's reader (readerSize), each followed by the lineCapacity
// bytes of a connection's copy: the copy is needed only while the ring is
// (a request is being read), and one buffer is one allocation.
type ringPool struct {
	size int       // of a ring
	pool sync.Pool // of *[]byte, size+lineCapacity bytes each
}

func newRingPool(size int) *ringPool { return &ringPool{size: size} }

func (p *ringPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.size+lineCapacity)
	return &b
}

func (p *ringPool) put(b *[]byte) { p.pool.Put(b) }

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

// Read reads from the connection, follows the stream and keeps what
// starts a request.
func (c *lineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n <= 0 {
		return n, err
	}
	at := c.read
	c.read += int64(n)
	if c.ringp == nil && c.start >= 0 {
		c.ringp = c.rings.get()
		b := *c.ringp
		size := len(b) - lineCapacity
		c.ring, c.buf = b[:size:size], b[size:]
	}
	c.keep(p[:n], at)
	if c.start >= 0 {
		c.follow(p[:n], at)
	}
	if c.state == lineDone && !c.lineOK && err == nil {
		err = errBadRequestLine
	}
	return n, err
}

// keep writes b, read at offset at, into the ring.
func (c *lineConn) keep(b []byte, at int64) {
	size := len(c.ring)
	if size == 0 {
		return
	}
	if len(b) > size {
		at += int64(len(b) - size)
		b = b[len(b)-size:]
	}
	k := copy(c.ring[int(at%int64(size)):], b)
	copy(c.ring, b[k:])
}

// follow takes b, the bytes at offset at, the first of them no further
// than where the copy ends: what of them belongs to the request being
// read is copied, checked and scanned for the end of its head and of a
// chunked body.
func (c *lineConn) follow(b []byte, at int64) {
	if c.start > at {
		// The end of a body fasthttp drains: not the request's.
		skip := c.start - at
		if skip >= int64(len(b)) {
			return
		}
		b, at = b[skip:], c.start
	}
	if !c.frozen {
		k := copy(c.buf[c.n:], b)
		c.n += k
		c.frozen = k < len(b) // what follows is not kept: the copy ends here
	}
	c.check()
	if c.headEnd < 0 {
		i := c.scanHead(b)
		if i < 0 {
			return
		}
		c.headEnd = at + int64(i)
		b, at = b[i:], c.headEnd
	}
	if c.chunkEnd < 0 && !c.chunkBad && len(b) > 0 {
		k, err := c.chunks.Scan(b, nil)
		switch {
		case err != nil:
			c.chunkBad = true
		case c.chunks.Done():
			c.chunkEnd = at + int64(k)
		}
	}
}

// scanHead scans b, the next bytes of the request's head, for the empty
// line that ends it, after the empty lines RFC 9112 §2.2 lets a server
// ignore before the request line (skipEmptyLines). It returns the index
// in b just past the head, or -1.
func (c *lineConn) scanHead(b []byte) int {
	for i, ch := range b {
		switch c.headScan {
		case headLead:
			if ch == '\r' {
				c.headScan = headLeadCR
				continue
			}
			c.headScan = headIn
		case headLeadCR:
			if ch == '\n' {
				c.headScan = headLead
				continue
			}
			// The head starts at that CR.
			c.headScan, c.headMatch = headIn, 1
		}
		switch {
		case ch == strCRLFCRLF[c.headMatch]:
			if c.headMatch++; c.headMatch == 4 {
				return i + 1
			}
		case ch == '\r':
			c.headMatch = 1
		default:
			c.headMatch = 0
		}
	}
	return -1
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

// served marks the end of a request whose body, bodyLen bytes, was read
// or will be drained by fasthttp: the next request starts right after it.
func (c *lineConn) served(bodyLen int64) {
	if c.start < 0 || c.headEnd < 0 || bodyLen < 0 {
		c.lost()
		return
	}
	c.next(c.headEnd + bodyLen)
}

// servedChunked marks the end of a request whose chunked body was read to
// its end, data bytes once decoded: the next request starts where the
// framing ended, if the connection's reading of it agrees with fasthttp's.
func (c *lineConn) servedChunked(data int64) {
	if c.start < 0 || c.chunkEnd < 0 || c.chunks.Total() != data {
		c.lost()
		return
	}
	c.next(c.chunkEnd)
}

// lost gives up on the connection's place in the stream: no line is
// recorded on it any more, so it gives back the ring and the copy, and
// reads no longer take them (a connection that lost its place would
// otherwise hold both for the rest of its life, idle or not).
func (c *lineConn) lost() {
	c.start, c.state, c.lineOK, c.n, c.frozen = -1, lineUnknown, false, 0, false
	c.release()
}

// release gives the ring and the copy back to the listener's pool.
func (c *lineConn) release() {
	if c.ringp != nil {
		c.rings.put(c.ringp)
		c.ring, c.buf, c.ringp = nil, nil, nil
	}
}

// next starts following the request that starts at offset at: what of it
// was read already is taken from the ring.
func (c *lineConn) next(at int64) {
	c.start, c.headEnd, c.headScan, c.headMatch = at, -1, headLead, 0
	c.chunks.Reset()
	c.chunkEnd, c.chunkBad = -1, false
	c.state, c.lineOK, c.n, c.frozen = lineCapturing, false, 0, false
	if at >= c.read {
		// Nothing of it read yet: what the ring and the copy hold is
		// spent.
		c.release()
		return
	}
	size := int64(len(c.ring))
	if c.read-at > size {
		c.lost() // read ahead further than the ring holds: not expected of fasthttp
		return
	}
	for from := at; from < c.read; {
		i := from % size
		to := min(c.read, from+size-i)
		c.follow(c.ring[i:i+to-from], from)
		from = to
	}
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

// longLine returns the method and target of a request line longer than
// the copy, taken from the ring, when the ring still holds the request
// from its first byte and the line is complete and well-formed; nil
// otherwise. It copies what the ring holds of the request into a buffer
// of its own, so it allocates: it runs only for a request refused before
// its head was read.
func (c *lineConn) longLine() (method, target []byte) {
	if c == nil || c.state != lineUnknown || c.start < 0 || c.ringp == nil || c.read-c.start > int64(len(c.ring)) {
		return nil, nil
	}
	size := int64(len(c.ring))
	b := make([]byte, 0, c.read-c.start)
	for from := c.start; from < c.read; {
		i := from % size
		to := min(c.read, from+size-i)
		b = append(b, c.ring[i:i+to-from]...)
		from = to
	}
	return pipeline.SplitRequestLine(skipEmptyLines(b))
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
	rings *ringPool
}

func newLineListener(ln net.Listener, readerSize int) lineListener {
	return lineListener{Listener: ln, rings: newRingPool(readerSize)}
}

func (l lineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrapConn(c, l.rings), nil
}

func wrapConn(c net.Conn, rings *ringPool) net.Conn {
	sock := c
	var lc *lineConn
	var out net.Conn
	if t, ok := c.(*tls.Conn); ok {
		tc := &tlsLineConn{}
		lc, out, sock = &tc.lineConn, tc, t.NetConn()
	} else {
		lc = &lineConn{}
		out = lc
	}
	lc.init(c, rings)
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
