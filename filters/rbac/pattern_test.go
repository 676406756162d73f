package rbac

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	f := func(pat, path string, want bool) {
		t.Helper()
		p, err := compilePattern(pat)
		if err != nil {
			t.Fatalf("compile %q: %v", pat, err)
		}
		if _, got := p.match([]byte(path), -1); got != want {
			t.Errorf("%q vs %q: got %v, want %v", pat, path, got, want)
		}
		if ref := refMatch(pat, path); ref != want {
			t.Errorf("%q vs %q: reference says %v, want %v", pat, path, ref, want)
		}
	}
	// Literals: exact, trailing slash significant.
	f("/", "/", true)
	f("/", "/a", false)
	f("/", "", false)
	f("/a", "/a", true)
	f("/a", "/a/", false)
	f("/a", "/ab", false)
	f("/a", "/A", false)
	f("/a/", "/a/", true)
	f("/a/", "/a", false)
	f("/a/", "/a/b", false)
	f("/a/b", "/a/b", true)
	f("/a/b", "/a", false)
	f("/a/b", "/a/b/c", false)
	f("/a%20b", "/a%20b", true)
	f("/a", "a", false)

	// Parameters: one non-empty segment.
	f("/c/{id}", "/c/42", true)
	f("/c/{id}", "/c/", false)
	f("/c/{id}", "/c", false)
	f("/c/{id}", "/c/42/", false)
	f("/c/{id}", "/c/42/x", false)
	f("/{a}/{b}", "/x/y", true)
	f("/{a}/{b}", "/x/", false)
	f("/{a}/x/{b}", "/1/x/2", true)
	f("/{a}/x/{b}", "/1/y/2", false)

	// * and {name...}: at least the '/' after the prefix.
	f("/s/*", "/s/", true)
	f("/s/*", "/s/a", true)
	f("/s/*", "/s/a/b/c", true)
	f("/s/*", "/s", false)
	f("/s/*", "/sx", false)
	f("/s/*", "/sx/a", false)
	f("/s/{rest...}", "/s/a/b", true)
	f("/s/{rest...}", "/s", false)
	f("/*", "/", true)
	f("/*", "/anything/at/all", true)

	// **: the bare prefix too.
	f("/api/**", "/api", true)
	f("/api/**", "/api/", true)
	f("/api/**", "/api/v1/x", true)
	f("/api/**", "/apix", false)
	f("/api/**", "/ap", false)
	f("/api/**", "/", false)
	f("/**", "/", true)
	f("/**", "/x/y", true)
	f("/**", "", false)
	f("/t/{tenant}/**", "/t/acme", true)
	f("/t/{tenant}/**", "/t/acme/x", true)
	f("/t/{tenant}/**", "/t/", false)
	f("/t/{tenant}/**", "/t", false)
}

func TestPatternCapture(t *testing.T) {
	f := func(pat, param, path, want string, ok bool) {
		t.Helper()
		p, err := compilePattern(pat)
		if err != nil {
			t.Fatal(err)
		}
		v, got := p.match([]byte(path), p.param(param))
		if got != ok || string(v) != want {
			t.Errorf("%q %s on %q: got %q %v, want %q %v", pat, param, path, v, got, want, ok)
		}
	}
	f("/t/{tenant}/**", "tenant", "/t/acme/x", "acme", true)
	f("/t/{tenant}/{id}", "id", "/t/acme/7", "7", true)
	f("/t/{tenant}/{id}", "tenant", "/t/acme/7", "acme", true)
	f("/t/{tenant}/{id}", "nope", "/t/acme/7", "", true)
	f("/t/{tenant}/{id}", "tenant", "/u/acme/7", "", false)
}

func TestPatternParamIndex(t *testing.T) {
	p, err := compilePattern("/a/{x}/b/{y}/{rest...}")
	if err != nil {
		t.Fatal(err)
	}
	if p.param("x") != 1 || p.param("y") != 3 || p.param("rest") != -1 || p.param("a") != -1 {
		t.Errorf("param indices: x=%d y=%d rest=%d a=%d", p.param("x"), p.param("y"), p.param("rest"), p.param("a"))
	}
}

// refMatch is a slow, independent reading of the pattern syntax, the
// oracle of FuzzMatch: split both on '/', then compare segment lists.
func refMatch(pat, path string) bool {
	if !strings.HasPrefix(path, "/") {
		return false
	}
	ps := strings.Split(pat[1:], "/")
	xs := strings.Split(path[1:], "/")
	last := ps[len(ps)-1]
	fixed := ps
	minRest, anyRest := 0, false
	switch {
	case last == "**":
		fixed, anyRest = ps[:len(ps)-1], true
	case last == "*" || strings.HasPrefix(last, "{") && strings.HasSuffix(last, "...}"):
		fixed, anyRest, minRest = ps[:len(ps)-1], true, 1
	}
	if len(xs) < len(fixed)+minRest || !anyRest && len(xs) != len(fixed) {
		return false
	}
	for i, s := range fixed {
		if strings.HasPrefix(s, "{") {
			if xs[i] == "" {
				return false
			}
		} else if xs[i] != s {
			return false
		}
	}
	return true
}
