package fasthttpengine

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
)

// chunkConn is a net.Conn whose reads return data in the given chunks.
type chunkConn struct {
	net.Conn
	chunks [][]byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

const testReader = 64

func newTestLineConn(c net.Conn, readerSize int) *lineConn {
	lc := &lineConn{}
	lc.init(c, newRingPool(readerSize))
	return lc
}

// readAll reads through lc the way fasthttp's reader does: full-size
// reads into an empty buffer.
func readAll(lc *lineConn) error {
	buf := make([]byte, testReader)
	for {
		if _, err := lc.Read(buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func TestLineConn(t *testing.T) {
	f := func(chunks []string, method, target string, bad bool) {
		t.Helper()
		cc := &chunkConn{}
		for _, c := range chunks {
			cc.chunks = append(cc.chunks, []byte(c))
		}
		lc := newTestLineConn(cc, testReader)
		err := readAll(lc)
		if got := errors.Is(err, errBadRequestLine); got != bad || (err != nil && !bad) {
			t.Errorf("%q: read error %v, want bad line %v", chunks, err, bad)
		}
		m, tg := lc.attempted()
		if string(m) != method || string(tg) != target || lc.badLine() != bad {
			t.Errorf("%q: attempted %q %q bad %v, want %q %q %v", chunks, m, tg, lc.badLine(), method, target, bad)
		}
	}
	f([]string{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"}, "GET", "/a", false)
	f([]string{"GE", "T /a?q=1 HT", "TP/1.1\r", "\nHost: x\r\n\r\n"}, "GET", "/a?q=1", false)
	f([]string{"\r\n\r\nPOST /o HTTP/1.0\r\n\r\n"}, "POST", "/o", false)
	f([]string{"GET /a HTTP/1.1\nHost: x\r\n\r\n"}, "", "", true)
	f([]string{"\nGET /a HTTP/1.1\r\n"}, "", "", true)
	f([]string{"GET /a\r\n\r\n"}, "", "", true)
	f([]string{"GET  /a HTTP/1.1\r\n"}, "", "", true)
	f([]string{"GET /a HTTP/1.1"}, "", "", false) // not complete: nothing yet
	f([]string{"GET /" + string(bytes.Repeat([]byte("a"), lineCapacity)) + " HTTP/1.1\r\n"}, "", "", false)
}

// TestLineConnStartsAtARequest: the connection follows requests along
// the stream by offset, whatever it kept of them: a request pipelined
// behind another is found where it starts, behind a body of any length,
// a chunked body, a head longer than the copy, or a body fasthttp drains.
func TestLineConnStartsAtARequest(t *testing.T) {
	buf := make([]byte, 256)
	want := func(lc *lineConn, what, method, target string) {
		t.Helper()
		if m, tg := lc.attempted(); string(m) != method || string(tg) != target {
			t.Fatalf("%s: attempted %q %q, want %q %q (state %d, start %d)", what, m, tg, method, target, lc.state, lc.start)
		}
	}
	read := func(lc *lineConn, n int) {
		t.Helper()
		if _, err := lc.Read(buf[:n]); err != nil && !errors.Is(err, errBadRequestLine) {
			t.Fatal(err)
		}
	}
	conn := func(chunks ...string) *lineConn {
		cc := &chunkConn{}
		for _, c := range chunks {
			cc.chunks = append(cc.chunks, []byte(c))
		}
		return newTestLineConn(cc, len(buf))
	}

	// Two requests, the first with a body, in one read.
	lc := conn("POST /first HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /second HTTP/1.1\r\n\r\n")
	read(lc, len(buf))
	want(lc, "first", "POST", "/first")
	lc.served(3)
	want(lc, "pipelined", "GET", "/second")
	lc.served(0)
	if lc.state != lineCapturing || lc.n != 0 || lc.start != lc.read {
		t.Fatalf("after the last request read: state %d, %d kept, start %d of %d", lc.state, lc.n, lc.start, lc.read)
	}

	// The second request's line comes in a later, short read.
	lc = conn("GET /a HTTP/1.1\r\n\r\nGET /b HT", "TP/1.1\r\n\r\n")
	read(lc, len(buf))
	lc.served(0)
	read(lc, len(buf)-9)
	want(lc, "completed later", "GET", "/b")

	// A pipelined request with a bad line is flagged for the handler.
	lc = conn("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\nHost: x\r\n\r\n")
	read(lc, len(buf))
	lc.served(0)
	if !lc.badLine() {
		t.Fatalf("pipelined bad line not flagged (state %d)", lc.state)
	}

	// A chunked body, with an extension and a trailer, read across reads:
	// the next request starts where its framing ends.
	lc = conn("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nab", "c\r\n0\r\nT: 1\r\n\r\nGET /after-chunks HTTP/1.1\r\n\r\n")
	read(lc, len(buf))
	read(lc, len(buf)-10) // the reader held 10 bytes of the body
	lc.servedChunked(3)
	want(lc, "behind a chunked body", "GET", "/after-chunks")

	// The same body, but fasthttp decoded another length: the framing is
	// not read the same way, so nothing is recorded any more.
	lc = conn("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HT", "TP/1.1\r\n\r\n")
	read(lc, len(buf))
	lc.servedChunked(4)
	want(lc, "disagreeing framing", "", "")
	read(lc, len(buf))
	want(lc, "disagreeing framing, later", "", "")

	// A body that is not chunked framing, served as chunked: lost.
	lc = conn("GET /first HTTP/1.1\r\n\r\n", "GET /second HTTP/1.1\r\n\r\n")
	read(lc, len(buf))
	lc.servedChunked(0)
	read(lc, len(buf))
	if m, _ := lc.attempted(); m != nil || lc.state != lineUnknown {
		t.Fatalf("after a framing not followed: %q, state %d", m, lc.state)
	}

	// A head longer than the copy (and than the ring) is followed to its
	// end all the same.
	big := make([]byte, 0, 3*lineCapacity)
	big = append(big, "GET /big HTTP/1.1\r\nX-Pad: "...)
	big = append(big, bytes.Repeat([]byte("p"), 2*lineCapacity)...)
	big = append(big, "\r\n\r\nGET /next HTTP/1.1\r\n\r\n"...)
	lc = conn(string(big))
	for lc.read < int64(len(big)) {
		read(lc, len(buf))
	}
	want(lc, "a long head", "GET", "/big")
	lc.served(0)
	want(lc, "behind a long head", "GET", "/next")

	// A body fasthttp drains after the handler: the copy skips to the
	// offset where the next request starts.
	lc = conn("POST /a HTTP/1.1\r\nContent-Length: 360\r\n\r\n", string(bytes.Repeat([]byte("GET /no HTTP/1.1\r\n"), 20)), "GET /yes HTTP/1.1\r\n\r\n")
	read(lc, len(buf))
	lc.served(360)
	for lc.read < 41+360 {
		read(lc, len(buf))
		if m, _ := lc.attempted(); m != nil && lc.start > lc.read {
			t.Fatalf("a line %q from inside a body", m)
		}
	}
	read(lc, len(buf))
	want(lc, "behind a drained body", "GET", "/yes")
}

// TestLineConnIdleHoldsNoBuffer: a connection served with nothing read
// ahead holds neither the ring nor the copy, and what it keeps for its
// life is small: idle keep-alive connections are many, and a buffer
// embedded in each (the copy once was) is held by every one of them.
func TestLineConnIdleHoldsNoBuffer(t *testing.T) {
	cc := &chunkConn{chunks: [][]byte{[]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")}}
	lc := newTestLineConn(cc, testReader)
	if _, err := lc.Read(make([]byte, testReader)); err != nil {
		t.Fatal(err)
	}
	if m, _ := lc.attempted(); string(m) != "GET" || lc.ring == nil || len(lc.buf) != lineCapacity {
		t.Fatalf("reading: attempted %q, ring %d bytes, copy %d", m, len(lc.ring), len(lc.buf))
	}
	lc.served(0)
	if lc.ring != nil || lc.buf != nil || lc.ringp != nil {
		t.Fatalf("idle: ring %d bytes, copy %d", len(lc.ring), len(lc.buf))
	}
	// One that lost its place records nothing more: it holds neither
	// either, whatever it reads.
	cc.chunks = [][]byte{[]byte("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n")}
	if _, err := lc.Read(make([]byte, testReader)); err != nil || lc.ring == nil {
		t.Fatalf("reading: %v, ring %d bytes", err, len(lc.ring))
	}
	lc.lost()
	cc.chunks = [][]byte{[]byte("{}\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n")}
	if _, err := lc.Read(make([]byte, testReader)); err != nil {
		t.Fatal(err)
	}
	if m, _ := lc.attempted(); m != nil || lc.ring != nil || lc.buf != nil || lc.ringp != nil {
		t.Fatalf("lost: attempted %q, ring %d bytes, copy %d", m, len(lc.ring), len(lc.buf))
	}
	if size := unsafe.Sizeof(lineConn{}); size > 512 {
		t.Fatalf("a connection keeps %d bytes for its life", size)
	}
}

// TestLineConnZeroAllocs: following the stream allocates nothing per
// request.
func TestLineConnZeroAllocs(t *testing.T) {
	stream := []byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
	cc := &chunkConn{}
	lc := newTestLineConn(cc, 64)
	buf := make([]byte, 64)
	chunks := [][]byte{nil}
	allocs := testing.AllocsPerRun(100, func() {
		chunks[0] = stream
		cc.chunks = chunks
		for i := 0; i < 2; i++ {
			_, _ = lc.Read(buf)
		}
		lc.served(0)
		lc.servedChunked(2)
		_, _ = lc.attempted()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}

// FuzzLineConn splits a stream into reads anywhere: the capture never
// reads past its bound, never panics, and agrees with the pipeline's own
// reading of the request line.
func FuzzLineConn(f *testing.F) {
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), uint8(3))
	f.Add([]byte("\r\n\r\nPOST /o HTTP/1.0\r\n\r\n"), uint8(1))
	f.Add([]byte("GET /a HTTP/1.1\nHost: x\n\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		size := int(step%16) + 1
		cc := &chunkConn{}
		for rest := data; len(rest) > 0; {
			n := min(size, len(rest))
			cc.chunks = append(cc.chunks, rest[:n])
			rest = rest[n:]
		}
		lc := newTestLineConn(cc, testReader)
		err := readAll(lc)
		if lc.n > len(lc.buf) {
			t.Fatalf("kept %d bytes", lc.n)
		}
		m, tg := lc.attempted()
		head := skipEmptyLines(data)
		wm, wt := pipeline.SplitRequestLine(head)
		nl := bytes.IndexByte(head, '\n')
		fits := nl >= 0 && len(data)-len(head)+nl < lineCapacity
		switch {
		case fits && (string(m) != string(wm) || string(tg) != string(wt)):
			t.Fatalf("%q: attempted %q %q, pipeline %q %q", data, m, tg, wm, wt)
		case fits && (wm == nil) != errors.Is(err, errBadRequestLine):
			t.Fatalf("%q: read error %v for a line the pipeline reads as %q", data, err, wm)
		case !fits && (m != nil || err != nil):
			t.Fatalf("%q: a line that is not in (or too long) gave %q %v", data, m, err)
		}
	})
}

// FuzzLineConnPipelined reads a served request (with a body of any
// length) and whatever follows it, in reads of any size, then marks the
// first served: the connection then shows the second request's line as
// the pipeline reads it whenever the copy can hold it, and never a line
// from anywhere else.
func FuzzLineConnPipelined(f *testing.F) {
	f.Add("/a", []byte("{}"), []byte("GET /b HTTP/1.1\r\n\r\n"), uint8(5))
	f.Add("/a", []byte(""), []byte("\r\nGET /b HTTP/1.1\nHost: x\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, target string, body, second []byte, step uint8) {
		target = "/" + strings.Map(func(r rune) rune {
			if r > ' ' && r < 0x7f {
				return r
			}
			return -1
		}, target)
		first := "POST " + target + " HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
		data := append([]byte(first), second...)
		size := int(step%32) + 1
		cc := &chunkConn{}
		for rest := data; len(rest) > 0; {
			n := min(size, len(rest))
			cc.chunks = append(cc.chunks, rest[:n])
			rest = rest[n:]
		}
		lc := newTestLineConn(cc, 64<<10)
		buf := make([]byte, 64<<10)
		// fasthttp's reader: one full-size read, then reads for the rest.
		for {
			if _, err := lc.Read(buf); err != nil {
				break
			}
		}
		lc.served(int64(len(body)))
		m, tg := lc.attempted()
		head := skipEmptyLines(second)
		wm, wt := pipeline.SplitRequestLine(head)
		if m == nil {
			// Not kept, which is right only for a line longer than the
			// copy (or a stream longer than the ring, which fasthttp's
			// reader never reads ahead).
			if nl := bytes.IndexByte(head, '\n'); wm != nil && len(second)-len(head)+nl < lineCapacity && len(data) <= 64<<10 {
				t.Fatalf("%q: the second request's line %q %q not found", data, wm, wt)
			}
			return
		}
		if string(m) != string(wm) || string(tg) != string(wt) {
			t.Fatalf("%q: attempted %q %q, the second request's line is %q %q", data, m, tg, wm, wt)
		}
	})
}

// FuzzLineConnStream reads a stream of requests of every framing the
// connection follows (no body, a Content-Length body, a chunked body with
// extensions and trailers, a head or a target longer than the copy), then
// any bytes, split into reads anywhere, through a bufio.Reader of the
// size fasthttp would use, consuming each request exactly, as fasthttp
// does, and marking it served. Whatever attempted returns is the line of
// the request being read, never one from anywhere else; and once a
// request's head is read, its line is found whenever the copy can hold
// it.
func FuzzLineConnStream(f *testing.F) {
	f.Add([]byte{0, 1, 1, 3, 2, 5, 3, 9, 0, 0}, []byte{7, 200, 13}, uint8(1), []byte("GET /tail HTTP/1.1\r\n"))
	f.Add([]byte{2, 200, 2, 1, 3, 255, 1, 255, 4, 250}, []byte{255}, uint8(3), []byte("POST /t HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"))
	f.Add([]byte{1, 0, 0, 7}, []byte{}, uint8(0), []byte("\r\nGET /x HTTP/1.1\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, spec, cuts []byte, size uint8, tail []byte) {
		readerSize := []int{16, 64, 256, 4096, 16384}[int(size)%5]
		type request struct {
			wire           []byte
			head           int // bytes of the head, leading empty lines included
			method, target string
			fits           bool  // the line is within the copy
			bodyLen        int64 // -1: chunked
			data           int64 // chunked: bytes once decoded
		}
		var reqs []request
		var stream []byte
		for i := 0; i+1 < len(spec) && len(reqs) < 12; i += 2 {
			kind, n := spec[i]%5, int(spec[i+1])
			r := request{method: "GET", target: "/r" + strconv.Itoa(i)}
			lead := strings.Repeat("\r\n", n%3)
			fields := "Host: x\r\n"
			var body []byte
			switch kind {
			case 1: // a body that looks like requests
				r.method = "POST"
				k := n * 23 % 4000
				body = bytes.Repeat([]byte("GET /in-body HTTP/1.1\r\n\r\n"), k/25+1)[:k]
				fields += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
			case 2: // chunked, with an extension and a trailer
				r.method = "POST"
				fields += "Transfer-Encoding: chunked\r\n"
				for j, k := range []int{n%7 + 1, n * 11, n % 3} {
					if k == 0 {
						continue
					}
					ext := ""
					if j == 1 {
						ext = ";x=\"y\""
					}
					body = append(body, strconv.FormatInt(int64(k), 16)+ext+"\r\n"...)
					body = append(body, bytes.Repeat([]byte("GET /c HTTP/1.1\r\n"), k/17+1)[:k]...)
					body = append(body, "\r\n"...)
					r.data += int64(k)
				}
				body = append(body, "0\r\n"...)
				if n%2 == 0 {
					body = append(body, "X-Trailer: 1\r\n"...)
				}
				body = append(body, "\r\n"...)
			case 3: // a long head
				fields += "X-Pad: " + strings.Repeat("p", n*40) + "\r\n"
			case 4: // a long target
				r.target += "/" + strings.Repeat("t", n*20)
			}
			line := r.method + " " + r.target + " HTTP/1.1\r\n"
			r.fits = len(lead)+len(line) <= lineCapacity
			r.wire = append([]byte(lead+line+fields+"\r\n"), body...)
			r.head = len(r.wire) - len(body)
			r.bodyLen = int64(len(body))
			if kind == 2 {
				r.bodyLen = -1
			}
			reqs = append(reqs, r)
			stream = append(stream, r.wire...)
		}
		stream = append(stream, tail...)
		cc := &chunkConn{}
		for i, rest := 0, stream; len(rest) > 0; i++ {
			n := len(rest)
			if len(cuts) > 0 {
				n = min(n, int(cuts[i%len(cuts)])*13%997+1)
			}
			cc.chunks = append(cc.chunks, rest[:n])
			rest = rest[n:]
		}
		lc := newTestLineConn(cc, readerSize)
		br := bufio.NewReaderSize(lc, readerSize)
		// only checks that a line attempted, or a line too long for the
		// copy read from the ring, is the one given.
		only := func(what, method, target string) {
			t.Helper()
			if m, tg := lc.attempted(); m != nil && (string(m) != method || string(tg) != target) {
				t.Fatalf("%s: attempted %q %q, want %q %q or nothing", what, m, tg, method, target)
			}
			if m, tg := lc.longLine(); m != nil && (string(m) != method || string(tg) != target) {
				t.Fatalf("%s: long line %q %q, want %q %q or nothing", what, m, tg, method, target)
			}
		}
		scratch := make([]byte, 2*readerSize)
		for i, r := range reqs {
			only("before its head", r.method, r.target)
			if _, err := br.Discard(r.head); err != nil {
				t.Fatalf("request %d head: %v", i, err)
			}
			m, tg := lc.attempted()
			if r.fits && (string(m) != r.method || string(tg) != r.target) {
				t.Fatalf("request %d: attempted %q %q, want %q %q", i, m, tg, r.method, r.target)
			}
			only("its head read", r.method, r.target)
			// The body, in reads of any size (a large one bypasses the
			// reader's buffer, as bufio does).
			for left := len(r.wire) - r.head; left > 0; {
				k, err := br.Read(scratch[:min(left, len(scratch))])
				if err != nil {
					t.Fatalf("request %d body: %v", i, err)
				}
				left -= k
				only("its body", r.method, r.target)
			}
			if r.bodyLen < 0 {
				lc.servedChunked(r.data)
			} else {
				lc.served(r.bodyLen)
			}
			if lc.start < 0 {
				t.Fatalf("request %d: the place in the stream lost", i)
			}
			if i+1 < len(reqs) {
				only("served", reqs[i+1].method, reqs[i+1].target)
			}
		}
		// The tail: whatever is recorded of it is its own line.
		_, _ = br.Peek(min(len(tail), readerSize))
		head := skipEmptyLines(tail)
		wm, wt := pipeline.SplitRequestLine(head)
		only("the tail", string(wm), string(wt))
	})
}
