package jsonvalidate

import (
	"errors"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Why exact media types: a body the filter lets through as JSON is one the
// upstream will parse as JSON. A lenient match ("contains json",
// "application/jsonx", "text/json;", a second Content-Type the upstream
// may read instead of the first, a charset the filter does not decode)
// lets a client send bytes the filter checked as one thing and the
// upstream reads as another. So the Content-Type must be exactly one
// field, parsed by RFC 9110 §8.3.1's grammar (type "/" subtype, then
// parameters, token "=" token or quoted-string), naming an allowed type;
// a charset parameter may only say UTF-8, the one encoding JSON exchanged
// between systems may use (RFC 8259 §8.1).

// DefaultMediaTypes are the media types accepted when media_types is not
// set: JSON and any application type with the +json structured syntax
// suffix (RFC 6839 §3.1), such as application/merge-patch+json.
var DefaultMediaTypes = []string{"application/json", "application/*+json"}

// mediaType is one entry of the allow-list, in lower case: type/subtype
// exactly, or, with suffix set, any subtype of typ ending in "+json".
type mediaType struct {
	typ, sub string
	suffix   bool
}

// compileMediaType checks and lowers one media_types entry.
func compileMediaType(e string) (mediaType, error) {
	typ, sub, ok := strings.Cut(strings.ToLower(e), "/")
	switch {
	case !ok || !filters.IsToken(typ) || typ == "*":
		return mediaType{}, errors.New(quote(e) + " is not type/subtype")
	case sub == "*+json":
		return mediaType{typ: typ, sub: "+json", suffix: true}, nil
	case !filters.IsToken(sub) || strings.Contains(sub, "*"):
		return mediaType{}, errors.New(quote(e) + " is not type/subtype or type/*+json")
	}
	return mediaType{typ: typ, sub: sub}, nil
}

func quote(s string) string { return `"` + s + `"` }

// allows reports whether the Content-Type value ct names an allowed media
// type with acceptable parameters.
func allows(types []mediaType, ct []byte) bool {
	typ, sub, ok := parseMediaType(ct)
	if !ok {
		return false
	}
	for _, m := range types {
		if !equalFold(typ, m.typ) {
			continue
		}
		if m.suffix {
			if len(sub) > len(m.sub) && equalFold(sub[len(sub)-len(m.sub):], m.sub) {
				return true
			}
		} else if equalFold(sub, m.sub) {
			return true
		}
	}
	return false
}

// parseMediaType parses a Content-Type field value (RFC 9110 §8.3.1,
// §5.6.6):
//
//	media-type = type "/" subtype parameters
//	parameters = *( OWS ";" OWS [ parameter ] )
//	parameter  = token "=" ( token / quoted-string )
//
// It returns the type and subtype as sent, and ok false for anything
// else: a value that does not follow the grammar, a parameter named twice,
// or a charset other than UTF-8.
func parseMediaType(ct []byte) (typ, sub []byte, ok bool) {
	i := tokenEnd(ct, 0)
	if i == 0 || i == len(ct) || ct[i] != '/' {
		return nil, nil, false
	}
	typ = ct[:i]
	j := tokenEnd(ct, i+1)
	if j == i+1 {
		return nil, nil, false
	}
	sub = ct[i+1 : j]
	rest := ct[j:]
	var names [8][]byte // parameter names seen, to refuse repeats
	seen := 0
	for {
		rest = skipOWS(rest)
		if len(rest) == 0 {
			return typ, sub, true
		}
		if rest[0] != ';' {
			return nil, nil, false
		}
		rest = skipOWS(rest[1:])
		if len(rest) == 0 || rest[0] == ';' {
			continue // an empty parameter
		}
		n := tokenEnd(rest, 0)
		if n == 0 || n == len(rest) || rest[n] != '=' {
			return nil, nil, false
		}
		name := rest[:n]
		rest = rest[n+1:]
		var val []byte
		if len(rest) > 0 && rest[0] == '"' {
			var quoted bool
			val, rest, quoted = quotedString(rest)
			if !quoted {
				return nil, nil, false
			}
		} else {
			v := tokenEnd(rest, 0)
			if v == 0 {
				return nil, nil, false
			}
			val, rest = rest[:v], rest[v:]
		}
		for _, seenName := range names[:seen] {
			if equalFoldBytes(seenName, name) {
				return nil, nil, false
			}
		}
		if seen == len(names) {
			return nil, nil, false // more parameters than any JSON type needs
		}
		names[seen] = name
		seen++
		if equalFold(name, "charset") && !equalFold(val, "utf-8") && !equalFold(val, "utf8") {
			return nil, nil, false
		}
	}
}

// quotedString reads a quoted-string (RFC 9110 §5.6.4) at the start of b:
// its value with the quoting kept (escapes are rare and only a charset's
// value is compared), and what follows it.
func quotedString(b []byte) (val, rest []byte, ok bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c == '\\':
			i++
			if i == len(b) || !qdtext(b[i]) && b[i] != '"' && b[i] != '\\' {
				return nil, nil, false
			}
		case !qdtext(c):
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// qdtext reports whether c may appear unescaped in a quoted-string: HTAB,
// SP and visible characters but '"' and '\' (obs-text is not accepted).
func qdtext(c byte) bool {
	return c == '\t' || c == ' ' || (c > ' ' && c < 0x7f && c != '"' && c != '\\')
}

// tokenEnd returns the index after the token starting at b[from:].
func tokenEnd(b []byte, from int) int {
	i := from
	for i < len(b) && isTokenByte(b[i]) {
		i++
	}
	return i
}

// isTokenByte reports whether c is a tchar (RFC 9110 §5.6.2), the byte
// rule of filters.IsToken.
func isTokenByte(c byte) bool { return tchars[c] }

// tchars is isTokenByte's table, built once and never written again.
var tchars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c < 0x80 && strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

func skipOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// equalFoldBytes compares two ASCII byte strings case-insensitively.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
