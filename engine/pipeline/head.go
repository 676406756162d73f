package pipeline

import (
	"bytes"
	"encoding/binary"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Strict HTTP/1.1 (RFC 9112). A proxy that reads a message one way while
// the upstream reads it another is the root of request smuggling, so
// whatever a lenient parser could read two ways is refused with 400 and
// the connection closed: bare LF line ends (§2.2), obs-fold (§5.2), field
// names that are not tokens or have whitespace before the colon (§5.1),
// and control bytes. A well-formed version other than HTTP/1.0 and 1.1 is
// answered 505 (RFC 9110 §15.6.6).

// CheckRequestLine checks a request line (without its line end): method
// SP request-target SP version, with no control bytes. The version is
// checked for its shape only (HTTP/d.d); which versions are served is
// CheckVersion's call. Every engine runs it as soon as the line is in, so
// an HTTP/0.9-style line with no version is refused at once.
func CheckRequestLine(line []byte) bool {
	for _, c := range line {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 1 || !filters.IsToken(filters.B2S(line[:sp])) {
		return false
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 1 {
		return false
	}
	v := rest[sp+1:]
	return len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// SplitRequestLine returns the method and target of the request line at
// the start of head, if its line is complete and well-formed
// (CheckRequestLine); nil otherwise.
func SplitRequestLine(head []byte) (method, target []byte) {
	nl := bytes.IndexByte(head, '\n')
	if nl < 1 || head[nl-1] != '\r' || !CheckRequestLine(head[:nl-1]) {
		return nil, nil
	}
	line := head[:nl-1]
	sp := bytes.IndexByte(line, ' ')
	rest := line[sp+1:]
	return line[:sp], rest[:bytes.IndexByte(rest, ' ')]
}

// CheckVersion returns the refusal for a request's protocol version, or
// nil for HTTP/1.0 and HTTP/1.1.
func CheckVersion(proto []byte) *filters.Reason {
	switch string(proto) {
	case "HTTP/1.1", "HTTP/1.0":
		return nil
	}
	if len(proto) == 8 && string(proto[:5]) == "HTTP/" && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
		return filters.ReasonVersionNotSupported
	}
	return filters.ReasonBadRequest
}

// CheckFields checks a block of header field lines, each ended by CRLF,
// optionally followed by the empty line that ends the head.
func CheckFields(fields []byte) bool { return checkFields(fields, false) }

// checkFields is CheckFields; with fold set, a line starting with SP or
// HTAB after a field line is an obs-fold continuing it (RFC 9112 §5.2),
// and is accepted when it holds no control byte.
func checkFields(fields []byte, fold bool) bool {
	afterField := false
	for len(fields) > 0 {
		i := bytes.IndexByte(fields, '\n')
		if i < 1 || fields[i-1] != '\r' {
			return false // bare LF, or a field line with no line end
		}
		line := fields[:i-1]
		fields = fields[i+1:]
		if len(line) == 0 {
			return len(fields) == 0
		}
		if fold && afterField && (line[0] == ' ' || line[0] == '\t') {
			if !validValue(line) {
				return false
			}
			continue
		}
		afterField = true
		colon := bytes.IndexByte(line, ':')
		if colon < 1 || !filters.IsToken(filters.B2S(line[:colon])) {
			return false // obs-fold lines start with whitespace and have no name
		}
		if !validValue(line[colon+1:]) {
			return false
		}
	}
	return true
}

// validValue reports whether a field value holds no control byte but
// HTAB (RFC 9110 §5.5). Values can be long (a bearer token is about a
// kilobyte), so eight bytes are tested at once while none is below 0x20
// or DEL, and only a word that may hold one is looked at byte by byte.
func validValue(v []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		below := (x - 0x20*ones) &^ x & highs // a byte < 0x20
		d := x ^ 0x7f*ones
		del := (d - ones) &^ d & highs // a byte == 0x7f
		if below|del != 0 && !validBytes(v[:8]) {
			return false
		}
		v = v[8:]
	}
	return validBytes(v)
}

func validBytes(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// CheckHead checks a whole head, from the start line through the empty
// line, for an engine that finds the head itself: every line must end in
// CRLF, and the fields must pass CheckFields. The start line is checked
// for control bytes only (a response's status line has its own shape).
func CheckHead(head []byte) bool { return checkHead(head, false) }

// checkHead is CheckHead; fold accepts obs-fold lines (checkFields).
func checkHead(head []byte, fold bool) bool {
	i := bytes.IndexByte(head, '\n')
	if i < 1 || head[i-1] != '\r' {
		return false
	}
	for _, c := range head[:i-1] {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	rest := head[i+1:]
	ended := string(rest) == "\r\n" || bytes.HasSuffix(rest, crlfcrlf)
	return ended && checkFields(rest, fold)
}

var crlfcrlf = []byte("\r\n\r\n")

// ValidHost reports whether a Host field value is uri-host [":" port]
// (RFC 9110 §7.2, RFC 3986 §3.2.2): a bracketed IP literal, or a reg-name
// of unreserved, sub-delim and percent-escape bytes, then an optional
// port of digits. Empty is valid (a target without authority). Why it is
// checked: a lenient reader takes "u@x" as userinfo, and fasthttp's
// client turns that into an Authorization header for the upstream.
func ValidHost(h []byte) bool {
	if len(h) > 0 && h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		for _, c := range h[1:end] {
			if !(isHexDigit(c) || c == ':' || c == '.') {
				return false
			}
		}
		h = h[end+1:]
		if len(h) > 0 && h[0] != ':' {
			return false
		}
	}
	colon := bytes.LastIndexByte(h, ':')
	if colon >= 0 {
		for _, c := range h[colon+1:] {
			if !isDigit(c) {
				return false
			}
		}
		h = h[:colon]
	}
	for _, c := range h {
		if !regNameByte[c] {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// regNameByte marks the bytes of a reg-name: unreserved, sub-delims and
// '%' (RFC 3986 §3.2.2).
var regNameByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~%!$&'()*+,;=" {
		t[c] = true
	}
	return t
}()

// CheckResponseHead is CheckHead for an upstream's response head, which
// may fold a field value over several lines (obs-fold): RFC 9112 §5.2
// lets a proxy either refuse such a response with 502 or replace each
// fold with spaces and forward it. Tollgate forwards it, as fasthttp's
// parser (which the goroutine engine's upstream client reads with, and
// which unfolds as it reads) leaves no way to see a fold and refuse it;
// both engines then answer alike. Everything else CheckHead refuses is
// refused here too. CheckParsedResponse is its counterpart for an engine
// that sees only the parsed head.
func CheckResponseHead(head []byte) bool { return checkHead(head, true) }
