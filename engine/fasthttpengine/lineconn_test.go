package fasthttpengine

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

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
		lc := &lineConn{Conn: cc, readerSize: testReader}
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

// TestLineConnStartsAtARequest: the copy follows requests along the
// stream when it holds them whole (a pipelined request is found where it
// starts), and otherwise starts again only with a read into an empty
// reader: a short read means fasthttp's reader held bytes it did not see.
func TestLineConnStartsAtARequest(t *testing.T) {
	buf := make([]byte, 256)
	want := func(lc *lineConn, what, method, target string) {
		t.Helper()
		if m, tg := lc.attempted(); string(m) != method || string(tg) != target {
			t.Fatalf("%s: attempted %q %q, want %q %q (state %d)", what, m, tg, method, target, lc.state)
		}
	}
	read := func(lc *lineConn, n int) {
		t.Helper()
		if _, err := lc.Read(buf[:n]); err != nil && !errors.Is(err, errBadRequestLine) {
			t.Fatal(err)
		}
	}

	// Two requests, the first with a body, in one read.
	lc := &lineConn{Conn: &chunkConn{chunks: [][]byte{[]byte("POST /first HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /second HTTP/1.1\r\n\r\n")}}, readerSize: len(buf)}
	read(lc, len(buf))
	want(lc, "first", "POST", "/first")
	lc.served(3)
	want(lc, "pipelined", "GET", "/second")
	lc.served(0)
	if lc.state != lineAwait {
		t.Fatalf("after the last request read: state %d", lc.state)
	}

	// The second request's line comes in a later, short read.
	lc = &lineConn{Conn: &chunkConn{chunks: [][]byte{[]byte("GET /a HTTP/1.1\r\n\r\nGET /b HT"), []byte("TP/1.1\r\n\r\n")}}, readerSize: len(buf)}
	read(lc, len(buf))
	lc.served(0)
	read(lc, len(buf)-9)
	want(lc, "completed later", "GET", "/b")

	// A pipelined request with a bad line is flagged for the handler.
	lc = &lineConn{Conn: &chunkConn{chunks: [][]byte{[]byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\nHost: x\r\n\r\n")}}, readerSize: len(buf)}
	read(lc, len(buf))
	lc.served(0)
	if !lc.badLine() {
		t.Fatalf("pipelined bad line not flagged (state %d)", lc.state)
	}

	// A body of unknown length: the next copy waits for an empty reader.
	lc = &lineConn{Conn: &chunkConn{chunks: [][]byte{[]byte("GET /first HTTP/1.1\r\n\r\n"), []byte("GET /second HTTP/1.1\r\n\r\n")}}, readerSize: len(buf)}
	read(lc, len(buf))
	lc.served(-1)
	read(lc, len(buf)-5) // the reader held 5 bytes
	if m, _ := lc.attempted(); m != nil || lc.state != lineUnknown {
		t.Fatalf("after a short read: %q, state %d", m, lc.state)
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
		lc := &lineConn{Conn: cc, readerSize: testReader}
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

// FuzzLineConnPipelined reads a served request (with a body) and whatever
// follows it, in reads of any size, then marks the first served: the copy
// then shows the second request's line exactly when it holds it, as the
// pipeline reads it, and never a line from anywhere else.
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
		lc := &lineConn{Conn: cc, readerSize: 64 << 10}
		buf := make([]byte, 64<<10)
		// fasthttp's reader: one full-size read, then reads for the rest.
		for {
			if _, err := lc.Read(buf); err != nil {
				break
			}
		}
		lc.served(int64(len(body)))
		m, tg := lc.attempted()
		if m == nil {
			return // not kept: never wrong
		}
		head := skipEmptyLines(second)
		wm, wt := pipeline.SplitRequestLine(head)
		if string(m) != string(wm) || string(tg) != string(wt) {
			t.Fatalf("%q: attempted %q %q, the second request's line is %q %q", data, m, tg, wm, wt)
		}
	})
}
