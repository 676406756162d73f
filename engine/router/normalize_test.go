package router

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := Normalize(nil, []byte(in))
		if err != nil {
			t.Fatalf("Normalize(%q): unexpected error: %v", in, err)
		}
		if string(got) != want {
			t.Fatalf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	// Unchanged.
	f("/", "/")
	f("/a", "/a")
	f("/a/b/c", "/a/b/c")
	f("/api/v1/customers/42", "/api/v1/customers/42")
	f("/a-b_c~d.e", "/a-b_c~d.e")
	f("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=")
	f("/...", "/...")
	f("/a/.../b", "/a/.../b")
	f("/.a/..b/a./a..", "/.a/..b/a./a..")
	f("/a;b/c", "/a;b/c")
	// Trailing slash kept.
	f("/a/", "/a/")
	f("/a/b/", "/a/b/")
	// Duplicate slashes collapse.
	f("//", "/")
	f("///", "/")
	f("//a///b", "/a/b")
	f("/a//", "/a/")
	f("//a//b//", "/a/b/")
	// Dot segments, RFC 3986 §5.2.4.
	f("/.", "/")
	f("/..", "/")
	f("/./", "/")
	f("/../", "/")
	f("/a/.", "/a/")
	f("/a/..", "/")
	f("/a/./b", "/a/b")
	f("/a/./b/../c", "/a/c")
	f("/a/b/c/./../../g", "/a/g")
	f("/mid/content=5/../6", "/mid/6")
	f("/../../../etc/passwd", "/etc/passwd")
	f("/a/../../b", "/b")
	f("/a/b/..", "/a/")
	f("/a/b/../", "/a/")
	f("/a//..", "/")
	f("/a/.//./b", "/a/b")
	f("/a/b/.././../c/", "/c/")
	// Unreserved escapes decoded (§2.3, §6.2.2.2).
	f("/%41%42%43", "/ABC")
	f("/%61%7a%30%39", "/az09")
	f("/%2D%2e%5F%7E", "/-._~")
	f("/a%2Eb", "/a.b")
	f("/%2Efoo", "/.foo")
	f("/foo%2E", "/foo.")
	f("/%2E%2E%2E", "/...")
	// Other escapes kept, upper-case hex (§6.2.2.1).
	f("/a%20b", "/a%20b")
	f("/%3f", "/%3F")
	f("/%3F", "/%3F")
	f("/%e2%82%ac", "/%E2%82%AC")
	f("/%25", "/%25")
	f("/%252e", "/%252e")
	f("/%3b", "/%3B")
	f("/%0a%0D", "/%0A%0D")
	f("/%7f%ff", "/%7F%FF")
	f("/a%3Bb", "/a%3Bb")
	// Printable non-pchars percent-encoded.
	f("/a|b", "/a%7Cb")
	f("/{x}", "/%7Bx%7D")
	f(`/"<>^`+"`", "/%22%3C%3E%5E%60")
	f("/[::1]", "/%5B::1%5D")
	f("/a#b", "/a%23b")
	f("/a?b", "/a%3Fb")
}

