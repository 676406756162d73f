package gnetengine

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
)

// FuzzParseRequest feeds arbitrary bytes to the request head parser and,
// after a well-formed head, to the chunked body scanner. Neither may
// panic; the parser may not claim more bytes than it got, must hand Begin
// the head's fields as they came (framing, version and field rules are
// the pipeline's, the same on every engine), and the
// scanner must agree with itself when fed the same bytes one at a time.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nHost: x\n\n"))
	f.Add([]byte("\r\n\r\nGET / HTTP/1.0\r\n\r\n"))
	p := newHeadParser(4096)
	var h fasthttp.RequestHeader
	f.Fuzz(func(t *testing.T, in []byte) {
		h.Reset()
		n, r := p.parseRequest(&h, in, 4096)
		if n > len(in) {
			t.Fatalf("parser took %d of %d bytes", n, len(in))
		}
		if n == 0 || r != nil {
			return
		}
		// What Begin then checks is exactly the head's field block.
		head := bytes.TrimLeft(in[:n], "\r\n")
		if pipeline.CheckHead(head) != pipeline.CheckFields(h.RawHeaders()) {
			t.Fatalf("raw headers %q judged apart from the head %q", h.RawHeaders(), head)
		}
		if !bytes.Contains(in[:n], strCRLFCRLF) {
			t.Fatal("accepted a head without its blank line")
		}
		body := in[n:]
		var whole, single pipeline.ChunkScanner
		var a, b []byte
		m, errWhole := whole.Scan(body, &a)
		k := 0
		var errSingle error
		for k < len(body) && !single.Done() {
			c, err := single.Scan(body[k:k+1], &b)
			k += c
			if err != nil {
				errSingle = err
				break
			}
			if c == 0 {
				break
			}
		}
		if (errWhole == nil) != (errSingle == nil) {
			t.Fatalf("whole scan err %v, byte-wise err %v", errWhole, errSingle)
		}
		if errWhole == nil && (m != k || whole.Done() != single.Done() || !bytes.Equal(a, b)) {
			t.Fatalf("whole scan took %d (done %v), byte-wise %d (done %v)", m, whole.Done(), k, single.Done())
		}
	})
}

func TestChunkScanner(t *testing.T) {
	f := func(in string, wantN int, wantData string, wantDone, wantErr bool) {
		t.Helper()
		var s pipeline.ChunkScanner
		var data []byte
		n, err := s.Scan([]byte(in), &data)
		if (err != nil) != wantErr || (!wantErr && (n != wantN || string(data) != wantData || s.Done() != wantDone)) {
			t.Fatalf("scan(%q) = %d %q done=%v err=%v", in, n, data, s.Done(), err)
		}
	}
	f("3\r\nabc\r\n0\r\n\r\n", 13, "abc", true, false)
	f("3\r\nabc\r\n0\r\n\r\nGET", 13, "abc", true, false)
	f("3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", 31, "abc", true, false)
	f("A\r\n0123456789\r\n0\r\n\r\n", 20, "0123456789", true, false)
	f("3\r\nab", 5, "ab", false, false)
	f("3\nabc\r\n", 0, "", false, true)
	f("zz\r\n", 0, "", false, true)
	f("\r\n", 0, "", false, true)
	f("3\r\nabcX", 0, "", false, true)
	f("0\r\n X-Fold: y\r\n\r\n", 0, "", false, true)
	f("ffffffffffffffff\r\n", 0, "", false, true)
}
