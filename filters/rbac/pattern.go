package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
)

// tailKind is what a pattern allows after its last fixed segment.
type tailKind uint8

const (
	tailNone     tailKind = iota // the path ends with the last segment
	tailRest                     // "*" or "{name...}": a '/' and any rest, possibly empty
	tailAnyDepth                 // "**": nothing, or a '/' and any rest
)

// segment is one fixed segment of a pattern: a literal or a {param}.
type segment struct {
	lit   string
	param bool
}

// pattern is a compiled path pattern. It is immutable after compile and
// safe for concurrent use.
//
// The syntax is the router's (literal segments, whole-segment {param}s and a
// final * or {name...}) plus a final ** that also matches the bare prefix:
//
//	/api/v1/orders          exactly that path (no trailing slash)
//	/api/v1/customers/{id}  one non-empty segment in place of {id}
//	/static/*               /static/ and anything below it, not /static
//	/api/v1/**              /api/v1, /api/v1/ and anything below it
//	/**                     every path
type pattern struct {
	raw   string
	segs  []segment
	tail  tailKind
	names []string // parameter names by segment index ("" for literals)
}

// compilePattern parses a path pattern.
func compilePattern(p string) (*pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New("pattern does not start with a slash")
	}
	parts := strings.Split(p[1:], "/")
	pt := &pattern{raw: p}
	for k, s := range parts {
		last := k == len(parts)-1
		switch {
		case s == "*" || s == "**":
			if !last {
				return nil, fmt.Errorf("wildcard %q is not the last segment", s)
			}
			if s == "*" {
				pt.tail = tailRest
			} else {
				pt.tail = tailAnyDepth
			}
		case strings.HasPrefix(s, "{") || strings.HasSuffix(s, "}"):
			if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
				return nil, fmt.Errorf("invalid parameter segment %q", s)
			}
			name, rest := strings.CutSuffix(s[1:len(s)-1], "...")
			if !isIdent(name) {
				return nil, fmt.Errorf("invalid parameter name in %q", s)
			}
			if slices.Contains(pt.names, name) {
				return nil, fmt.Errorf("duplicate parameter %q", name)
			}
			if rest {
				if !last {
					return nil, fmt.Errorf("wildcard %q is not the last segment", s)
				}
				pt.tail = tailRest
				continue
			}
			pt.segs = append(pt.segs, segment{param: true})
			pt.names = append(pt.names, name)
			if len(pt.names) > filters.MaxParams {
				return nil, fmt.Errorf("more than %d parameters", filters.MaxParams)
			}
		default:
			if s == "" && !last {
				return nil, errors.New("empty segment")
			}
			if err := checkLiteral(s); err != nil {
				return nil, err
			}
			pt.segs = append(pt.segs, segment{lit: s})
			pt.names = append(pt.names, "")
		}
	}
	return pt, nil
}

// param returns the segment index of the named parameter, or -1.
func (p *pattern) param(name string) int {
	for i, n := range p.names {
		if n == name && p.segs[i].param {
			return i
		}
	}
	return -1
}

// match reports whether path matches p. When capture is a segment index it
// also returns that segment of path (a subslice, no copy). path should be
// normalized; any other input simply fails to match or matches literally.
// match does not allocate.
func (p *pattern) match(path []byte, capture int) ([]byte, bool) {
	var val []byte
	pos := 0
	for i := range p.segs {
		if pos >= len(path) || path[pos] != '/' {
			return nil, false
		}
		pos++
		end := pos
		for end < len(path) && path[end] != '/' {
			end++
		}
		seg := path[pos:end]
		s := &p.segs[i]
		if s.param {
			if len(seg) == 0 {
				return nil, false
			}
		} else if string(seg) != s.lit {
			return nil, false
		}
		if i == capture {
			val = seg
		}
		pos = end
	}
	switch p.tail {
	case tailRest:
		if pos >= len(path) || path[pos] != '/' {
			return nil, false
		}
	case tailAnyDepth:
		if pos < len(path) && path[pos] != '/' {
			return nil, false
		}
		if len(path) == 0 {
			return nil, false
		}
	default:
		if pos != len(path) {
			return nil, false
		}
	}
	return val, true
}

// checkLiteral refuses a literal segment that no normalized request path
// can hold (RFC 3986 §3.3 pchar, §6.2.2 normalization: upper-case hex,
// unreserved characters decoded, no dot segments), and a '*' inside a
// segment, which would read as a glob but match only itself.
func checkLiteral(s string) error {
	if s == "." || s == ".." {
		return fmt.Errorf("dot segment %q never occurs in a normalized path", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '*':
			return fmt.Errorf("segment %q: '*' is a wildcard only as a whole final segment", s)
		case c == '%':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return fmt.Errorf("segment %q: escapes are written %%XX with upper-case hex", s)
			}
			d := unhex(s[i+1])<<4 | unhex(s[i+2])
			if isUnreserved(d) {
				return fmt.Errorf("segment %q: write %q instead of its escape", s, string(rune(d)))
			}
			if d == '/' || d == '\\' || d == '.' {
				return fmt.Errorf("segment %q: an encoded %q never occurs in a normalized path", s, string(rune(d)))
			}
			i += 2
		case isUnreserved(c) || strings.IndexByte("!$&'()+,;=:@", c) >= 0:
		default:
			return fmt.Errorf("segment %q: character %q must be percent-encoded", s, string(rune(c)))
		}
	}
	return nil
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// isIdent reports whether s is a letter or '_' followed by letters, digits
// and '_'.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
