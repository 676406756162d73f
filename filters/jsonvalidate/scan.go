package jsonvalidate

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Syntax messages.
const (
	msgEOF       = "unexpected end of input"
	msgChar      = "unexpected character"
	msgTrailing  = "trailing data after the JSON value"
	msgControl   = "control character in string"
	msgEscape    = "invalid escape in string"
	msgNumber    = "invalid number"
	msgLiteral   = "invalid literal"
	msgDepth     = "nesting is deeper than the limit"
	msgUTF8      = "invalid UTF-8"
	msgKey       = "object key must be a string"
	msgColon     = "expected ':' after object key"
	msgSeparator = "expected ',' or the end of the container"
)

// strByte classifies bytes inside strings: 1 for bytes that end the fast
// loop ('"', '\\' and control characters, RFC 8259 §7).
var strByte = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 1
	}
	t['"'], t['\\'] = 1, 1
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, p int) int {
	for p < len(s) && isSpace(s[p]) {
		p++
	}
	return p
}

// Scanner states.
const (
	stValue = iota // a value is expected
	stAfter        // a value ended
	stKey          // an object key is expected
)

// run validates body in one pass: strict RFC 8259 syntax (one value,
// nothing after it but whitespace, no control characters in strings, valid
// escapes, valid UTF-8), the nesting limit, duplicate keys, and the schema.
// It reports false with v.fail set on the first problem. The loop keeps its
// own stack (v.stack), so hostile nesting cannot grow the goroutine stack.
func (v *validator) run(s string) bool {
	if !utf8.ValidString(s) {
		return v.malformed(firstInvalidUTF8(s), msgUTF8)
	}
	p := skipSpace(s, 0)
	state := stValue
	for {
		switch state {
		case stValue:
			if p >= len(s) {
				return v.malformed(p, msgEOF)
			}
			sch := v.enter()
			switch c := s[p]; c {
			case '{':
				if !v.objectBegin(sch) {
					if v.depthExceeded() {
						return v.malformed(p, msgDepth)
					}
					return false
				}
				p = skipSpace(s, p+1)
				if p < len(s) && s[p] == '}' {
					if !v.objectEnd() {
						return false
					}
					p++
					state = stAfter
					continue
				}
				state = stKey
			case '[':
				if !v.arrayBegin(sch) {
					if v.depthExceeded() {
						return v.malformed(p, msgDepth)
					}
					return false
				}
				p = skipSpace(s, p+1)
				if p < len(s) && s[p] == ']' {
					if !v.arrayEnd() {
						return false
					}
					p++
					state = stAfter
					continue
				}
				if !v.itemCheck() {
					return false
				}
			case '"':
				val, end, ok := v.scanString(s, p)
				if !ok {
					return false
				}
				if !v.str(sch, val) {
					return false
				}
				p = end
				state = stAfter
			case 't':
				if len(s)-p < 4 || s[p:p+4] != "true" {
					return v.malformed(p, msgLiteral)
				}
				if !v.boolean(sch, true) {
					return false
				}
				p += 4
				state = stAfter
			case 'f':
				if len(s)-p < 5 || s[p:p+5] != "false" {
					return v.malformed(p, msgLiteral)
				}
				if !v.boolean(sch, false) {
					return false
				}
				p += 5
				state = stAfter
			case 'n':
				if len(s)-p < 4 || s[p:p+4] != "null" {
					return v.malformed(p, msgLiteral)
				}
				if !v.null(sch) {
					return false
				}
				p += 4
				state = stAfter
			default:
				if c != '-' && !isDigit(c) {
					return v.malformed(p, msgChar)
				}
				end := scanNumber(s, p)
				if end < 0 {
					return v.malformed(p, msgNumber)
				}
				if !v.number(sch, s[p:end]) {
					return false
				}
				p = end
				state = stAfter
			}

		case stAfter:
			p = skipSpace(s, p)
			if len(v.stack) == 0 {
				if p != len(s) {
					return v.malformed(p, msgTrailing)
				}
				return true
			}
			if p >= len(s) {
				return v.malformed(p, msgEOF)
			}
			t := &v.stack[len(v.stack)-1]
			switch c := s[p]; {
			case c == ',':
				p = skipSpace(s, p+1)
				if t.obj {
					state = stKey
				} else {
					if !v.itemCheck() {
						return false
					}
					state = stValue
				}
			case c == '}' && t.obj:
				if !v.objectEnd() {
					return false
				}
				p++
			case c == ']' && !t.obj:
				if !v.arrayEnd() {
					return false
				}
				p++
			default:
				return v.malformed(p, msgSeparator)
			}

		case stKey:
			if p >= len(s) {
				return v.malformed(p, msgEOF)
			}
			if s[p] != '"' {
				return v.malformed(p, msgKey)
			}
			start := p + 1
			key, end, ok := v.scanString(s, p)
			if !ok {
				return false
			}
			raw := s[start : end-1]
			if !v.key(key, raw, hasBackslash(raw)) {
				return false
			}
			p = skipSpace(s, end)
			if p >= len(s) || s[p] != ':' {
				return v.malformed(p, msgColon)
			}
			p = skipSpace(s, p+1)
			state = stValue
		}
	}
}