func TestNormalizeAppends(t *testing.T) {
	dst := []byte("prefix/x/")
	got, err := Normalize(dst, []byte("/../a"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "prefix/x//a" {
		t.Fatalf("got %q, want the prefix kept and .. stopped at the path root", got)
	}
	got, err = Normalize(dst, []byte("/a%2fb"))
	if !errors.Is(err, ErrEncodedSlash) || string(got) != "prefix/x/" {
		t.Fatalf("error case: got %q, %v; want dst unchanged and ErrEncodedSlash", got, err)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	f := func(in string, want error) {
		t.Helper()
		got, err := Normalize(nil, []byte(in))
		if !errors.Is(err, want) {
			t.Fatalf("Normalize(%q) = %q, %v; want error %v", in, got, err, want)
		}
		if !strings.HasPrefix(err.Error(), "router: ") {
			t.Fatalf("error %q lacks the router: prefix", err)
		}
	}
	// Not absolute.
	f("", ErrNotAbsolute)
	f("a/b", ErrNotAbsolute)
	f("*", ErrNotAbsolute)
	f("http://example.com/", ErrNotAbsolute)
	f("%2Fa", ErrNotAbsolute)
	f(`\a`, ErrNotAbsolute)
	// Encoded slash and backslash.
	f("/a%2fb", ErrEncodedSlash)
	f("/a%2Fb", ErrEncodedSlash)
	f("/a%5cb", ErrEncodedSlash)
	f("/a%5Cb", ErrEncodedSlash)
	f("/..%2f..%2fetc/passwd", ErrEncodedSlash)
	f("/%2e%2e%2f", ErrEncodedSlash)
	f("/static/..%5c..%5cwindows", ErrEncodedSlash)
	// Raw backslash.
	f(`/a\b`, ErrBackslash)
	f(`/..\..\etc`, ErrBackslash)
	f(`/a/\`, ErrBackslash)
	// Encoded dot segments.
	f("/a/%2e%2e/b", ErrEncodedDotSegment)
	f("/a/%2E%2E/b", ErrEncodedDotSegment)
	f("/a/.%2E/b", ErrEncodedDotSegment)
	f("/a/%2e./b", ErrEncodedDotSegment)
	f("/a/%2e/b", ErrEncodedDotSegment)
	f("/%2e", ErrEncodedDotSegment)
	f("/%2e%2e", ErrEncodedDotSegment)
	f("/a/%2E%2e", ErrEncodedDotSegment)
	// NUL, raw and encoded.
	f("/a\x00b", ErrNUL)
	f("/a%00", ErrNUL)
	f("/%00/..", ErrNUL)
	// Bad escapes.
	f("/%", ErrBadEscape)
	f("/%4", ErrBadEscape)
	f("/a%4/b", ErrBadEscape)
	f("/%zz", ErrBadEscape)
	f("/%ZZ", ErrBadEscape)
	f("/%g0", ErrBadEscape)
	f("/%0g", ErrBadEscape)
	f("/%%30", ErrBadEscape)
	f("/a%", ErrBadEscape)
	f("/%-1", ErrBadEscape)
	f("/% 1", ErrBadEscape)
	// Raw bytes that must be encoded.
	f("/a b", ErrBadByte)
	f("/a\tb", ErrBadByte)
	f("/a\r\nHost: evil", ErrBadByte)
	f("/a\nb", ErrBadByte)
	f("/a\x7fb", ErrBadByte)
	f("/a\x01", ErrBadByte)
	f("/caf\xc3\xa9", ErrBadByte)
	f("/\xe2\x80\xae", ErrBadByte)
	f("/\xff", ErrBadByte)
	f("/\xc0\xae\xc0\xae/", ErrBadByte) // overlong UTF-8 dot
	f("/..\xc0\xaf", ErrBadByte)        // overlong UTF-8 slash
	// Tomcat-style dot segments with parameters.
	f("/a/..;/b", ErrDotSegmentParam)
	f("/a/.;/b", ErrDotSegmentParam)
	f("/..;", ErrDotSegmentParam)
	f("/a/..;jsessionid=1/b", ErrDotSegmentParam)
	f("/a/.;x", ErrDotSegmentParam)
	f("/a/..%3b/b", ErrDotSegmentParam)
	f("/a/..%3B/b", ErrDotSegmentParam)
	f("/a/.%3B", ErrDotSegmentParam)
	f("/a/%2e%2e;/b", ErrDotSegmentParam)
	// Too long.
	f("/"+strings.Repeat("a", MaxPathLen), ErrPathTooLong)
	f("/"+strings.Repeat("|", MaxPathLen/3+1), ErrPathTooLong) // too long once encoded
}

func TestNormalizeMaxLen(t *testing.T) {
	in := "/" + strings.Repeat("a", MaxPathLen-1)
	got, err := Normalize(nil, []byte(in))
	if err != nil || string(got) != in {
		t.Fatalf("a path of exactly MaxPathLen bytes: got %d bytes, %v", len(got), err)
	}
}

// attackPaths are path tricks and near misses used by the property test and
// as fuzz seeds.
var attackPaths = []string{
	"/", "//", "/.", "/..", "/a/./b/../c", "//a///b", "/a/%2e%2e/b", "/..%2f..%2fetc/passwd",
	"/a/..;/b", "/a/.;/b", "/%00", "/%ZZ", "/%4", "/caf\xc3\xa9", "/a%2Eb", "/%2E%2E%2E",
	"/a/b/../../../../c", "/a|b{c}", "/%7e%7E~", "/a/.../b", "/a/..../b", "/a/..a/b",
	"/static/%2e./x", "/a//../b", "/a/.%2e/", "/api/v1/customers/42/", "/files/a/b/c.txt",
	"/;/..;/", "/a;/../b", "/a%3b/../b", "/%3b..", "/...;/", "/a/b/c/d/e/f/g/h/i/j/k",
	"/a\\b", "/a%5cb", "/a b", "/x?y", "/x#y", "/%25%32%65", "/%c0%ae%c0%ae/", "/.%00.",
}

func TestNormalizeProperties(t *testing.T) {
	for _, in := range attackPaths {
		checkNormalizeProperties(t, []byte(in))
	}
}

// checkNormalizeProperties checks idempotence and the output invariants.
func checkNormalizeProperties(t *testing.T, in []byte) {
	t.Helper()
	out, err := Normalize(nil, in)
	if err != nil {
		if len(out) != 0 {
			t.Fatalf("Normalize(%q) failed with %v but returned %q", in, err, out)
		}
		return
	}
	again, err := Normalize(nil, out)
	if err != nil {
		t.Fatalf("Normalize(%q) = %q, which does not normalize again: %v", in, out, err)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
	}
	if len(out) == 0 || out[0] != '/' || len(out) > MaxPathLen {
		t.Fatalf("Normalize(%q) = %q: not absolute or too long", in, out)
	}
	for _, bad := range []string{"//", "/./", "/../"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Fatalf("Normalize(%q) = %q contains %q", in, out, bad)
		}
	}
	if bytes.HasSuffix(out, []byte("/.")) || bytes.HasSuffix(out, []byte("/..")) {
		t.Fatalf("Normalize(%q) = %q ends with a dot segment", in, out)
	}
	for i, c := range out {
		switch {
		case c <= ' ' || c >= 0x7f || c == '\\':
			t.Fatalf("Normalize(%q) = %q has raw byte %#x", in, out, c)
		case c == '%':
			if i+2 >= len(out) || unhex[out[i+1]] < 0 || unhex[out[i+2]] < 0 {
				t.Fatalf("Normalize(%q) = %q has a bad escape", in, out)
			}
			v := byte(unhex[out[i+1]])<<4 | byte(unhex[out[i+2]])
			if isUnreserved(v) || v == '/' || v == '\\' || v == 0 || 'a' <= out[i+1] || 'a' <= out[i+2] {
				t.Fatalf("Normalize(%q) = %q has a non-canonical escape at %d", in, out, i)
			}
		}
	}
}
