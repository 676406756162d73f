package rbac

import (
	"testing"
)

// FuzzMatch checks the compiled matcher against refMatch, an independent
// split-based reading of the same syntax, on any pattern that compiles and
// any path.
func FuzzMatch(f *testing.F) {
	seeds := [][2]string{
		{"/api/v1/**", "/api/v1"},
		{"/api/v1/**", "/api/v1x"},
		{"/s/*", "/s"},
		{"/s/*", "/s/"},
		{"/c/{id}", "/c/"},
		{"/c/{id}/x", "/c//x"},
		{"/", "/"},
		{"/a/", "/a"},
		{"/**", ""},
		{"/{a}/{b...}", "/x/"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, path string) {
		p, err := compilePattern(pat)
		if err != nil {
			return
		}
		_, got := p.match([]byte(path), -1)
		if want := refMatch(pat, path); got != want {
			t.Fatalf("pattern %q, path %q: matcher says %v, reference %v", pat, path, got, want)
		}
		for i := range p.segs {
			v, ok := p.match([]byte(path), i)
			if ok != got {
				t.Fatalf("capture %d changed the verdict", i)
			}
			if ok && p.segs[i].param && len(v) == 0 {
				t.Fatalf("empty capture for parameter %d", i)
			}
		}
	})
}
