package lint

import "testing"

func TestPatternCovers(t *testing.T) {
	f := func(p, q string, want bool) {
		t.Helper()
		if got := patternCovers(p, q); got != want {
			t.Errorf("patternCovers(%q, %q) = %v, want %v", p, q, got, want)
		}
	}
	f("/**", "/", true)
	f("/**", "/a/{b}/**", true)
	f("/a/**", "/a", true)
	f("/a/**", "/a/b/c", true)
	f("/a/**", "/ab", false)
	f("/a/**", "/b/**", false)
	f("/a/*", "/a", false)
	f("/a/*", "/a/b", true)
	f("/a/*", "/a/**", false)
	f("/a/*", "/a/b/**", true)
	f("/a/{rest...}", "/a/{x}/c", true)
	f("/a/{id}", "/a/7", true)
	f("/a/{id}", "/a/{x}", true)
	f("/a/{id}", "/a/", false)
	f("/a/{id}", "/a/*", false)
	f("/a/{id}", "/a/7/b", false)
	f("/a/7", "/a/{id}", false)
	f("/a", "/a/", false)
	f("/a/", "/a/", true)
}

func TestMethodsCover(t *testing.T) {
	f := func(a, b []string, want bool) {
		t.Helper()
		if got := methodsCover(a, b); got != want {
			t.Errorf("methodsCover(%q, %q) = %v, want %v", a, b, got, want)
		}
	}
	f([]string{"*"}, []string{"DELETE"}, true)
	f([]string{"GET", "HEAD"}, []string{"*"}, false)
	f([]string{"GET", "HEAD", "POST"}, []string{"GET", "HEAD"}, true)
	f([]string{"GET", "HEAD"}, []string{"POST"}, false)
}