func hasBackslash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			return true
		}
	}
	return false
}

// scanString reads the string starting at the quote at p. It returns its
// unescaped value (a substring of s when it has no escapes, else a view of
// v.scratch valid until the next string), and the offset after the closing
// quote.
func (v *validator) scanString(s string, p int) (string, int, bool) {
	i := p + 1
	start := i
	// Fast path: no escapes.
	for i < len(s) && strByte[s[i]] == 0 {
		i++
	}
	if i >= len(s) {
		return "", 0, v.malformed(i, msgEOF)
	}
	if s[i] == '"' {
		return s[start:i], i + 1, true
	}
	if s[i] != '\\' {
		return "", 0, v.malformed(i, msgControl)
	}
	// Slow path: validate the rest and unescape into scratch.
	buf := append(v.scratch[:0], s[start:i]...)
	for {
		for i < len(s) && strByte[s[i]] == 0 {
			i++
		}
		if i >= len(s) {
			v.scratch = buf
			return "", 0, v.malformed(i, msgEOF)
		}
		switch c := s[i]; {
		case c == '"':
			v.scratch = buf
			return b2s(buf), i + 1, true
		case c < 0x20:
			v.scratch = buf
			return "", 0, v.malformed(i, msgControl)
		}
		// c == '\\'
		n, r := escapeAt(s, i)
		if n == 0 {
			v.scratch = buf
			return "", 0, v.malformed(i, msgEscape)
		}
		buf = utf8.AppendRune(buf, r)
		i += n
		// Copy the plain run that follows.
		j := i
		for j < len(s) && strByte[s[j]] == 0 {
			j++
		}
		buf = append(buf, s[i:j]...)
		i = j
	}
}

// escapeAt decodes the escape at s[i] == '\\' (RFC 8259 §7). It returns the
// escape's length (0 when invalid) and the rune. A \u escape of a lone
// surrogate decodes to U+FFFD, as encoding/json does; a valid pair is
// combined (length 12).
func escapeAt(s string, i int) (int, rune) {
	if i+1 >= len(s) {
		return 0, 0
	}
	switch s[i+1] {
	case '"':
		return 2, '"'
	case '\\':
		return 2, '\\'
	case '/':
		return 2, '/'
	case 'b':
		return 2, '\b'
	case 'f':
		return 2, '\f'
	case 'n':
		return 2, '\n'
	case 'r':
		return 2, '\r'
	case 't':
		return 2, '\t'
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return 0, 0
		}
		if !utf16.IsSurrogate(r) {
			return 6, r
		}
		if r < 0xdc00 && i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
			if r2, ok := hex4(s, i+8); ok {
				if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
					return 12, c
				}
			}
		}
		return 6, utf8.RuneError
	}
	return 0, 0
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the value of a string body already checked by
// scanString.
func unescape(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			dst = append(dst, raw[i])
			i++
			continue
		}
		n, r := escapeAt(raw, i)
		if n == 0 {
			return append(dst, raw[i:]...)
		}
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst
}

// scanNumber returns the end of the number literal at p (RFC 8259 §6), or
// -1 when it is malformed. What follows the literal is checked by the
// caller (a delimiter or the end).
func scanNumber(s string, p int) int {
	i := p
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return -1
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == d {
			return -1
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == d {
			return -1
		}
	}
	return i
}

// firstInvalidUTF8 returns the offset of the first invalid UTF-8 sequence.
func firstInvalidUTF8(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(s)
}
