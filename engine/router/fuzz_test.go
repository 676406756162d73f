package router

import (
	"bytes"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// FuzzNormalize checks that Normalize never panics, is idempotent, keeps
// its output invariants and leaves the caller's prefix alone.
func FuzzNormalize(f *testing.F) {
	for _, p := range attackPaths {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkNormalizeProperties(t, raw)
		prefix := []byte("keep")
		out, err := Normalize(prefix, raw)
		if !bytes.HasPrefix(out, []byte("keep")) || err != nil && len(out) != len(prefix) {
			t.Fatalf("Normalize(%q, %q) = %q, %v: prefix not kept", prefix, raw, out, err)
		}
	})
}

// fuzzRoutes is the fixed route set FuzzRouter looks up.
func fuzzRoutes() []Route {
	return append(apiRoutes(),
		Route{ID: 100, Pattern: "/a/{x}/c"},
		Route{ID: 101, Pattern: "/a/b/d", Methods: []string{"GET"}},
		Route{ID: 102, Pattern: "/a/b/", Methods: []string{"POST"}},
		Route{ID: 103, Pattern: "/a/{x}/{y...}", Methods: []string{"PUT"}},
		Route{ID: 104, Pattern: "/a/*", Methods: []string{"X1"}},
		Route{ID: 105, Pattern: "/a/b/d", Host: "h", Methods: []string{"POST"}},
		Route{ID: 106, Pattern: "/%E2%82%AC/{p}", Host: "[::1]"},
		Route{ID: 107, Pattern: "/d/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h...}", Methods: []string{"MKCOL"}},
	)
}

// FuzzRouter normalizes a raw path and looks it up in a fixed route set.
// Lookups must never panic, parameters must be subslices of the path, and
// the outcome must agree with the brute-force reference.
func FuzzRouter(f *testing.F) {
	for _, br := range benchRequests {
		f.Add([]byte(br.host), []byte(br.method), []byte(br.path))
	}
	rs := fuzzRoutes()
	r := mustNew(f, rs)
	ref := newRef(f, rs)
	f.Fuzz(func(t *testing.T, host, method, raw []byte) {
		// Raw, possibly unnormalized input must not panic either.
		var ps filters.Params
		r.Lookup(host, method, raw, &ps)
		for i := 0; i < ps.Len(); i++ {
			if _, v := ps.At(i); len(v) > 0 && !isSubslice(v, raw) {
				t.Fatalf("param %q is not a subslice of %q", v, raw)
			}
		}
		r.Allow(host, raw)
		path, err := Normalize(nil, raw)
		if err != nil {
			return
		}
		checkNormalizeProperties(t, path)
		compareWithRef(t, r, ref, host, method, path)
	})
}
