package gnetengine

import (
	"bufio"
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
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
	// The request line is checked as soon as it is in, so a line no head
	// can follow (an HTTP/0.9-style request with no version) is refused
	// at once instead of waiting for a blank line that never comes.
	if nl := bytes.IndexByte(buf, '\n'); nl >= 0 {
		if nl < 1 || buf[nl-1] != '\r' || !pipeline.CheckRequestLine(buf[:nl-1]) {
			return 0, filters.ReasonBadRequest
		}
	} else if len(buf) >= maxHead {
		return 0, filters.ReasonHeaderTooLarge
	}
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
	// The fields are checked on the exact bytes fasthttp keeps
	// (RawHeaders) by the pipeline's Begin, as for every engine: checking
	// them here too would scan a kilobyte-long bearer token twice.
	p.src.Reset(head)
	p.br.Reset(&p.src)
	if err := h.Read(p.br); err != nil {
		return 0, filters.ReasonBadRequest
	}
	if p.br.Buffered() != 0 {
		// fasthttp stopped before the blank line we found.
		return 0, filters.ReasonBadRequest
	}
	// Version, fields and framing are the pipeline's (Begin), the same
	// checks for every engine.
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
	if len(head) > maxHead || !pipeline.CheckResponseHead(head) {
		return 0, false
	}
	p.src.Reset(head)
	p.br.Reset(&p.src)
	if err := h.Read(p.br); err != nil || p.br.Buffered() != 0 {
		return 0, false
	}
	return len(head), true
}
