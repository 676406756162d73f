//go:build !race

package router

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestZeroAllocs gates the hot path: Normalize into a buffer with room,
// Lookup (found, 404, 405, custom method, host-specific) and Allow.
func TestZeroAllocs(t *testing.T) {
	rs := append(apiRoutes(), Route{ID: 99, Pattern: "/dav/{x}", Methods: []string{"PROPFIND", "MKCOL"}})
	r := mustNew(t, rs)
	buf := make([]byte, 0, MaxPathLen)
	var ps filters.Params
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Fatalf("%s: %v allocs per run, want 0", name, n)
		}
	}
	for _, p := range attackPaths {
		raw := []byte(p)
		f("Normalize "+p, func() { buf, _ = Normalize(buf[:0], raw) })
	}
	lookups := []struct{ host, method, path string }{
		{"api.example.com", "GET", "/api/v1/customers/42/orders/9/lines/3"},
		{"api.example.com:443", "DELETE", "/api/v1/tickets/42"},
		{"api.example.com", "GET", "/api/v1/nothing/here"},
		{"api.example.com", "POST", "/api/v1/customers/42"},
		{"ADMIN.example.com:8443", "GET", "/api/v1/customers/42"},
		{"admin.example.com", "PUT", "/x/y/z"},
		{"", "PROPFIND", "/dav/a"},
		{"", "BREW", "/dav/a"},
		{"", "GET", "/files/a/b/c"},
		{"[::1]:80", "GET", "/static/a.css"},
	}
	for _, l := range lookups {
		host, method, path := []byte(l.host), []byte(l.method), []byte(l.path)
		f("Lookup "+l.method+" "+l.path, func() { r.Lookup(host, method, path, &ps) })
		f("Allow "+l.path, func() { r.Allow(host, path) })
	}
}
