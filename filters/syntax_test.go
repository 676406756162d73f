package filters_test

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

func TestBearerToken(t *testing.T) {
	f := func(v string, require bool, want string) {
		t.Helper()
		got := filters.BearerToken([]byte(v), require)
		if (got == nil) != (want == "") || string(got) != want {
			t.Errorf("BearerToken(%q, %v) = %q, want %q", v, require, got, want)
		}
	}
	f("Bearer abc", true, "abc")
	f("bEaReR\tabc  ", true, "abc")
	f("Bearer    ", true, "")
	f("Basic abc", true, "")
	f("abc", true, "")
	f("Bearerabc", true, "")
	f("", true, "")
	f("abc", false, "abc")
	f(" abc\t", false, "abc")
	f("Bearer abc", false, "abc")
}

func TestIsToken(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if filters.IsToken(s) != want {
			t.Errorf("IsToken(%q) != %v", s, want)
		}
	}
	f("GET", true)
	f("X-Api-Key", true)
	f("!#$%&'*+-.^_`|~09azAZ", true)
	f("", false)
	f("GET /", false)
	f("a:b", false)
	f("é", false)
	for _, c := range "\"(),/:;<=>?@[\\]{}" {
		f("a"+string(c), false)
	}
	f("a\x7f", false)
}

func TestIsPlainHeaderName(t *testing.T) {
	for s, want := range map[string]bool{
		"Authorization": true, "X-Auth_Subject-2": true,
		"": false, "X.Auth": false, "X Auth": false, "X:Auth": false, "é": false, "X!": false,
	} {
		if filters.IsPlainHeaderName(s) != want {
			t.Errorf("IsPlainHeaderName(%q) != %v", s, want)
		}
	}
}

func TestHexDigit(t *testing.T) {
	for c, want := range map[byte]int{'0': 0, '9': 9, 'a': 10, 'F': 15, 'g': -1, 'G': -1, '/': -1, ':': -1, '@': -1, '`': -1} {
		if got := filters.HexDigit(c); got != want {
			t.Errorf("HexDigit(%q) = %d, want %d", c, got, want)
		}
	}
}
