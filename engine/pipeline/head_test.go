package pipeline

import (
	"bufio"
	"bytes"
	"strings"
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

// TestCheckResponseHead: a response head may fold a value (it is
// unfolded and forwarded), and is otherwise held to CheckHead's rules.
func TestCheckResponseHead(t *testing.T) {
	for _, c := range []struct {
		head string
		want bool
	}{
		{"HTTP/1.1 200 OK\r\nX: a\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n c\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\n b\r\nX: a\r\n\r\n", false}, // a fold with no field before it
		{"HTTP/1.1 200 OK\r\nX: a\r\n b\x01\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n", false},
		{"HTTP/1.1 200 OK\nX: a\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", false},
	} {
		if got := CheckResponseHead([]byte(c.head)); got != c.want {
			t.Errorf("CheckResponseHead(%q) = %v, want %v", c.head, got, c.want)
		}
		// Requests never fold.
		if c.want && strings.Contains(c.head, "\r\n ") || strings.Contains(c.head, "\r\n\t") {
			if CheckHead([]byte(c.head)) {
				t.Errorf("CheckHead(%q) accepts a fold", c.head)
			}
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

func TestValidValue(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"", true},
		{"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoiSldUIn0", true},
		{"a\tb c é ÿ \x80\xff long enough to take the eight-byte path", true},
		{"eight by\x00tes and more", false},
		{"0123456789abcdef\x01", false},
		{"0123456789abcdef\x7f0123456789", false},
		{"\x1f", false},
		{"tab\there\tand\there\tagain", true},
	} {
		if got := validValue([]byte(c.v)); got != c.want {
			t.Errorf("validValue(%q) = %v, want %v", c.v, got, c.want)
		}
		if got := validBytes([]byte(c.v)); got != c.want {
			t.Errorf("validBytes(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

// FuzzValidValue holds the word-at-a-time scan to the byte-by-byte one.
func FuzzValidValue(f *testing.F) {
	f.Add([]byte("Bearer abc.def.ghi"))
	f.Add([]byte("0123456789abcdef\x7f"))
	f.Fuzz(func(t *testing.T, v []byte) {
		if validValue(v) != validBytes(v) {
			t.Fatalf("validValue(%q) = %v, byte by byte %v", v, validValue(v), validBytes(v))
		}
	})
}

func BenchmarkCheckFieldsBearer(b *testing.B) {
	fields := []byte("Host: api.example\r\nAuthorization: Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 40) + "\r\nContent-Type: application/json\r\n\r\n")
	b.SetBytes(int64(len(fields)))
	for b.Loop() {
		if !CheckFields(fields) {
			b.Fatal("refused")
		}
	}
}
