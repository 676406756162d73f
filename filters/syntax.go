package filters

import "strings"

// BearerToken extracts a token from a header value, or returns nil when
// there is none. With requireScheme (the header is Authorization) the
// value must use the Bearer scheme, matched case-insensitively (RFC 9110
// §11.1, RFC 6750 §2.1); otherwise a "Bearer " prefix is optional. Spaces
// and tabs around the token are dropped. The result aliases v.
func BearerToken(v []byte, requireScheme bool) []byte {
	if len(v) == 0 {
		return nil
	}
	hasScheme := len(v) > 7 && (v[6] == ' ' || v[6] == '\t') && equalFoldLower(v[:6], "bearer")
	if hasScheme {
		v = v[7:]
	} else if requireScheme {
		return nil
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	if len(v) == 0 {
		return nil
	}
	return v
}

// equalFoldLower reports whether the ASCII letters b equal lower, ignoring
// case.
func equalFoldLower(b []byte, lower string) bool {
	for i := range b {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// IsToken reports whether s is an HTTP token (RFC 9110 §5.6.2): the syntax
// of a method name and of a header field name.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// IsPlainHeaderName reports whether s is a header name made only of
// letters, digits, '-' and '_': the strict subset of a token that filters
// accept for the headers they read credentials from or forward identity
// in, so that a configured name cannot smuggle separators or odd bytes.
func IsPlainHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

// HexDigit returns the value of the hexadecimal digit c (either case), or
// -1 when c is not one.
func HexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
