package forward

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
)

func TestSplitTarget(t *testing.T) {
	f := func(target, path, query string, ok bool) {
		t.Helper()
		p, q, gotOK := SplitTarget([]byte(target))
		if gotOK != ok || string(p) != path || string(q) != query {
			t.Errorf("SplitTarget(%q) = %q, %q, %v; want %q, %q, %v", target, p, q, gotOK, path, query, ok)
		}
	}
	f("/a/b?x=1", "/a/b", "x=1", true)
	f("/a", "/a", "", true)
	f("http://h.test/a?b", "/a", "b", true)
	f("HTTPS://h.test", "/", "", true)
	f("http://h.test?q", "/", "q", true)
	f("/a#frag", "", "", false)
	f("*", "", "", false)
	f("ftp://h/a", "", "", false)
	f("", "", "", false)
}

func TestClientIP(t *testing.T) {
	l := &engine.Listener{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	peer := netip.MustParseAddr("10.0.0.1")
	f := func(xff, want string) {
		t.Helper()
		if got := ClientIP([]byte(xff), peer, l); got.String() != want {
			t.Errorf("ClientIP(%q) = %s, want %s", xff, got, want)
		}
	}
	f("", "10.0.0.1")
	f("203.0.113.9", "203.0.113.9")
	f("198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9") // rightmost untrusted
	f("garbage, 10.0.0.7", "10.0.0.7")                      // garbage stops the walk
	f("10.0.0.9, 10.0.0.7", "10.0.0.9")                     // all trusted: leftmost
	f("::ffff:203.0.113.9", "203.0.113.9")
}

func TestValidRequestID(t *testing.T) {
	f := func(id string, ok bool) {
		t.Helper()
		if ValidRequestID([]byte(id)) != ok {
			t.Errorf("ValidRequestID(%q) != %v", id, ok)
		}
	}
	f("edge-123", true)
	f("", false)
	f("has space", false)
	f(`quote"`, false)
	f("back\\slash", false)
	f(string(make([]byte, 129)), false)
	f("é", false)
}

func TestRemoveHopByHop(t *testing.T) {
	var h fasthttp.RequestHeader
	h.Set("Connection", "keep-alive, X-Secret, close")
	h.Set("X-Secret", "1")
	h.Set("Keep-Alive", "timeout=5")
	h.Set("Te", "trailers")
	h.Set("Upgrade", "websocket")
	h.Set("Proxy-Authorization", "Basic x")
	h.Set("X-Kept", "1")
	h.Set("x-original-url", "/admin")
	RemoveHopByHop(&h, nil, []string{"Expect", "X-Original-URL", "X-Absent"})
	for _, gone := range []string{"Connection", "X-Secret", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "X-Original-Url"} {
		if v := h.Peek(gone); len(v) > 0 {
			t.Errorf("%s survived: %q", gone, v)
		}
	}
	if string(h.Peek("X-Kept")) != "1" {
		t.Error("end-to-end header removed")
	}
	// A head with none of them is scanned once and left alone, without
	// allocating.
	h.Reset()
	h.Set("Host", "x")
	h.Set("User-Agent", "wrk")
	var scratch []byte
	if n := testing.AllocsPerRun(100, func() { scratch = RemoveHopByHop(&h, scratch, []string{"Expect"}) }); n != 0 {
		t.Fatalf("RemoveHopByHop allocates %v times", n)
	}
	if string(h.Peek("User-Agent")) != "wrk" {
		t.Error("end-to-end header removed")
	}
}

func TestHasContentLengthAndTokens(t *testing.T) {
	if !HasContentLength([]byte("Host: x\r\ncontent-LENGTH: 3\r\n")) || HasContentLength([]byte("Host: x\r\nX-Content-Length: 3\r\n")) {
		t.Error("HasContentLength")
	}
	if !HasToken([]byte("gzip, Chunked"), []byte("chunked")) || HasToken([]byte("xchunked"), []byte("chunked")) {
		t.Error("HasToken")
	}
}

func TestRequestIDs(t *testing.T) {
	g, err := NewRequestIDs()
	if err != nil {
		t.Fatal(err)
	}
	a := string(g.Set(nil, nil))
	b := string(g.Set([]byte("old value"), []byte("has space"))) // invalid: a new id instead
	prefix, _, _ := strings.Cut(a, "-")
	if len(prefix) != 16 || a == b || !strings.HasPrefix(b, prefix+"-") {
		t.Fatalf("generated ids %q, %q", a, b)
	}
	if got := string(g.Set([]byte("old value"), []byte("edge-123"))); got != "edge-123" {
		t.Fatalf("presented id: %q", got)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = g.Set(buf, nil) }); n != 0 {
		t.Fatalf("Set allocates %v times", n)
	}
}

func TestCountField(t *testing.T) {
	raw := []byte("Host: x\r\nAuthorization: Bearer a\r\nX-Api-Key: k1\r\nauthorization: Bearer b\r\nX-Api-Key-Hint: h\r\n\r\n")
	for name, want := range map[string]int{"Authorization": 2, "X-Api-Key": 1, "Host": 1, "Cookie": 0} {
		if got := CountField(raw, name); got != want {
			t.Errorf("CountField(%s) = %d, want %d", name, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CountField(raw, "Authorization") }); n != 0 {
		t.Fatalf("CountField allocates %v times", n)
	}
}
