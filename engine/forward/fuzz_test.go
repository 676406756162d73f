package forward

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine"
)

// FuzzSplitTarget: a split target's path and query are sub-slices of the
// input, the path starts with '/', and nothing with a fragment passes.
func FuzzSplitTarget(f *testing.F) {
	for _, s := range []string{"/", "/a?b", "http://h/p?q", "https://h", "http://h?q", "*", "/a#b", "HTTP://H/x", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, target []byte) {
		path, query, ok := SplitTarget(target)
		if !ok {
			return
		}
		if len(path) == 0 || path[0] != '/' {
			t.Fatalf("path %q does not start with '/'", path)
		}
		if bytes.IndexByte(target, '#') >= 0 {
			t.Fatalf("target with a fragment accepted: %q", target)
		}
		if bytes.IndexByte(path, '?') >= 0 {
			t.Fatalf("path %q holds the query", path)
		}
		if len(query) > 0 && !bytes.Contains(target, query) {
			t.Fatalf("query %q is not part of %q", query, target)
		}
	})
}

// FuzzClientIP: whatever X-Forwarded-For says, the client is the peer or
// an address the header named, and never a trusted proxy unless every hop
// was trusted.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"", "203.0.113.9", "1.2.3.4, 10.0.0.7", "garbage", "::1, 10.1.1.1", " , ,", "10.0.0.1,10.0.0.2"} {
		f.Add([]byte(s))
	}
	l := &engine.Listener{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	peer := netip.MustParseAddr("10.9.9.9")
	f.Fuzz(func(t *testing.T, xff []byte) {
		got := ClientIP(xff, peer, l)
		if got == peer {
			return
		}
		for rest := xff; len(rest) > 0; {
			var part []byte
			part, rest = NextToken(rest)
			if a, err := netip.ParseAddr(string(part)); err == nil && a.Unmap() == got {
				return
			}
		}
		t.Fatalf("client %s is neither the peer nor an address named in %q", got, xff)
	})
}
