package pipeline

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/filters"
)

func TestCheckHead(t *testing.T) {
	for _, c := range []struct {
		head string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\n\r\n", true},
		{"GET / HTTP/1.1\nHost: x\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost : x\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nX Note: 1\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n Folded\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\tFolded: y\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nX: a\tb\r\n\r\n", true},
		{"GET /\x00 HTTP/1.1\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false}, // no empty line
	} {
		if got := CheckHead([]byte(c.head)); got != c.want {
			t.Errorf("CheckHead(%q) = %v, want %v", c.head, got, c.want)
		}
	}
}

func TestCheckRequestLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want bool
	}{
		{"GET /a HTTP/1.1", true},
		{"GET /a HTTP/9.9", true}, // well-formed: CheckVersion answers 505
		{"GET /a", false},         // HTTP/0.9: no version
		{"GET /a HTTP/1.x", false},
		{"GET /a HTTX/1.1", false},
		{"GET  HTTP/1.1", false},
		{" GET /a HTTP/1.1", false},
		{"G(T /a HTTP/1.1", false},
		{"GET /a\x01 HTTP/1.1", false},
	} {
		if got := CheckRequestLine([]byte(c.line)); got != c.want {
			t.Errorf("CheckRequestLine(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for _, c := range []struct {
		proto string
		want  *filters.Reason
	}{
		{"HTTP/1.1", nil},
		{"HTTP/1.0", nil},
		{"HTTP/9.9", filters.ReasonVersionNotSupported},
		{"HTTP/2.0", filters.ReasonVersionNotSupported},
		{"HTTP/0.9", filters.ReasonVersionNotSupported},
		{"HTTP/1.x", filters.ReasonBadRequest},
		{"", filters.ReasonBadRequest},
	} {
		if got := CheckVersion([]byte(c.proto)); got != c.want {
			t.Errorf("CheckVersion(%q) = %v, want %v", c.proto, got, c.want)
		}
	}
}

// FuzzHeadVerdicts holds the two ways a head is judged to one verdict:
// the event loop checks the raw head (CheckRequestLine, CheckHead) before
// fasthttp parses it; the goroutine engine lets fasthttp parse first and
// checks what it kept (checkParsed on RawHeaders). For any head whose
// request line ends in CRLF, both must accept or both refuse.
func FuzzHeadVerdicts(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n",
		"GET / HTTP/1.1\r\nX Note: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		end := bytes.Index(head, []byte("\r\n\r\n"))
		nl := bytes.IndexByte(head, '\n')
		if end < 0 || nl < 1 || head[nl-1] != '\r' || nl > end {
			return
		}
		head = head[:end+4]
		loop := CheckRequestLine(head[:nl-1]) && CheckHead(head)
		var h fasthttp.RequestHeader
		parsed := h.Read(bufio.NewReader(bytes.NewReader(head))) == nil
		loop = loop && parsed
		goroutine := parsed && checkParsed(&h) == nil
		if loop && CheckVersion(h.Protocol()) != nil {
			loop = false
		}
		if loop && h.ContentLength() == -1 && checkParsed(&h) == filters.ReasonAmbiguousFraming {
			loop = false
		}
		if loop != goroutine {
			t.Fatalf("verdicts differ on %q: event loop %v, goroutine engine %v", head, loop, goroutine)
		}
	})
}
