package gnetengine

import (
	"bufio"
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/filters"
)

// headParser parses request and response heads. It owns the bufio.Reader
// fasthttp parses from, sized to the largest head accepted, so parsing a
// complete head never reads past it. One lives on each event loop.
type headParser struct {
	src bytes.Reader
	br  *bufio.Reader
}

func newHeadParser(size int) *headParser {
	p := &headParser{}
	p.br = bufio.NewReaderSize(&p.src, max(size, 4096))
	return p
}

// tokenByte marks the bytes allowed in a field name (RFC 9110 §5.6.2).
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// checkHead refuses what RFC 9112 forbids and a lenient parser could read
// two ways: bare LF line ends (§2.2), obs-fold (§5.2), field names that
// are not tokens or carry whitespace before the colon (§5.1), and control
// bytes in field values. head runs up to and including the blank line.
func checkHead(head []byte) bool {
	first := true
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 1 || head[i-1] != '\r' {
			return false // bare LF
		}
		line := head[:i-1]
		head = head[i+1:]
		if len(line) == 0 {
			return len(head) == 0
		}
		if first {
			first = false
			for _, c := range line {
				if c < ' ' || c == 0x7f {
					return false
				}
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 1 {
			return false // obs-fold lines start with whitespace and have no name
		}
		for _, c := range line[:colon] {
			if !tokenByte[c] {
				return false
			}
		}
		for _, c := range line[colon+1:] {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return false
			}
		}
	}
	return false
}

// parseRequest looks for a complete request head at the start of buf and
// parses it into h. It returns the number of bytes the head (and any empty
// lines before it) took. n == 0 with a nil reason means more bytes are
// needed; a non-nil reason refuses the request, and the connection's
// framing can no longer be trusted.
func (p *headParser) parseRequest(h *fasthttp.RequestHeader, buf []byte, maxHead int) (n int, r *filters.Reason) {
	// RFC 9112 §2.2: ignore empty lines received before the request line.
	skip := 0
	for len(buf)-skip >= 2 && buf[skip] == '\r' && buf[skip+1] == '\n' {
		skip += 2
	}
	if skip > maxHead {
		return 0, filters.ReasonBadRequest
	}
	buf = buf[skip:]
	end := bytes.Index(buf, strCRLFCRLF)
	if end < 0 {
		if len(buf) >= maxHead {
			return 0, filters.ReasonHeaderTooLarge
		}
		return 0, nil
	}
	head := buf[:end+4]
	if len(head) > maxHead {
		return 0, filters.ReasonHeaderTooLarge
	}
	if !checkHead(head) {
		return 0, filters.ReasonBadRequest
	}
	p.src.Reset(head)
	p.br.Reset(&p.src)
	if err := h.Read(p.br); err != nil {
		return 0, filters.ReasonBadRequest
	}
	if p.br.Buffered() != 0 {
		// fasthttp stopped before the blank line we found.
		return 0, filters.ReasonBadRequest
	}
	if h.ContentLength() == -1 && forward.HasContentLength(h.RawHeaders()) {
		// Transfer-Encoding and Content-Length together: the classic
		// request-smuggling ambiguity (RFC 9112 §6.3).
		return 0, filters.ReasonAmbiguousFraming
	}
	return skip + len(head), nil
}

// parseResponse is parseRequest for an upstream's response head. ok is
// false when the head is malformed or larger than maxHead.
func (p *headParser) parseResponse(h *fasthttp.ResponseHeader, buf []byte, maxHead int) (n int, ok bool) {
	end := bytes.Index(buf, strCRLFCRLF)
	if end < 0 {
		return 0, len(buf) < maxHead
	}
	head := buf[:end+4]
	if len(head) > maxHead || !checkHead(head) {
		return 0, false
	}
	p.src.Reset(head)
	p.br.Reset(&p.src)
	if err := h.Read(p.br); err != nil || p.br.Buffered() != 0 {
		return 0, false
	}
	return len(head), true
}
