package router

import "errors"

// MaxPathLen is the longest path, in bytes, that Normalize accepts as input
// or produces as output.
const MaxPathLen = 8 << 10

// Errors returned by Normalize. Each is a path trick or a malformed path that
// the proxy answers with 400 Bad Request.
var (
	// ErrNotAbsolute means the path does not start with '/'.
	ErrNotAbsolute = errors.New("router: path does not start with a slash")
	// ErrPathTooLong means the path, before or after normalization, is
	// longer than MaxPathLen.
	ErrPathTooLong = errors.New("router: path too long")
	// ErrBadEscape means a '%' is not followed by two hex digits.
	ErrBadEscape = errors.New("router: invalid percent escape")
	// ErrEncodedSlash means the path holds %2F or %5C, which a backend may
	// decode into a segment separator the proxy never saw.
	ErrEncodedSlash = errors.New("router: encoded slash or backslash")
	// ErrBackslash means the path holds a raw backslash, which some
	// backends treat as a slash.
	ErrBackslash = errors.New("router: backslash")
	// ErrNUL means the path holds a NUL byte, raw or as %00.
	ErrNUL = errors.New("router: nul byte")
	// ErrBadByte means the path holds a raw control byte, space, DEL or a
	// byte at or above 0x80; those must be percent-encoded.
	ErrBadByte = errors.New("router: control, space or non-ascii byte")
	// ErrEncodedDotSegment means a "." or ".." segment was written with a
	// percent-encoded dot, as in %2e%2e or .%2E.
	ErrEncodedDotSegment = errors.New("router: percent-encoded dot segment")
	// ErrDotSegmentParam means a "." or ".." segment is followed by ';'
	// (raw or %3B), as in /a/..;/b, which Tomcat-style servers strip to a
	// dot segment after the proxy has routed the request.
	ErrDotSegmentParam = errors.New("router: dot segment with parameters")
)

// Byte classes of raw path bytes.
const (
	cBad       = iota // control, space, DEL, >= 0x80: refused
	cKeep             // pchar kept as is (RFC 3986 §3.3)
	cEncode           // printable but not a pchar: percent-encoded
	cPercent          // starts an escape
	cSlash            // segment separator
	cBackslash        // refused
	cNUL              // refused
)

// byteClass classifies raw path bytes. It is computed once and never
// written afterwards.
var byteClass = func() (t [256]uint8) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = cEncode
	}
	for c := 0; c < 256; c++ {
		if isUnreserved(byte(c)) {
			t[c] = cKeep
		}
	}
	// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
	for _, c := range []byte("!$&'()*+,;=:@") {
		t[c] = cKeep
	}
	t['%'] = cPercent
	t['/'] = cSlash
	t['\\'] = cBackslash
	t[0] = cNUL
	return t
}()

// unhex maps a hex digit to its value and every other byte to -1.
var unhex = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// isUnreserved reports whether c is an RFC 3986 §2.3 unreserved character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// Normalize appends the normalized form of the request path raw (the part of
// the target before '?') to dst and returns the extended slice. It does not
// allocate when dst has room for the result. On error it returns dst
// unchanged in length (its spare capacity may have been written).
//
// The normalized form:
//   - starts with '/' and is at most MaxPathLen bytes long;
//   - has escapes of unreserved characters decoded (RFC 3986 §2.3, §6.2.2.2)
//     and every other escape written with upper-case hex (§6.2.2.1);
//   - has printable ASCII bytes that are not pchars (such as '|', '{',
//     '"') percent-encoded, so "/a|b" and "/a%7Cb" route alike;
//   - has no "." or ".." segments (§5.2.4; ".." at the root stays at the
//     root) and no empty segments except one trailing slash, which is kept.
//
// Normalize is idempotent. Refusals are reported with the package's Err*
// sentinels.
func Normalize(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst, ErrNotAbsolute
	}
	if len(raw) > MaxPathLen {
		return dst, ErrPathTooLong
	}
	base := len(dst)
	out := append(dst, '/')
	n := len(raw)
	i := 1
	for {
		// Invariant: out ends with '/' and i is the start of a segment.
		segStart := len(out)
		encDot := false
		for i < n && raw[i] != '/' {
			c := raw[i]
			switch byteClass[c] {
			case cKeep:
				// Copy the run of plain bytes at once.
				j := i + 1
				for j < n && byteClass[raw[j]] == cKeep {
					j++
				}
				out = append(out, raw[i:j]...)
				i = j
			case cPercent:
				if i+2 >= n {
					return dst, ErrBadEscape
				}
				hi, lo := unhex[raw[i+1]], unhex[raw[i+2]]
				if hi < 0 || lo < 0 {
					return dst, ErrBadEscape
				}
				v := byte(hi)<<4 | byte(lo)
				switch {
				case v == 0:
					return dst, ErrNUL
				case v == '/' || v == '\\':
					return dst, ErrEncodedSlash
				case isUnreserved(v): // RFC 3986 §6.2.2.2
					out = append(out, v)
					encDot = encDot || v == '.'
				default: // RFC 3986 §6.2.2.1
					out = append(out, '%', upperHex[v>>4], upperHex[v&15])
				}
				i += 3
			case cEncode:
				out = append(out, '%', upperHex[c>>4], upperHex[c&15])
				i++
			case cBackslash:
				return dst, ErrBackslash
			case cNUL:
				return dst, ErrNUL
			default:
				return dst, ErrBadByte
			}
		}
		seg := out[segStart:]
		switch {
		case len(seg) == 1 && seg[0] == '.':
			// RFC 3986 §5.2.4 step 2B/2D: drop ".".
			if encDot {
				return dst, ErrEncodedDotSegment
			}
			out = out[:segStart]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			// RFC 3986 §5.2.4 step 2C: ".." removes the previous segment;
			// at the root it stays at the root.
			if encDot {
				return dst, ErrEncodedDotSegment
			}
			out = popSegment(out, base, segStart)
		case isDotParam(seg):
			return dst, ErrDotSegmentParam
		case len(seg) > 0 && i < n:
			out = append(out, '/')
		}
		// Empty segments add nothing: duplicate slashes collapse and a
		// trailing slash stays as the '/' out already ends with.
		if i >= n {
			break
		}
		i++ // skip '/'
	}
	if len(out)-base > MaxPathLen {
		return dst, ErrPathTooLong
	}
	return out, nil
}

// popSegment removes the last complete segment of out[base:segStart], which
// ends with '/', keeping that segment's leading '/'.
func popSegment(out []byte, base, segStart int) []byte {
	j := segStart - 1 // the '/' before the ".." segment
	if j == base {
		return out[:base+1]
	}
	for j--; j > base && out[j] != '/'; j-- {
	}
	return out[:j+1]
}

// isDotParam reports whether seg is a dot segment followed by a path
// parameter: ".;…", "..;…", ".%3B…" or "..%3B…".
func isDotParam(seg []byte) bool {
	k := 0
	for k < len(seg) && k < 2 && seg[k] == '.' {
		k++
	}
	if k == 0 || k == len(seg) {
		return false
	}
	rest := seg[k:]
	return rest[0] == ';' || len(rest) >= 3 && rest[0] == '%' && rest[1] == '3' && rest[2] == 'B'
}
