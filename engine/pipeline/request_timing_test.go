package pipeline

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// identityNames are an API key's and a token filter's forwarded headers
// on one route, one of them under a custom name.
var identityNames = []string{"X-Auth-Subject", "X-Auth-Roles", "X-Auth-Tenant", "X-Key-Tenant"}

// BenchmarkStripIdentity is what Begin adds to a request on a route with
// authentication filters: "clean" deletes nothing from a head that
// carries none of the identity headers (the common case); "forged"
// parses a head that forges two of them and deletes them, beside
// "forged-parse-only", the same parse without the deletion.
func BenchmarkStripIdentity(b *testing.B) {
	clean := []byte("GET /api/v1/orders HTTP/1.1\r\nHost: api.example\r\nUser-Agent: wrk\r\nAccept: */*\r\nAuthorization: Bearer t\r\n\r\n")
	forged := []byte("GET /api/v1/orders HTTP/1.1\r\nHost: api.example\r\nUser-Agent: wrk\r\nAccept: */*\r\nX-Auth-Subject: root\r\nX-Key-Tenant: acme\r\n\r\n")
	var src bytes.Reader
	br := bufio.NewReader(&src)
	parse := func(b *testing.B, h *fasthttp.RequestHeader, head []byte) {
		h.Reset()
		src.Reset(head)
		br.Reset(&src)
		if err := h.Read(br); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("clean", func(b *testing.B) {
		var h fasthttp.RequestHeader
		parse(b, &h, clean)
		b.ReportAllocs()
		for b.Loop() {
			strip(&h, identityNames)
		}
	})
	b.Run("forged", func(b *testing.B) {
		var h fasthttp.RequestHeader
		b.ReportAllocs()
		for b.Loop() {
			parse(b, &h, forged)
			strip(&h, identityNames)
		}
	})
	b.Run("forged-parse-only", func(b *testing.B) {
		var h fasthttp.RequestHeader
		b.ReportAllocs()
		for b.Loop() {
			parse(b, &h, forged)
		}
	})
}

// TestStripIdentity: every field of every named header goes, whatever
// the case the client wrote it in; the rest of the head stays.
func TestStripIdentity(t *testing.T) {
	f := func(head string, gone []string, kept map[string]string) {
		t.Helper()
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader([]byte(head)))); err != nil {
			t.Fatal(err)
		}
		strip(&h, identityNames)
		for _, n := range gone {
			if v := h.Peek(n); v != nil {
				t.Errorf("%s survived as %q", n, v)
			}
		}
		for n, want := range kept {
			if got := string(h.Peek(n)); got != want {
				t.Errorf("%s = %q, want %q", n, got, want)
			}
		}
	}
	f("GET / HTTP/1.1\r\nHost: a\r\nX-Auth-Subject: root\r\nx-auth-subject: root2\r\nX-AUTH-ROLES: admin\r\nX-Key-Tenant: acme\r\nX-Other: 1\r\n\r\n",
		identityNames, map[string]string{"X-Other": "1", "Host": "a"})
	f("GET / HTTP/1.1\r\nHost: a\r\nX-Auth-Subjects: kept\r\n\r\n", identityNames, map[string]string{"X-Auth-Subjects": "kept"})
}
