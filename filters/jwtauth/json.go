package jwtauth

import (
	"errors"
	"unicode/utf8"

	"github.com/tollgate-proxy/tollgate/filters"
)

// This file is a small, strict JSON scanner: just enough to walk the
// members of a JWS header or a JWT claims set (RFC 8259) without building
// maps. It validates everything it skips, so a value this package accepts
// is a value encoding/json accepts too.

// maxDepth bounds nesting in headers and claims; real tokens nest two or
// three levels.
const maxDepth = 32

var errJSON = errors.New("jwtauth: malformed JSON")

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// scanString expects b[i] == '"' and returns the index after the closing
// quote and whether the string holds escapes.
func scanString(b []byte, i int) (int, bool, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, errJSON
	}
	esc := false
	for i++; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return 0, false, errJSON
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false, errJSON
				}
				for k := 1; k <= 4; k++ {
					if filters.HexDigit(b[i+k]) < 0 {
						return 0, false, errJSON
					}
				}
				i += 4
			default:
				return 0, false, errJSON
			}
		case c < 0x20:
			return 0, false, errJSON
		}
	}
	return 0, false, errJSON
}

func hex4(b []byte) rune {
	return rune(filters.HexDigit(b[0])<<12 | filters.HexDigit(b[1])<<8 | filters.HexDigit(b[2])<<4 | filters.HexDigit(b[3]))
}

// unescape appends the decoded content of the already validated string
// body raw (without quotes) to dst. Lone surrogates and invalid UTF-8
// bytes become U+FFFD, as in encoding/json.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size - 1
			continue
		}
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+1:])
			i += 4
			if 0xd800 <= r && r < 0xdc00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2 := hex4(raw[i+3:]); 0xdc00 <= r2 && r2 < 0xe000 {
					r = (r-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
					i += 6
				}
			}
			if 0xd800 <= r && r < 0xe000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
	}
	return dst
}

// scanNumber returns the index after the number starting at b[i] (RFC 8259
// §6 grammar).
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return 0, errJSON
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, errJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, errJSON
		}
	}
	if i == start {
		return 0, errJSON
	}
	return i, nil
}

// skipValue validates the value starting at b[i] (no leading whitespace)
// and returns the index after it.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errJSON
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return 0, errJSON
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i, _, err = scanString(b, i); err != nil {
					return 0, err
				}
				i = skipWS(b, i)
				if i >= len(b) || b[i] != ':' {
					return 0, errJSON
				}
				i = skipWS(b, i+1)
			}
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, errJSON
			}
			if b[i] == closing {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errJSON
			}
			i = skipWS(b, i+1)
		}
	case c == 't':
		return lit(b, i, "true")
	case c == 'f':
		return lit(b, i, "false")
	case c == 'n':
		return lit(b, i, "null")
	default:
		return scanNumber(b, i)
	}
}

func lit(b []byte, i int, s string) (int, error) {
	if len(b)-i < len(s) || string(b[i:i+len(s)]) != s {
		return 0, errJSON
	}
	return i + len(s), nil
}

// members iterates over the members of a JSON object. It validates each
// value it passes over; after the last member, err reports any syntax
// error, including trailing bytes after a top-level object.
type members struct {
	b     []byte
	i     int
	depth int
	top   bool
	state uint8 // 0 before '{', 1 inside, 2 done
	err   error
}

func newMembers(b []byte, top bool, depth int) members {
	return members{b: b, top: top, depth: depth}
}

// next returns the raw key body (without quotes, escapes not decoded), a
// flag telling whether it holds escapes, and the raw value.
func (m *members) next() (key []byte, keyEsc bool, val []byte, ok bool) {
	b := m.b
	switch m.state {
	case 0:
		m.i = skipWS(b, 0)
		if m.i >= len(b) || b[m.i] != '{' {
			return m.fail()
		}
		if m.depth >= maxDepth {
			return m.fail()
		}
		m.i = skipWS(b, m.i+1)
		m.state = 1
		if m.i < len(b) && b[m.i] == '}' {
			return m.finish(m.i + 1)
		}
	case 1:
	default:
		return nil, false, nil, false
	}
	ks := m.i
	ke, esc, err := scanString(b, ks)
	if err != nil {
		return m.fail()
	}
	i := skipWS(b, ke)
	if i >= len(b) || b[i] != ':' {
		return m.fail()
	}
	vs := skipWS(b, i+1)
	ve, err := skipValue(b, vs, m.depth+1)
	if err != nil {
		return m.fail()
	}
	i = skipWS(b, ve)
	switch {
	case i < len(b) && b[i] == ',':
		m.i = skipWS(b, i+1)
	case i < len(b) && b[i] == '}':
		m.finish(i + 1)
		if m.err != nil {
			return nil, false, nil, false
		}
	default:
		return m.fail()
	}
	return b[ks+1 : ke-1], esc, b[vs:ve], true
}

func (m *members) finish(end int) ([]byte, bool, []byte, bool) {
	m.state = 2
	if m.top && skipWS(m.b, end) != len(m.b) {
		m.err = errJSON
	}
	return nil, false, nil, false
}

func (m *members) fail() ([]byte, bool, []byte, bool) {
	m.state = 2
	m.err = errJSON
	return nil, false, nil, false
}

// elements iterates over the elements of a JSON array already validated by
// skipValue.
type elements struct {
	b []byte
	i int
}

func newElements(arr []byte) elements { return elements{b: arr, i: 1} }

func (e *elements) next() ([]byte, bool) {
	b := e.b
	i := skipWS(b, e.i)
	if i >= len(b) || b[i] == ']' {
		return nil, false
	}
	end, err := skipValue(b, i, 0)
	if err != nil {
		return nil, false
	}
	j := skipWS(b, end)
	if j < len(b) && b[j] == ',' {
		j++
	}
	e.i = j
	return b[i:end], true
}

// stringValue returns the decoded content of the JSON string v, using
// scratch for unescaping. ok is false when v is not a string.
func stringValue(v, scratch []byte) (s, rest []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, scratch, false
	}
	body := v[1 : len(v)-1]
	ascii := true
	for _, c := range body {
		if c == '\\' {
			return unescapeInto(scratch, body)
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	if !ascii && !utf8.Valid(body) {
		return unescapeInto(scratch, body)
	}
	return body, scratch, true
}

func unescapeInto(scratch, body []byte) (s, rest []byte, ok bool) {
	start := len(scratch)
	scratch = unescape(scratch, body)
	return scratch[start:], scratch, true
}

// keyIs reports whether the raw key body equals name once unescaped.
func keyIs(key []byte, esc bool, name string) bool {
	if !esc {
		return string(key) == name
	}
	if len(key) > 6*len(name)+8 {
		return false
	}
	var buf [256]byte
	return string(unescape(buf[:0], key)) == name
}
